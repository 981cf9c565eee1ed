"""A nearly full disk (issue 22): with less free space than one WAL (about 4 MB), the WAL no longer fills the
disk (a passive checkpoint after each commit); when the disk is full after all, freeing space is enough (the WAL
is checkpointed and truncated after a disk-full error), and no acknowledged rating is lost.

Needs a small filesystem: a 4 MiB tmpfs mounted for the test (root only; skipped otherwise)."""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from db.engine import DatabaseUnavailable, make_session_factory, prepare_database
from db.models import CRITERIA
from rating.service import RatingService
from tests.support.rating_support import make_study


@pytest.fixture
def small_disk(tmp_path):
    mount = Path("/tmp") / f"radllama-full-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)  # lazy: a failed test may hold the file open
        mount.rmdir()


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _form(view, score: int, comment: str):
    return [{"label": c.label, **{k: score for k in CRITERIA}, "comment": comment} for c in view.candidates]


def test_with_less_than_a_wal_free_submits_go_on_and_freeing_space_is_enough(small_disk):
    db = small_disk / "study.db"
    created = make_study(db, n_raters=3, n_cases=6, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    tokens = list(created.rater_tokens.values())
    (small_disk / "filler").write_bytes(b"x" * (_free(small_disk) - 400_000))  # < 4 MB free: less than one WAL
    acknowledged: dict[tuple[str, int], int] = {}

    def submit(i: int, comment: str) -> bool:
        token, position, score = tokens[i % 3], i % 6, 1 + i % 5
        try:
            svc.submit(token, position, _form(svc.open_case(token, position), score, comment))
        except DatabaseUnavailable as exc:
            assert "disk is full" in str(exc)
            return False
        acknowledged[(token, position)] = score
        return True

    results = [submit(i, f"note {i}") for i in range(200)]  # edits: little real data, many WAL pages
    # Before issue 22 the WAL filled the 400 KB after a few submits and every later one failed until a restart.
    assert results.count(True) >= 190, f"{results.count(False)} of 200 submits failed with less than 4 MB free"
    # The disk fills up completely (something else writes): submits fail, nothing false is acknowledged ...
    (small_disk / "filler2").write_bytes(b"y" * _free(small_disk))
    full = [submit(i, f"full {i} " + "z" * 1500) for i in range(200, 400)]  # new pages: more space needed
    assert False in full, "the disk never filled up"
    n_before = len(acknowledged)
    # ... and freeing space is enough: no restart
    (small_disk / "filler2").unlink()
    assert [submit(i, "freed") for i in range(206, 246)].count(True) == 40
    assert len(acknowledged) >= n_before
    factory.kw["bind"].dispose()
    (small_disk / "filler").unlink()
    fresh = make_session_factory(prepare_database(str(db)))  # a restart: every acknowledged score is in the file
    try:
        check = RatingService(fresh)
        for (token, position), score in acknowledged.items():
            view = check.open_case(token, position)
            assert all(c.scores.get(CRITERIA[0]) == score for c in view.candidates), (position, score)
    finally:
        fresh.kw["bind"].dispose()
