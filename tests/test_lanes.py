"""The fast lane's guard: an unmarked test that starts an app or a browser fails at once, saying why."""
from __future__ import annotations

import pytest

from tests.support.app_process import start_app
from tests.support.browser import launch_chromium


def test_an_unmarked_test_cannot_start_an_app(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="starts an app process but is not marked slow"):
        start_app(tmp_path, ["--only", "no-such-tab"])  # were the guard missing: the app exits, RuntimeError


def test_an_unmarked_test_cannot_start_a_browser():
    with pytest.raises(pytest.fail.Exception, match="starts a browser but is not marked slow"):
        launch_chromium(None)  # were the guard missing: AttributeError


@pytest.mark.slow
def test_a_slow_test_passes_the_guard():
    from tests.support import lanes

    lanes.require_slow("an app process")  # no failure
    assert lanes.unmarked_test is None
