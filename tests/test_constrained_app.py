"""The Generate tab offers strategy "constrained", and /generate answers with it from a real app process
serving a scripted tiny model (tests/support/scripted_lm.py) as the default system."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support.app_process import start_app

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("constrained_app")]

FINDINGS = "Large left pneumothorax."


def _scripted_final_folder(folder):
    from core.paths import FINAL_META
    from core.prompt import build_prompt
    from tests.support.scripted_lm import scripted_llama, scripted_tokenizer
    from training.checkpoints import write_model_side_files
    from training.config import TrainConfig

    tok = scripted_tokenizer()
    prompt = build_prompt(FINDINGS)
    model = scripted_llama(tok, [(prompt, "Large left pneumothorax. No acute cardiopulmonary abnormality"),
                                 (prompt + "Large left pneumothorax. Otherwise, no", " acute cardiopulmonary abnormality")])
    model.save_pretrained(folder)
    write_model_side_files(folder, TrainConfig(), tok)
    (folder / FINAL_META).write_text(json.dumps({"format": "merged"}))
    return folder


def test_generate_tab_decodes_constrained(tmp_path):
    from gradio_client import Client

    model = _scripted_final_folder(tmp_path / "final")
    app = start_app(tmp_path, ["--only", "generate", "--no-build-model", "--model", str(model),
                               "--db", str(tmp_path / "study.db")])
    try:
        with urllib.request.urlopen(app.url + "/config", timeout=30) as resp:
            components = json.load(resp)["components"]
        radio = next(c for c in components if c.get("props", {}).get("elem_id") == "strategy")
        assert [choice[1] for choice in radio["props"]["choices"]] == ["greedy", "beam", "rerank", "constrained"]
        client = Client(app.url + "/", verbose=False)
        greedy, _ = client.predict(FINDINGS, "default", "greedy", 1, 40, api_name="/generate")
        constrained, details = client.predict(FINDINGS, "default", "constrained", 1, 40, api_name="/generate")
        assert greedy == "Large left pneumothorax. No acute cardiopulmonary abnormality"
        assert constrained == "Large left pneumothorax. Otherwise, no acute cardiopulmonary abnormality"
        assert app.outbound() == []
    finally:
        app.stop()
