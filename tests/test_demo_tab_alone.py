"""`python app.py --only generate` serves the Generate tab on its own, with the same /generate API."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support.app_process import start_app

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_tab_alone")]


def test_generate_tab_runs_on_its_own(tmp_path):
    from gradio_client import Client

    app = start_app(tmp_path, ["--only", "generate", "--no-build-model", "--model", str(tmp_path / "no-model"),
                               "--db", str(tmp_path / "study.db")])
    try:
        impression, details = Client(app.url + "/", verbose=False).predict(
            "Heart size normal. Lungs clear. No pneumothorax.", "lead", api_name="/generate")
        assert impression == "Heart size normal." and "**lead**" in details
        with urllib.request.urlopen(app.url + "/config", timeout=10) as resp:
            components = json.load(resp)["components"]
        notes = [c for c in components if c.get("props", {}).get("elem_id") == "clinical-use-note"]
        assert len(notes) == 1 and notes[0]["props"].get("visible", True) is True
        assert "not for clinical use" in notes[0]["props"]["value"]
        assert app.outbound() == []
    finally:
        app.stop()
