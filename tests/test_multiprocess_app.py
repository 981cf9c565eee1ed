"""Two `python app.py --rating-only` processes on one PostgreSQL database (two sites), 40 raters
split across them through gradio_client; one process is SIGKILLed mid-load. No acknowledged rating
is lost or duplicated, and the killed process's raters resume on the other one where they were."""
from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Assignment, Rater, Rating
from tests.support.rating_support import AppServer, client, make_study, submit_args, view_position

pytestmark = pytest.mark.slow
N_RATERS = 40
N_CASES = 4
N_CANDIDATES = 3  # two systems and the reference


def _stored(url: str) -> Counter:
    factory = make_session_factory(prepare_database(url))
    with unit_of_work(factory) as s:
        rows = s.execute(select(Rater.name, Assignment.position, Rating.output_id)
                         .join(Rating, Rating.rater_id == Rater.id)
                         .join(Assignment, Assignment.id == Rating.assignment_id)).all()
    factory.kw["bind"].dispose()
    assert set(Counter(rows).values()) <= {1}, "a rating was stored twice"
    return Counter((name, pos) for name, pos, _ in rows)


def test_two_app_processes_on_postgresql_one_killed_mid_load_loses_nothing_and_raters_move_over(postgres, tmp_path):
    url = postgres.new_database("two_sites")
    created = make_study(url, n_raters=N_RATERS, n_cases=N_CASES, n_calibration=0, n_repeats=0, name="two sites")
    site_a, site_b = (AppServer(url, log_path=tmp_path / f"site-{s}.log") for s in "ab")
    with ThreadPoolExecutor(2) as pool:  # both sites share the database and the admin secret
        list(pool.map(lambda server: server.start(), (site_a, site_b)))
    names = list(created.rater_tokens)
    home = {name: (site_a if i < N_RATERS // 2 else site_b) for i, name in enumerate(names)}
    acked: dict[str, list[int]] = {name: [] for name in names}
    moved: dict[str, tuple[int, int]] = {}  # rater -> (acknowledged before the move, position resumed at)
    errors: list[str] = []
    lock = threading.Lock()

    def rater(name: str) -> None:
        token, server = created.rater_tokens[name], home[name]
        try:
            c = client(server.rater_url)
            position = view_position(c.predict(token, api_name="/sign_in"))
        except Exception as exc:  # noqa: BLE001 - the kill came before this rater signed in
            c, position = None, 0
            first_error = exc
        while position < N_CASES:
            try:
                if c is None:
                    raise first_error
                c.predict(*submit_args(token, position, N_CANDIDATES, score=2 + position % 3), api_name="/submit")
            except Exception as exc:  # noqa: BLE001 - not acknowledged
                if server is site_b or name in moved:
                    with lock:
                        errors.append(f"{name} at {position}: {exc!r}")
                    return
                server = site_b  # the site went down: the rater opens their link on the other site
                c = client(server.rater_url)
                position = view_position(c.predict(token, api_name="/sign_in"))
                with lock:
                    moved[name] = (len(acked[name]), position)
                continue
            with lock:
                acked[name].append(position)
            position += 1

    threads = [threading.Thread(target=rater, args=(name,), daemon=True) for name in names]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 240
        while sum(map(len, acked.values())) < N_RATERS and time.monotonic() < deadline:
            time.sleep(0.02)
        site_a.kill()  # SIGKILL mid-load: no shutdown handler runs
        for t in threads:
            t.join(300)
        assert not any(t.is_alive() for t in threads), "a rater hung"
        assert not errors, errors
        assert len(moved) >= 5, f"only {len(moved)} raters were still working on the killed site"
        stored = _stored(url)
        for name, positions in acked.items():
            for pos in positions:
                assert stored[(name, pos)] == N_CANDIDATES, f"acknowledged rating of {name} at {pos} lost"
        for name, (n_acked, resumed) in moved.items():
            # they resume where they were: after their last acknowledged case (or the one in flight, if it committed)
            assert resumed in (n_acked, n_acked + 1), (name, n_acked, resumed)
        assert all(stored[(name, pos)] == N_CANDIDATES for name in names for pos in range(N_CASES))
        assert sum(stored.values()) == N_RATERS * N_CASES * N_CANDIDATES
        assert site_b.app.proc.poll() is None
    finally:
        site_a.stop()
        site_b.stop()
