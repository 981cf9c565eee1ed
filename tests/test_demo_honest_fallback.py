"""The public demo says plainly which system answered and why while the project model is not built,
in the picker and in the output, and shows visitors no server file path (issue 18)."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from demo.examples import PAPER_STYLE_EXAMPLES
from demo.model_builder import BuildStatus
from demo.service import GenerationService

FINDINGS = "Heart size is normal. There is a large right pleural effusion. No pneumothorax."


def _service(toy_reports, tmp_path: Path) -> GenerationService:
    return GenerationService(toy_reports, PAPER_STYLE_EXAMPLES, tmp_path / "srv" / "missing-model", "model:missing")


@pytest.mark.parametrize("state, why", [("missing", "not on this server"), ("building", "being built"),
                                        ("failed", "failed to build")])
def test_picker_status_and_output_name_the_system_that_answers(toy_reports, tmp_path, state, why):
    service = _service(toy_reports, tmp_path)
    log = tmp_path / "srv" / "build.log"
    service.model_status = lambda: BuildStatus(state, f"operator detail: see `{log}` and `{tmp_path}`", log)
    project = service.choices()[0]
    assert project.key == "default"
    assert "not available" in project.label and why in project.label, project.label
    assert "Retrieval baseline" in project.label and "answers instead" in project.label, project.label
    status = service.status_markdown()
    assert str(tmp_path) not in status and "/srv/" not in status and why in status, status
    done = service.generate(FINDINGS, "default")
    assert done.system == "retrieval"
    first = done.details().split("\n\n")[0]
    assert "**retrieval**" in first and "not by Radiology-Llama" in first and why in first, first
    assert str(tmp_path) not in done.details()


def test_a_ready_model_keeps_its_name_and_the_status_shows_no_path(toy_reports, tmp_path):
    service = _service(toy_reports, tmp_path)
    service.model_status = lambda: BuildStatus("ready", f"Project model ready: `{tmp_path}`.")
    service.project_model_ready = lambda: True
    assert service.choices()[0].label == "Radiology-Llama: the project's fine-tuned model"
    assert str(tmp_path) not in service.status_markdown() and "ready" in service.status_markdown()


def test_extra_systems_and_the_data_note_show_no_server_path(toy_reports, tmp_path):
    service = GenerationService(toy_reports, PAPER_STYLE_EXAMPLES, tmp_path / "m", "model:m",
                                extra_systems=(str(tmp_path / "runs" / "final"), f"model:{tmp_path}/runs/b"),
                                data_note=f"No report data (data file {tmp_path}/x/reports.csv does not exist).")
    labels = [c.label for c in service.choices()]
    assert not any(str(tmp_path) in label for label in labels), labels
    assert "final" in labels[-2] and "b" in labels[-1]
    assert str(tmp_path) not in service.status_markdown() and "reports.csv" in service.status_markdown()


@pytest.mark.slow
def test_the_served_page_shows_no_model_path(tmp_path):
    from tests.support.app_process import start_app

    model_dir = tmp_path / "secret-place" / "no-model"
    app = start_app(tmp_path, ["--public-demo", "--no-build-model", "--model", str(model_dir)])
    try:
        with urllib.request.urlopen(app.url + "/config", timeout=60) as response:
            config = response.read().decode()
        assert "secret-place" not in config and str(tmp_path) not in config
        labels = [label for c in json.loads(config)["components"] if c.get("props", {}).get("elem_id") == "system"
                  for label, _ in c["props"]["choices"]]
        assert "not available" in labels[0], labels
    finally:
        app.stop()


def test_the_fallback_for_the_project_model_is_repaired_like_its_answers(tmp_path):
    """Seen from a fresh clone: while the model builds, the Retrieval baseline answered a consolidation with a
    training impression that named a pneumothorax the findings never describe and showed XXXX to the visitor.
    Standing in for Radiology-Llama it is repaired as Radiology-Llama's answers are; chosen by name it stays the
    raw baseline the evaluation tables measure."""
    from core.consistency import check as consistency
    from core.omissions import check
    from core.records import Report

    pasted = "Small right apical pneumothorax. XXXX residual atelectasis. No acute cardiopulmonary abnormality."
    train = [Report(id=str(i), findings=f, impression=pasted if i == 0 else "No acute disease.", source="toy")
             for i, f in enumerate(["Right lower lobe consolidation. Small right pleural effusion. Heart normal.",
                                    "Heart size normal. Lungs clear."])]
    service = GenerationService(train, PAPER_STYLE_EXAMPLES, tmp_path / "missing-model", "model:missing")
    findings = "Right lower lobe consolidation with a small right pleural effusion. Heart size normal."
    done = service.generate(findings, "default")
    assert done.system == "retrieval"
    text = done.impression
    assert "XXXX" not in text and "pneumothorax" not in text.lower(), text
    assert check(findings, text).complete and not check(findings, text).added, text
    assert consistency(text, findings).consistent, text
    assert "repaired" in done.details(), done.details()
    raw = service.generate(findings, "retrieval")
    assert raw.impression == pasted  # the baseline itself, as measured
