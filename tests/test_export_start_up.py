"""What keeps `python -m rating.export` quick to start (bench/bench_export.py times it end to end):
the database check reads the known schema revisions without importing Alembic."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from db import engine as db_engine

ROOT = Path(__file__).resolve().parent.parent


def test_revision_ids_read_as_text_equal_alembics_graph():
    assert db_engine.known_revision_ids() == db_engine.known_revisions()
    assert db_engine.head_revision() in db_engine.known_revision_ids()


def test_checking_a_study_database_does_not_import_alembic(tmp_path):
    db = tmp_path / "study.db"
    db_engine.prepare_database(str(db))  # a real database at the newest revision (alembic_version set)
    code = ("import sys; from db.engine import check_database; check_database(sys.argv[1], write=False); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    proc = subprocess.run([sys.executable, "-c", code, str(db)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
