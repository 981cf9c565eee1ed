"""`python app.py --only TAB` serves one tab on its own page."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.app_process import start_app

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("app_single_tab")]


def test_analysis_tab_runs_on_its_own_without_the_other_tabs(tmp_path):
    app = start_app(tmp_path, ["--no-build-model", "--only", "analysis", "--admin-secret", "s3cret-long-enough-1",
                               "--db", str(tmp_path / "study.db")])
    try:
        config = urllib.request.urlopen(app.url + "/config", timeout=30).read().decode()
        assert '"analysis-secret"' in config and '"analysis-run"' in config
        assert '"findings"' not in config and '"rate-token"' not in config  # neither Generate nor the rater page
        with pytest.raises(urllib.error.HTTPError):  # nothing else is served
            urllib.request.urlopen(app.url + "/rate/config", timeout=30)
        assert app.outbound() == []
    finally:
        app.stop()


def test_unknown_tab_is_refused_with_a_clear_message():
    import subprocess
    import sys

    from tests.support.app_process import ROOT

    done = subprocess.run([sys.executable, "app.py", "--only", "nope"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "invalid choice" in done.stderr
