"""Attack: a rater with only their link uses the workbench on the same server as an oracle.

Before the fix, the default `python app.py` answered /generate for anyone and /config listed the
system names, so a rater could regenerate each system's text for a case and unblind it.
"""
from __future__ import annotations

import pytest

from tests.support.app_process import start_app
from tests.support.rating_support import make_study
from tests.security.support import ADMIN_SECRET, http, serve_open_study

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_oracle")]
FINDINGS = "Case 1: right lower lobe opacity measuring 2 cm."
GENERATOR_NAMES = ("retrieval", "constant", "lead")


def test_with_an_open_study_generate_and_config_need_the_admin_secret(tmp_path):
    from gradio_client import Client

    app, _ = serve_open_study(tmp_path)
    try:
        status, body = http(app.url + "/config")
        text = body.decode(errors="replace")
        assert status in (401, 403), f"/config answered {status} without the admin secret"
        assert not any(f'"{name}"' in text for name in GENERATOR_NAMES)
        for path in ("/gradio_api/info", "/gradio_api/openapi.json", "/"):
            status, body = http(app.url + path, headers={"Accept": "application/json"})
            assert status in (401, 403, 404), f"{path} answered {status} without the admin secret"
            assert b"retrieval" not in body
        with pytest.raises(Exception):  # the oracle: refused before any generator runs
            Client(app.url + "/", verbose=False).predict(FINDINGS, "retrieval", api_name="/generate")

        # the admin, signed in, still has the workbench
        status, body = http(app.url + "/config", headers={"Authorization": f"Bearer {ADMIN_SECRET}"})
        assert status == 200 and b'"findings"' in body
        impression, _ = Client(app.url + "/", verbose=False, headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) \
            .predict(FINDINGS, "retrieval", api_name="/generate")
        assert impression.strip()
        assert app.outbound() == []
    finally:
        app.stop()


def test_public_demo_serves_generate_to_anyone_but_no_study(tmp_path):
    from gradio_client import Client

    db = tmp_path / "study.db"
    make_study(db, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    app = start_app(tmp_path, ["--no-build-model", "--model", str(tmp_path / "no-model"), "--db", str(db),
                               "--public-demo"], extra_env={"RADLLAMA_ADMIN_SECRET": ADMIN_SECRET})
    try:
        impression, _ = Client(app.url + "/", verbose=False).predict(FINDINGS, "retrieval", api_name="/generate")
        assert impression.strip()
        assert http(app.url + "/rate/config")[0] == 404  # no study is served beside the open oracle
        status, body = http(app.url + "/config")
        assert b'"admin-secret"' not in body and b'"analysis-secret"' not in body
    finally:
        app.stop()
