"""Second red team, rater sessions (service level, a real SQLite file).

1. A leaked link could not be cut off: `reissue` replaced the token hash but kept the sessions opened
   with the old token; `revoke` then `reissue` brought a revoked session back to life.
2. One rater could open 200 sessions in 1.5 s (no cap).
3. Time on task took whatever the page claimed: 10,800 s for 2 s of work.
4. Drafts took NUL and ESC characters that submit refuses.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.engine import unit_of_work
from db.models import CRITERIA, Rating
from rating.service import (
    MAX_SESSIONS_PER_RATER,
    AccessDenied,
    RatingError,
    RatingService,
    SessionKey,
)
from rating.study_setup import reissue_token, revoke_rater
from tests.security.study_kit import study_with_texts


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def kit(tmp_path):
    factory, tokens = study_with_texts(tmp_path / "s.db", {"a": ["One.", "Two."], "b": ["Uno.", "Dos."]})
    name, token = next(iter(tokens.items()))
    clock = Clock()
    return factory, name, token, RatingService(factory, clock=clock), clock


def _forms(view, score: int = 1) -> list[dict]:
    return [{"label": c.label, **{k: score for k in CRITERIA}} for c in view.candidates]


def test_reissue_ends_the_session_opened_with_the_old_link(kit):
    factory, name, token, service, _ = kit
    leaked, _, _ = service.start_session(token)  # the attacker opened the leaked link
    view = service.resume(leaked)
    with unit_of_work(factory) as session:
        new_token = reissue_token(session, 1, name)
    with pytest.raises(AccessDenied):
        service.submit(leaked, view.position, _forms(view))
    with pytest.raises(AccessDenied):
        service.save_draft(leaked, view.position, {})
    own, _, _ = service.start_session(new_token)  # the real rater's new link works
    assert service.submit(own, view.position, _forms(view, 4)).message.startswith("Saved")


def test_revoke_then_reissue_does_not_revive_the_old_session(kit):
    factory, name, token, service, _ = kit
    leaked, _, _ = service.start_session(token)
    view = service.resume(leaked)
    with unit_of_work(factory) as session:
        revoke_rater(session, 1, name)
    with unit_of_work(factory) as session:
        new_token = reissue_token(session, 1, name)
    with pytest.raises(AccessDenied):
        service.submit(leaked, view.position, _forms(view))
    with unit_of_work(factory) as session:
        assert session.scalars(select(Rating)).all() == []  # nothing saved under the rater's name
    assert service.resume(SessionKey(service.start_session(new_token)[0])).position == 0


def test_sessions_per_rater_are_capped_oldest_ends_first(kit):
    _, _, token, service, clock = kit
    keys = []
    for _ in range(MAX_SESSIONS_PER_RATER + 5):
        clock.now += timedelta(seconds=1)
        keys.append(service.start_session(token)[0])
    for old in keys[:5]:
        with pytest.raises(AccessDenied):
            service.resume(old)
    for newer in keys[5:]:
        assert service.resume(newer).total == 2


def test_time_on_task_is_bounded_by_the_server_clock(kit):
    factory, _, token, service, clock = kit
    key = service.start_session(token)[0]
    view = service.resume(key)  # the case opens now
    clock.now += timedelta(seconds=2)
    service.submit(key, view.position, _forms(view), active_ms=10_800_000)  # claims 3 hours
    with unit_of_work(factory) as session:
        times = session.scalars(select(Rating.time_on_task_s)).all()
    assert times and max(times) <= 2.0


def test_time_on_task_through_drafts_and_moves_is_bounded_too(kit):
    factory, _, token, service, clock = kit
    key = service.start_session(token)[0]
    view = service.resume(key)
    clock.now += timedelta(seconds=3)
    for _ in range(20):  # 20 reports of 30 minutes each (the per-report cap) within 3 s
        service.save_draft(key, view.position, None, active_ms=30 * 60 * 1000)
    service.open_case(key, view.position + 1, active_ms=30 * 60 * 1000, from_position=view.position)
    view = service.open_case(key, view.position)
    service.submit(key, view.position, _forms(view))
    with unit_of_work(factory) as session:
        assert max(session.scalars(select(Rating.time_on_task_s)).all()) <= 3.0


@pytest.mark.parametrize("bad", ["\x00", "note \x1b[31m red"])
def test_drafts_refuse_the_characters_submit_refuses(kit, bad):
    _, _, token, service, _ = kit
    key = service.start_session(token)[0]
    view = service.resume(key)
    forms = [{**f, "comment": bad} for f in _forms(view)]
    with pytest.raises(RatingError, match="not allowed"):
        service.submit(key, view.position, forms)
    label = view.candidates[0].label
    with pytest.raises(RatingError, match="not allowed"):
        service.save_draft(key, view.position, {label: {"comment": bad}})
    assert service.resume(key).draft is None
