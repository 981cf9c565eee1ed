"""Second red team: `python -m rating.export` wrote a 0755 folder of 0644 files holding the unblinded
system column, readable by every user of the machine (the app's own exports were already private).
Now the CLI writes a 0700 folder of 0600 files, whatever the caller's umask.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.support.rating_support import ROOT, server_env
from tests.security.study_kit import rate_everything, study_with_texts

pytestmark = pytest.mark.slow


def test_cli_export_is_private(tmp_path):
    db = tmp_path / "s.db"
    factory, tokens = study_with_texts(db, {"zebra": ["One.", "Two."], "okapi": ["Uno.", "Dos."]})
    rate_everything(factory, next(iter(tokens.values())))
    factory.kw["bind"].dispose()
    out = tmp_path / "export" / "study-1"
    subprocess.run([sys.executable, "-m", "rating.export", "--db", str(db), "--out", str(out), "--n-bootstrap", "50"],
                   cwd=ROOT, env=server_env(), check=True, capture_output=True, timeout=600,
                   preexec_fn=lambda: os.umask(0o022))
    folders = [out, *[p for p in out.rglob("*") if p.is_dir()]]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and any(p.name == "ratings.csv" for p in files)
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {"0o700"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o600"}
