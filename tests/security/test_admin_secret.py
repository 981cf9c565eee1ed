"""Attack surface of the admin secret: a short secret, a secret printed where raters' operators look,
a secret passed on the command line (visible to every user in the process list)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.app_process import ROOT, start_app
from tests.support.rating_support import server_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_secret")]


def test_a_short_admin_secret_is_refused(tmp_path):
    done = subprocess.run([sys.executable, "app.py", "--no-build-model", "--db", str(tmp_path / "s.db"),
                           "--admin-secret", "a"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=server_env())
    assert done.returncode != 0
    assert "16 characters" in done.stderr + done.stdout


def test_generated_secret_is_never_printed_in_rating_only_mode_and_a_flag_warns(tmp_path):
    app = start_app(tmp_path, ["--rating-only", "--db", str(tmp_path / "s.db")], ready_path="/rate/config",
                    netguard=False)
    try:
        secret = (tmp_path / "s.db.admin-secret").read_text().strip()
        assert len(secret) >= 16
        log = app.log()
        assert secret not in log and "s.db.admin-secret" in log
    finally:
        app.stop()
    run2 = tmp_path / "flag"
    run2.mkdir()
    app = start_app(run2, ["--rating-only", "--db", str(tmp_path / "t.db"), "--admin-secret", "x" * 20],
                    ready_path="/rate/config", netguard=False)
    try:
        assert "process list" in app.log()
        assert "x" * 20 not in app.log()
    finally:
        app.stop()
