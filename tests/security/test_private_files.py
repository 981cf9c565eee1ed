"""Attack: read the study from the file system as another local user. Before the fix the database
was created 0644 and analysis exports sat world-readable in the system temp folder, never deleted."""
from __future__ import annotations

import os
import stat

from db.engine import unit_of_work
from rating.admin import AdminService
from rating.analysis.service import AnalysisService
from tests.security.study_kit import rate_everything, study_with_texts

SECRET = "private-files-admin-secret"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_and_its_wal_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        factory, tokens = study_with_texts(tmp_path / "s.db", {"a": ["Clear lungs."]})
        rate_everything(factory, next(iter(tokens.values())))
        with unit_of_work(factory) as session:  # keep a connection open: the WAL and SHM files exist
            session.connection()
            for suffix in ("", "-wal", "-shm"):
                path = tmp_path / f"s.db{suffix}"
                assert path.exists() and _mode(path) == 0o600, f"{path.name}: {oct(_mode(path))}"
    finally:
        os.umask(old)


def test_analysis_exports_are_private_and_deleted(tmp_path):
    factory, tokens = study_with_texts(tmp_path / "s.db", {"a": ["Clear lungs.", "x."], "b": ["Normal.", "y."]})
    rate_everything(factory, next(iter(tokens.values())))
    admin = AdminService(factory, admin_secret=SECRET)
    service = AnalysisService(factory, admin=admin)
    first = service.analyze_and_export(SECRET, 1)
    folder = first.files["csv"].parent
    assert _mode(folder) == 0o700
    assert all(_mode(p) == 0o600 for p in first.files.values())
    second = service.analyze_and_export(SECRET, 1)
    assert not folder.exists()  # the previous export is gone once a new one is made
    service.close()
    assert not second.files["csv"].parent.exists()  # and the last one when the service closes
