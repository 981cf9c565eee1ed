"""The real app as a subprocess on 127.0.0.1, driven by gradio_client at /rate/: concurrency,
SIGKILL durability (on SQLite and on PostgreSQL) and blinding. One server per module (plus a
separate one for each kill)."""
from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter

import pytest
from gradio_client.exceptions import AppError
from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Assignment, Rater, Rating
from tests.support.rating_support import (SECRET_KINDS, SECRET_SYSTEMS, AppServer, client, make_study, submit_args,
                                  view_position, visible_candidates)

pytestmark = pytest.mark.slow
N_RATERS = 20
FORBIDDEN = (*SECRET_SYSTEMS, *SECRET_KINDS)


@pytest.fixture(scope="module")
def served_study(tmp_path_factory):
    db = tmp_path_factory.mktemp("rating_server") / "study.db"
    created = make_study(db, n_raters=N_RATERS, n_cases=4, n_calibration=1, n_repeats=1)
    server = AppServer(db).start()
    yield created, server, db
    server.stop()


def _n_candidates(view) -> int:
    """Candidates shown in a sign-in response."""
    return visible_candidates(view)


def _ratings(db):
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        rows = s.execute(select(Rater.name, Assignment.position, Rating.output_id, Rating.coherence)
                         .join(Rating, Rating.rater_id == Rater.id)
                         .join(Assignment, Assignment.id == Rating.assignment_id)).all()
        last = dict(s.execute(select(Rater.name, Rater.last_position)).all())
    factory.kw["bind"].dispose()
    return rows, last


def test_concurrency_twenty_raters_submit_at_once_each_rating_stored_exactly_once(served_study):
    created, server, db = served_study
    tokens = list(created.rater_tokens.items())
    clients = {name: client(server.rater_url) for name, _ in tokens}
    n_cand = {name: _n_candidates(clients[name].predict(tok, api_name="/sign_in")) for name, tok in tokens}
    barrier = threading.Barrier(len(tokens))
    acked: list[tuple[str, int]] = []
    errors: list[str] = []

    def rater(name, token):
        barrier.wait()
        for position in (0, 0, 1):  # position 0 twice: a resubmission must update, not duplicate
            try:
                clients[name].predict(*submit_args(token, position, n_cand[name], score=2 + position),
                                      api_name="/submit")
                acked.append((name, position))
            except Exception as exc:  # noqa: BLE001 - recorded, asserted below
                errors.append(f"{name}: {exc}")

    threads = [threading.Thread(target=rater, args=t) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    rows, _ = _ratings(db)
    per_output = Counter((name, pos, oid) for name, pos, oid, _ in rows)
    assert set(per_output.values()) == {1}, "a rating was stored twice"
    stored = Counter((name, pos) for name, pos, _, _ in rows)
    for name, position in set(acked):
        assert stored[(name, position)] == n_cand[name]
    assert len(rows) == sum(n_cand[name] for name, _ in set(acked))


def test_blinding_no_endpoint_page_or_config_reveals_a_system(served_study):
    created, server, _ = served_study
    token = created.rater_tokens["Dr 05"]
    c = client(server.rater_url)
    api = c.view_api(return_format="dict", print_info=False)
    endpoints = list(api["named_endpoints"])
    assert set(endpoints) >= {"/sign_in", "/submit", "/previous_case", "/next_case"}
    assert not api.get("unnamed_endpoints")
    n_cand = _n_candidates(c.predict(token, api_name="/sign_in"))
    responses = []
    for endpoint in endpoints:
        n_params = len(api["named_endpoints"][endpoint]["parameters"])
        if endpoint == "/submit":
            good = submit_args(token, 0, n_cand)
        else:
            good = [token, 1][:n_params]
        responses.append(repr(c.predict(*good, api_name=endpoint)))
        for bad_token in ("", "wrong-token", created.rater_tokens["Dr 06"][:-2]):
            with pytest.raises(AppError, match="access code"):
                c.predict(*([bad_token] + good[1:]), api_name=endpoint)
    pages = [urllib.request.urlopen(server.rater_url + path, timeout=10).read().decode()
             for path in ("", "config", "gradio_api/info", f"?token={token}")]
    for text in responses + pages:
        for secret in FORBIDDEN:
            assert secret not in text
    assert all("Impression" in r or "Right lower" in r or "No acute" in r for r in responses)


def test_kill_sigkill_during_submissions_loses_no_acknowledged_rating_and_raters_resume(db_url, tmp_path):
    db = db_url  # a SQLite file or a PostgreSQL database
    created = make_study(db, n_raters=6, n_cases=12, n_calibration=0, n_repeats=0, name="kill")
    server = AppServer(db, log_path=tmp_path / "kill.log").start()
    acked: dict[str, list[int]] = {name: [] for name in created.rater_tokens}
    stop = threading.Event()

    def rater(name, token):
        c = client(server.rater_url)
        n_cand = _n_candidates(c.predict(token, api_name="/sign_in"))
        for position in range(12):
            if stop.is_set():
                return
            try:
                c.predict(*submit_args(token, position, n_cand), api_name="/submit")
            except Exception:  # noqa: BLE001 - the server died under us: not acknowledged
                return
            acked[name].append(position)

    try:
        threads = [threading.Thread(target=rater, args=t, daemon=True) for t in created.rater_tokens.items()]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while sum(map(len, acked.values())) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        stop.set()
        for t in threads:
            t.join(30)
        assert sum(map(len, acked.values())) >= 12, "too few submissions before the kill"
        rows, last = _ratings(db)
        stored = Counter((name, pos) for name, pos, _, _ in rows)
        for name, positions in acked.items():
            for pos in positions:
                assert stored[(name, pos)] == 3, f"acknowledged rating of {name} at {pos} lost"
        server.start()
        c = client(server.rater_url)
        for name, token in created.rater_tokens.items():
            resumed = view_position(c.predict(token, api_name="/sign_in"))
            done = sum(1 for (n, _), k in stored.items() if n == name and k == 3)
            assert resumed == last[name] == done >= len(acked[name])
    finally:
        server.stop()
