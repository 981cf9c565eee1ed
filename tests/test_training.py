"""Training: config, masking, tiny training, LoRA targets, checkpoints/resume, the 7B recipe on a tiny Llama."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.support.tiny_lm import tiny_config, tiny_llama, tiny_reports, tiny_tokenizer
from training.config import load_recipe
from training.instruct_data import IGNORE_INDEX, encode_example, encode_reports


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


def _accelerator(accum: int = 1):
    from accelerate import Accelerator
    return Accelerator(cpu=True, gradient_accumulation_steps=accum)


def test_recipes_load_and_bad_values_are_rejected(tmp_path):
    from training.config import FinetuneConfig

    default = load_recipe("default")
    assert default.from_scratch and default.output_dir == "models/default"
    with pytest.raises(ValueError, match="unknown recipe key 'finetune.learning_rat'"):
        load_recipe("default", {"finetune.learning_rat": 1.0})
    with pytest.raises(ValueError, match="finetune.method"):
        FinetuneConfig(method="qlora")
    with pytest.raises(ValueError, match="multiple"):
        FinetuneConfig(per_device_batch_size=3, effective_batch_size=128)
    with pytest.raises(FileNotFoundError, match="known recipes"):
        load_recipe("no-such-recipe")


def test_prompt_tokens_are_masked_and_target_ends_with_eos():
    tok = tiny_tokenizer()
    enc = encode_example(tok, "### Findings:\nLungs clear.\n\n### Impression:\n", "No acute disease.")
    prompt_len = len(tok("### Findings:\nLungs clear.\n\n### Impression:\n")["input_ids"])
    assert enc.labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert enc.labels[prompt_len:] == enc.input_ids[prompt_len:]
    assert enc.input_ids[-1] == tok.eos_token_id
    assert tok.decode(enc.input_ids[prompt_len:-1]) == "No acute disease."


def test_left_padded_batch_loss_matches_each_example_alone():
    """The training batch (left padding, position ids, logits only over the target) loses nothing."""
    from training.instruct_data import batch_loss, collate

    reports = tiny_reports(6)
    tok = tiny_tokenizer(reports)
    model = tiny_llama(tok).eval()
    examples = [encode_example(tok, f"### Findings:\n{r.findings}\n\n### Impression:\n", r.impression) for r in reports]
    with torch.no_grad():
        total, n = batch_loss(model, collate(examples, tok.pad_token_id))
        alone = [model(input_ids=torch.tensor([e.input_ids]), labels=torch.tensor([e.labels])).loss * (len(
            [x for x in e.labels if x != IGNORE_INDEX]) - (e.labels[0] != IGNORE_INDEX)) for e in examples]
    assert n == sum(len([x for x in e.labels if x != IGNORE_INDEX]) for e in examples)
    assert torch.allclose(total, torch.stack(alone).sum(), rtol=1e-4)


def test_retrieved_examples_come_from_training_and_never_the_report_itself():
    from generation.prompting import PromptBuilder

    reports = tiny_reports(16)
    tok = tiny_tokenizer(reports)
    builder = PromptBuilder(reports, k=2, max_example_words=50)
    encoded = encode_reports(tok, reports, builder, max_seq_len=256, exclude_self=True)
    for r, e in zip(reports, encoded):
        prompt = tok.decode([i for i, lab in zip(e.input_ids, e.labels) if lab == IGNORE_INDEX])
        assert "Similar report" in prompt
        assert prompt.count(r.findings) == 1  # only as the findings to explain, never as an example
        assert tok.decode([lab for lab in e.labels if lab != IGNORE_INDEX], skip_special_tokens=True) == r.impression


def test_tiny_model_loss_falls():
    from generation.prompting import PromptBuilder
    from training.loop import LoopSpec, MetricsLog, evaluation_loss, make_optimizer, run_loop

    reports = tiny_reports(32)
    tok = tiny_tokenizer(reports)
    torch.manual_seed(0)
    model = tiny_llama(tok)
    examples = encode_reports(tok, reports, PromptBuilder(reports, 1, 8), 192, exclude_self=True)
    spec = LoopSpec(stage="t", epochs=6, batch_size=8, accumulation=1, learning_rate=3e-3, weight_decay=0.0,
                    warmup_ratio=0.0, seed=0)
    before = evaluation_loss(model, examples, 16, tok.pad_token_id, "cpu")
    opt, sched = make_optimizer(model, spec, 24)
    acc = _accelerator()
    model, opt = acc.prepare(model, opt)
    import tempfile
    import pathlib
    with tempfile.TemporaryDirectory() as d:
        log = MetricsLog(pathlib.Path(d) / "m.jsonl")
        state = run_loop(acc, model, opt, sched, examples, spec, tok.pad_token_id, log)
        lines = [json.loads(x) for x in log.path.read_text().splitlines()]
    after = evaluation_loss(model, examples, 16, tok.pad_token_id, "cpu")
    assert state.step == 24
    assert after < before - 1.0, (before, after)
    assert all("tokens_per_s" in x and "loss" in x for x in lines)


def test_lora_touches_only_q_and_v_projections(tmp_path):
    from training.base_model import prepare_for_finetuning

    tok = tiny_tokenizer()
    model = prepare_for_finetuning(tiny_llama(tok), tiny_config(tmp_path))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == {"q_proj", "v_proj"}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) < 0.2 * sum(p.numel() for p in model.parameters())


def _optimizer_tensors(opt):
    return [v for s in opt.state_dict()["state"].values() for v in s.values() if torch.is_tensor(v)]


def test_checkpoint_save_and_resume_round_trip(tmp_path):
    from training.base_model import prepare_for_finetuning
    from training.checkpoints import TrainingState, latest_checkpoint, load_checkpoint, save_checkpoint
    from generation.prompting import PromptBuilder
    from training.loop import LoopSpec, MetricsLog, make_optimizer, run_loop

    cfg = tiny_config(tmp_path, {"lora.dropout": 0.0})
    reports = tiny_reports(16)
    tok = tiny_tokenizer(reports)
    examples = encode_reports(tok, reports, PromptBuilder(reports, 1, 8), 192, exclude_self=True)
    spec = LoopSpec(stage="t", epochs=3, batch_size=4, accumulation=1, learning_rate=3e-3, weight_decay=0.01,
                    warmup_ratio=0.0, seed=0)

    def fresh():
        torch.manual_seed(0)
        model = prepare_for_finetuning(tiny_llama(tok), cfg)
        opt, sched = make_optimizer(model, spec, 12)
        return model, opt, sched

    model, opt, sched = fresh()
    spec.epochs = 1.5  # stop mid-way (6 of 12 steps) and save
    state = run_loop(_accelerator(), model, opt, sched, examples, spec, tok.pad_token_id,
                     MetricsLog(tmp_path / "m.jsonl"))
    state.best_step, state.best_val_loss = state.step, 1.25
    run_dir = tmp_path / "run"
    folder = save_checkpoint(run_dir, model, opt, sched, state, cfg, tok)
    assert folder.name == "step-000006" and latest_checkpoint(run_dir) == folder
    assert {"config.yaml", "prompt_template.json", "tokenizer.json", "trainable.safetensors"} <= {p.name for p in folder.iterdir()}

    model2, opt2, sched2 = fresh()
    restored = load_checkpoint(folder, model2, opt2, sched2)
    assert restored == TrainingState(step=6, best_val_loss=1.25, best_step=6)
    for (n, p), (n2, p2) in zip(model.named_parameters(), model2.named_parameters()):
        assert n == n2 and torch.equal(p, p2)
    assert all(torch.equal(a, b) for a, b in zip(_optimizer_tensors(opt), _optimizer_tensors(opt2)))
    assert sched2.last_epoch == sched.last_epoch

    # Resuming continues where the first run stopped and matches an uninterrupted run.
    spec.epochs = 3
    resumed = run_loop(_accelerator(), model2, opt2, sched2, examples, spec, tok.pad_token_id,
                       MetricsLog(tmp_path / "m.jsonl"), state=restored)
    straight, opt3, sched3 = fresh()
    run_loop(_accelerator(), straight, opt3, sched3, examples, spec, tok.pad_token_id, MetricsLog(tmp_path / "m.jsonl"))
    assert resumed.step == 12
    for p, q in zip(model2.parameters(), straight.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def test_train_main_builds_final_folder_and_resumes(tmp_path):
    from training.checkpoints import list_checkpoints
    from generation.project_lm import load_checkpoint_generator
    from training.train import main

    cfg = tiny_config(tmp_path, {"data.max_validate_reports": 4})
    final = main(cfg)
    run_dir = tmp_path / "run"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "config.yaml", "prompt_template.json",
                 "radllama.json"):
        assert (final / name).exists(), name
    assert (run_dir / "base" / "config.json").exists() and (run_dir / "tokenizer" / "tokenizer.json").exists()
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("val_loss" in r for r in records) and records[-1]["stage"] == "done"
    meta = json.loads((final / "radllama.json").read_text())
    assert meta["best_step"] in [int(p.name.split("-")[1]) for p in list_checkpoints(run_dir)]
    # A second run finds the finished checkpoint and does not train again.
    steps_before = sum(1 for r in records if r.get("stage") == "finetune" and "loss" in r)
    main(cfg)
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resumed" for r in records)
    assert sum(1 for r in records if r.get("stage") == "finetune" and "loss" in r) == steps_before
    gen = load_checkpoint_generator(final)
    out = gen.generate(["Heart size normal. Lungs clear."])
    assert len(out) == 1 and isinstance(out[0], str)


def test_llama2_7b_recipe_wraps_a_local_llama_with_lora(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.base_model import load_pretrained_model, prepare_for_finetuning

    local = tmp_path / "tiny-llama"
    LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=4)).save_pretrained(local)
    cfg = load_recipe("llama2-7b", {"model.name_or_path": str(local), "output_dir": str(tmp_path / "out")})
    assert load_recipe("llama2-7b").model.name_or_path == "meta-llama/Llama-2-7b-chat-hf"
    assert cfg.finetune.per_device_batch_size * cfg.gradient_accumulation_steps(1) == 128
    assert cfg.gradient_accumulation_steps(4) * 4 * cfg.finetune.per_device_batch_size == 128
    assert (cfg.finetune.learning_rate, cfg.optimizer.weight_decay, cfg.mixed_precision) == (3e-4, 0.01, "bf16")
    assert cfg.finetune.method == "lora" and cfg.lora.target_modules == ["q_proj", "v_proj"]
    model = prepare_for_finetuning(load_pretrained_model(cfg.model.name_or_path, cfg.mixed_precision), cfg)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == {"q_proj", "v_proj"}
    assert next(model.parameters()).dtype == torch.bfloat16
    loss = model(input_ids=torch.tensor([[1, 5, 7, 9]]), labels=torch.tensor([[1, 5, 7, 9]])).loss
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)


def _tiny_recipe(folder, name: str) -> str:
    """A tiny full fine-tuning recipe (no pretraining, no dropout) as a YAML file; returns its path."""
    import yaml

    from tests.support.tiny_lm import write_jsonl

    cfg = tiny_config(folder, {"name": name, "output_dir": str(folder / name),
                               "data.path": str(write_jsonl(folder / "reports.jsonl", tiny_reports(48))),
                               "pretrain.epochs": 0, "finetune.method": "full", "finetune.epochs": 3,
                               "finetune.per_device_batch_size": 4, "finetune.effective_batch_size": 8,
                               "data.max_train_reports": 32, "data.max_validate_reports": 4,
                               "finetune.eval_every_steps": 4, "finetune.log_every_steps": 1,
                               "finetune.keep_checkpoints": 1, "finetune.learning_rate": 3e-3})
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return str(path)


def _finetune_curve(run_dir):
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in records if r.get("stage") == "finetune" and "loss" in r}
    vals = {r["step"]: r["val_loss"] for r in records if r.get("stage") == "finetune" and "val_loss" in r}
    return records, losses, vals


@pytest.mark.slow
def test_accelerate_two_cpu_processes_match_one_process_and_write_checkpoints_once(tmp_path):
    """`accelerate launch --num_processes 2 --cpu` (DDP over gloo): same loss curve as one process with the
    same effective batch, and only the main process writes metrics, checkpoints and final/."""
    import os
    import subprocess
    import sys

    from tests.support.app_process import free_port
    from training.checkpoints import list_checkpoints

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1",
           "ACCELERATE_DISABLE_RICH": "1"}
    one = subprocess.run([sys.executable, "-m", "training.train", "--recipe", _tiny_recipe(tmp_path, "one")],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    # accelerate 1.15's `--cpu` launcher starts ONE process unless MPI is set up (--mpirun_hostfile); the
    # torchrun-based launcher (--multi_gpu) with ACCELERATE_USE_CPU=1 runs N CPU processes over gloo.
    two = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "--main_process_port", str(free_port()),
                          "-m", "training.train", "--recipe", _tiny_recipe(tmp_path, "two")],
                         cwd=root, env={**env, "ACCELERATE_USE_CPU": "1"}, capture_output=True, text=True,
                         timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]

    records_one, loss_one, val_one = _finetune_curve(tmp_path / "one")
    records_two, loss_two, val_two = _finetune_curve(tmp_path / "two")
    assert [r["num_processes"] for r in records_two if r["stage"] == "start"] == [2]
    assert [r["num_processes"] for r in records_one if r["stage"] == "start"] == [1]
    assert sorted(loss_one) == sorted(loss_two) == list(range(1, 13))  # 32 reports / (4 x 2) x 3 epochs
    assert loss_one[12] < loss_one[1] - 0.5  # it learns
    for step in loss_one:
        assert loss_two[step] == pytest.approx(loss_one[step], abs=1e-4), (step, loss_one, loss_two)
    assert sorted(val_one) == sorted(val_two) == [4, 8, 12]
    for step in val_one:
        assert val_two[step] == pytest.approx(val_one[step], abs=1e-4)

    # Written once: one line per event in metrics.jsonl, every checkpoint saved by process 0 alone.
    assert sum(1 for r in records_two if r["stage"] == "done") == 1
    saved = [line for line in two.stdout.splitlines() if line.startswith("checkpoint step-")]
    assert saved == [f"checkpoint step-{s:06d} saved by process 0 of 2" for s in (4, 8, 12)], two.stdout
    assert [r["process"] for r in records_two if r.get("event") == "checkpoint saved"] == [0, 0, 0]
    assert two.stdout.count("final model:") == 1
    assert (tmp_path / "two" / "final" / "model.safetensors").is_file()
    assert [p.name for p in list_checkpoints(tmp_path / "two")] == [p.name for p in list_checkpoints(tmp_path / "one")]


def test_shipped_accelerate_configs_fit_the_llama2_7b_recipe():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType
    from transformers.models.llama import modeling_llama

    recipe = load_recipe("llama2-7b")
    root = Path(__file__).resolve().parent.parent / "training" / "accelerate"
    ddp, fsdp = (load_config_from_file(str(root / name)) for name in ("ddp.yaml", "fsdp.yaml"))
    assert ddp.distributed_type == DistributedType.MULTI_GPU and fsdp.distributed_type == DistributedType.FSDP
    for cfg in (ddp, fsdp):
        assert cfg.mixed_precision == recipe.mixed_precision == "bf16" and not cfg.use_cpu
        steps = recipe.gradient_accumulation_steps(cfg.num_processes)  # raises when 128 does not divide
        ft = recipe.finetune
        assert steps * cfg.num_processes * ft.per_device_batch_size == ft.effective_batch_size
    layer = fsdp.fsdp_config["fsdp_transformer_layer_cls_to_wrap"]
    assert hasattr(modeling_llama, layer)
    assert fsdp.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert recipe.finetune.method == "lora" and recipe.finetune.final_format == "adapter"  # what an FSDP run writes
