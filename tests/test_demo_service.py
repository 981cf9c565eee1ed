"""GenerationService, input limits and the background model build, without a web server."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo.examples import PAPER_STYLE_EXAMPLES, pick_openi_examples
from demo.model_builder import ModelBuilder, summarize_metrics
from demo.service import GenerationService
from generation.base import FindingsError, GenerationError, GenerationSettings, GeneratorBase
from generation.baselines import LeadGenerator


def make_service(toy_reports, tmp_path, **kw) -> GenerationService:
    return GenerationService(toy_reports, PAPER_STYLE_EXAMPLES, tmp_path / "missing-model", "model:missing", **kw)


@pytest.mark.parametrize("raw", ["", "   \n\t", None, 42, "\x00\x00"])
def test_empty_or_non_text_findings_are_refused(raw):
    with pytest.raises(FindingsError, match="empty"):
        LeadGenerator().prepare(raw)


def test_long_findings_are_cut_on_a_word_with_a_notice():
    lead = LeadGenerator()
    lead.max_findings_chars = 1000
    prepared = lead.prepare("effusion " * 20_000)
    assert len(prepared.text) <= 1000 and prepared.text.endswith("effusion")
    assert "179,999 characters" in prepared.notices[0]


def test_findings_are_cleaned_as_in_training():
    """Serving equals training: the demo's findings go through core.cleaning like the training data."""
    prepared = LeadGenerator().prepare("  1. Lungs   clear. .\n 2. Heart normal.  ")
    assert prepared.text == "Lungs clear. Heart normal." and not prepared.notices
    assert LeadGenerator().generate(["1. Lungs clear.  2. Heart normal."]) == ["Lungs clear."]


def test_missing_project_model_falls_back_to_retrieval_and_says_so(toy_reports, tmp_path):
    service = make_service(toy_reports, tmp_path)
    result = service.generate("Large right pleural effusion. Heart size is normal.")
    assert result.done and result.system == "retrieval"
    assert result.impression == "Large right pleural effusion."
    assert any("not available yet" in n for n in result.instead)  # said in the first line, with who answered
    first = result.details().split("\n\n")[0]
    assert "**retrieval**" in first and "not by Radiology-Llama" in first


def test_stream_ends_with_a_timed_final_update(toy_reports, tmp_path):
    updates = list(make_service(toy_reports, tmp_path).stream("Cardiomegaly.", "constant"))
    assert updates[-1].done and updates[-1].elapsed_s >= 0
    assert updates[-1].impression == "No acute cardiopulmonary abnormality."


def test_unknown_system_is_an_error(toy_reports, tmp_path):
    with pytest.raises(GenerationError, match="Unknown system"):
        make_service(toy_reports, tmp_path).generate("Lungs clear.", "gpt-9")


def test_choices_offer_model_base_baselines_and_extra_models(toy_reports, tmp_path):
    service = make_service(toy_reports, tmp_path, extra_systems=["/m/one", "hf:/m/two", "openai:m@http://127.0.0.1:1/v1"])
    keys = [c.key for c in service.choices()]
    assert keys == ["default", "base", "retrieval", "lead", "constant", "model:/m/one", "hf:/m/two",
                    "openai:m@http://127.0.0.1:1/v1"]
    no_data = GenerationService([], PAPER_STYLE_EXAMPLES, tmp_path / "x", "model:x")
    assert "retrieval" not in [c.key for c in no_data.choices()] and no_data.fallback_system() == "lead"


class FakeModel(GeneratorBase):
    """A model-like generator: a 60-token context (one token per word), token-by-token streaming."""

    name, kind = "fake", "model"

    def __init__(self):
        self.seen: list[str] = []

    def input_budget(self, settings):
        return 60 - settings.max_new_tokens

    def _generate(self, findings, settings):
        return [list(self.stream(f, settings))[-1] for f in findings]

    def stream(self, findings, settings=GenerationSettings()):
        self.seen.append(findings)
        text = ""
        for word in ("No", "acute", "disease."):
            text = f"{text} {word}".strip()
            yield text


def fake_system(spec, train):
    return FakeModel()


def test_model_input_is_cut_to_its_context_and_streams(toy_reports, tmp_path, monkeypatch):
    from generation import registry

    monkeypatch.setitem(registry.NAMED, "lead", f"{__name__}:fake_system")  # stand in for a model-backed system
    service = make_service(toy_reports, tmp_path)
    updates = list(service.stream("word " * 500, "lead", GenerationSettings(max_new_tokens=20)))
    assert [u.impression for u in updates] == ["No", "No acute", "No acute disease.", "No acute disease."]
    assert len(service.generator("lead").seen[0].split()) == 40
    assert any("were cut to 40 tokens to fit the model's context" in n for n in updates[-1].notices)


def test_openi_examples_come_from_unseen_test_findings_half_normal():
    from core.records import Report

    body = " The cardiomediastinal silhouette is within normal limits for size and contour." * 2
    def report(i, impression):
        return Report(str(i), f"Finding {i}.{body}", impression, "toy", "test")
    train = [report(0, "No acute disease."), report(1, "Pneumonia.")]
    test = [report(i, "No acute disease." if i % 2 else "Right effusion.") for i in range(0, 8)]
    picked = pick_openi_examples(test, train, n=4)
    ids = [e.label.rsplit(" ", 1)[1] for e in picked]
    assert len(picked) == 4 and "0" not in ids and "1" not in ids  # training findings never shown
    assert sorted(ids) == ["2", "3", "4", "5"]  # two abnormal, two normal, lowest ids first


# -- the background build ---------------------------------------------------------------------
FAKE_BUILD_OK = ("import json, pathlib, time, sys\n"
                 "run = pathlib.Path(sys.argv[1])\n"
                 "(run / 'metrics.jsonl').write_text(json.dumps({'stage': 'start', 'time': time.time(), "
                 "'config': {'epochs': 6}}) + '\\n' + json.dumps({'stage': 'finetune', 'step': 7, 'epoch': 1.5, "
                 "'loss': 2.5}) + '\\n')\n"
                 "time.sleep(float(sys.argv[2]))\n"
                 "(run / 'final').mkdir(); (run / 'final' / 'radllama.json').write_text('{}')\n")


def fake_builder(run: Path, seconds: float, ok: bool = True) -> ModelBuilder:
    code = FAKE_BUILD_OK if ok else "import sys; print('boom: out of memory'); sys.exit(3)"
    return ModelBuilder(run / "final", command=[sys.executable, "-c", code, str(run), str(seconds)])


def test_build_runs_in_background_reports_progress_and_finishes(tmp_path):
    builder = fake_builder(tmp_path, 1.5)
    assert builder.start_if_missing().state == "building"
    for _ in range(50):
        status = builder.status()
        if "finetune" in status.message:
            break
        time.sleep(0.1)
    assert "step 7" in status.message and "epoch 1.5/6" in status.message and "loss 2.500" in status.message
    assert builder.wait(30).state == "ready"


def test_a_second_builder_does_not_build_twice(tmp_path):
    first, second = fake_builder(tmp_path, 3), fake_builder(tmp_path, 0)
    try:
        assert first.start_if_missing().state == "building"
        status = second.start_if_missing()
        assert status.state == "building-elsewhere" and second._proc is None
    finally:
        first.stop()


def test_a_failed_build_says_so_with_the_log(tmp_path):
    builder = fake_builder(tmp_path, 0, ok=False)
    builder.start_if_missing()
    status = builder.wait(30)
    assert status.state == "failed" and "exit code 3" in status.message
    assert str(builder.log_path) in status.message and "python -m training.train" in status.message
    assert "boom: out of memory" in builder.log_path.read_text()


def test_existing_model_is_not_rebuilt(tmp_path):
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "radllama.json").write_text("{}")
    builder = fake_builder(tmp_path, 0)
    assert builder.start_if_missing().state == "ready" and builder._proc is None


def test_metrics_summary_tolerates_missing_and_broken_files(tmp_path):
    assert summarize_metrics(tmp_path / "none.jsonl") == "starting"
    (tmp_path / "m.jsonl").write_text("not json\n")
    assert summarize_metrics(tmp_path / "m.jsonl") == "starting"


HAND_BUILD = ("import pathlib, sys, time\n"
              "from core.build_lock import build_lock\n"
              "with build_lock(pathlib.Path(sys.argv[1])):\n"
              "    print('locked', flush=True); time.sleep(60)\n")


def test_a_build_started_by_hand_is_not_duplicated_and_the_app_builds_when_it_stops(tmp_path):
    hand = subprocess.Popen([sys.executable, "-c", HAND_BUILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    builder = fake_builder(tmp_path, 3)
    try:
        assert hand.stdout.readline().strip() == "locked"
        assert builder.start_if_missing().state == "building-elsewhere" and builder._proc is None
        hand.kill()
        hand.wait(10)
        assert builder.status().state == "building" and builder._proc is not None  # nobody builds now: restart
    finally:
        hand.kill()
        builder.stop()


def test_a_stale_lock_is_detected_and_the_build_restarts(tmp_path):
    # A build killed a minute ago left its lock file (with its pid) and a recent metrics.jsonl behind.
    (tmp_path / "build.lock").write_text("pid 999999999\n")
    (tmp_path / "metrics.jsonl").write_text('{"stage": "pretrain", "step": 3}\n')
    builder = fake_builder(tmp_path, 3)
    try:
        status = builder.start_if_missing()
        assert status.state == "building" and builder._proc is not None
        assert (tmp_path / "build.lock").read_text().strip() == f"pid {builder._proc.pid}"
    finally:
        builder.stop()


@pytest.mark.parametrize("build", [True, False])
def test_from_config_starts_the_build_only_when_asked(tmp_path, monkeypatch, toy_reports, build):
    import demo.service as service_module
    from tests.support.tiny_lm import tiny_reports, write_jsonl

    final = tmp_path / "run" / "final"
    monkeypatch.setattr(service_module, "DEFAULT_MODEL_DIR", final)
    monkeypatch.setattr(service_module, "default_model_dir", lambda explicit=None: final)
    monkeypatch.setattr(service_module, "ModelBuilder",
                        lambda model_dir, data_path=None: fake_builder(Path(model_dir).parent, 2))
    data = write_jsonl(tmp_path / "r.jsonl", tiny_reports())
    service = GenerationService.from_config(data_path=str(data), build_if_missing=build)
    try:
        assert service.builder.status().state == ("building" if build else "missing")
        assert service.generate("Lungs clear. Heart normal.").system == "retrieval"  # baselines serve meanwhile
        if build:
            assert service.builder.wait(30).ready and service.project_model_ready()
    finally:
        service.builder.stop()


def test_small_models_run_on_one_torch_thread(monkeypatch):
    import torch
    from demo.service import tune_for_interactive_use
    from generation.project_lm import THREADS_ENV, LMGenerator

    generator = LMGenerator(model=torch.nn.Linear(4, 4), tokenizer=None)
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(THREADS_ENV, raising=False)
        torch.set_num_threads(2)
        tune_for_interactive_use(generator)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv(THREADS_ENV, "2")
        tune_for_interactive_use(generator)
        assert torch.get_num_threads() == 2
        tune_for_interactive_use(LeadGenerator())  # baselines: nothing to tune, no error
    finally:
        torch.set_num_threads(before)


def test_the_tab_reports_a_contradicting_impression(toy_reports, tmp_path):
    """The consistency check under the impression names the unqualified normal statement (issue 20's example)."""
    service = make_service(toy_reports, tmp_path)
    findings = "Large left pneumothorax with partial collapse of the left lung. Heart size normal."
    text = service.consistency_markdown(findings, "A large left pneumothorax. No acute cardiopulmonary abnormality.")
    assert "normal statement (Pneumothorax)" in text and '"No acute cardiopulmonary abnormality."' in text
    fine = service.consistency_markdown(findings, "A large left pneumothorax. Otherwise, no acute cardiopulmonary abnormality.")
    assert "no contradiction" in fine
    assert service.consistency_markdown(findings, "") == "" and service.consistency_markdown(None, "x") == ""
