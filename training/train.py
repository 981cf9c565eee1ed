"""Train an impression model from a recipe.

    python -m training.train --recipe default          # builds models/default/final on a CPU
    accelerate launch -m training.train --recipe llama2-7b
    accelerate launch --config_file training/accelerate/ddp.yaml -m training.train --recipe llama2-7b

Several processes (data-parallel; see training/loop.py): the main process builds the tokenizer
first and the others load it; only the main process writes metrics, checkpoints and final/.

Stages: load data -> tokenizer -> base model (scratch: build + pretrain on training text;
else load hub/local weights) -> instruction tuning (prompt masked, best validation loss kept,
early stopping, resumable step folders) -> final folder. Only the training split reaches
the tokenizer, pretraining, tuning and the retrieved prompt examples.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from core.records import Report
from training.checkpoints import (TrainingState, latest_checkpoint, load_checkpoint, prune_checkpoints,
                                  save_checkpoint, step_dir, write_model_side_files)
from core.build_lock import BUSY_EXIT_CODE, BuildBusy, build_lock
from training.config import TrainConfig, load_recipe, parse_set
from generation.prompting import PromptBuilder
from training.loop import MetricsLog, make_optimizer, run_loop, total_optimizer_steps
from training.weights_hash import build_environment, compare, state_dict_sha256
from core.home import home_dir
from core.paths import FINAL_META


@dataclass
class RunData:
    train: list[Report]
    validate: list[Report]


def load_data(cfg: TrainConfig) -> RunData:
    from reports.dataset import load_split

    d = cfg.data
    split = load_split(d.path)
    train = split.train[: d.max_train_reports] if d.max_train_reports else split.train
    val = split.validate[: d.max_validate_reports] if d.max_validate_reports else split.validate
    if not train or not val:
        raise ValueError(f"need training and validation reports; got {len(train)} and {len(val)}")
    return RunData(list(train), list(val))


def build_tokenizer(cfg: TrainConfig, run_dir: Path, train: list[Report]):
    from transformers import AutoTokenizer

    from training.tokenizer import prepare_pretrained_tokenizer, train_bpe_tokenizer

    if not cfg.from_scratch:
        return prepare_pretrained_tokenizer(AutoTokenizer.from_pretrained(cfg.model.name_or_path))
    folder = run_dir / "tokenizer"
    if (folder / "tokenizer.json").exists():
        tok = AutoTokenizer.from_pretrained(folder)
        tok.padding_side = "left"
        return tok
    tok = train_bpe_tokenizer(train, cfg.model.vocab_size)
    tok.save_pretrained(folder)
    return tok


def build_base_model(cfg: TrainConfig, run_dir: Path, tokenizer, train: list[Report], accelerator, log: MetricsLog):
    """Scratch: build a small Llama and pretrain it on training report text (saved as RUN/base)."""
    from training.base_model import build_scratch_model, count_parameters, load_pretrained_model
    from training.instruct_data import pack_texts
    from training.tokenizer import report_texts

    if not cfg.from_scratch:
        return load_pretrained_model(cfg.model.name_or_path, cfg.mixed_precision)
    base_dir = run_dir / "base"
    built = (base_dir / "config.json").exists()
    accelerator.wait_for_everyone()  # every process has looked before the main process writes base/
    if built:
        return load_pretrained_model(str(base_dir))
    model = build_scratch_model(cfg, tokenizer)
    log.write(stage="pretrain", event="model built", parameters=count_parameters(model)[1])
    if cfg.pretrain.epochs > 0:
        blocks = pack_texts(tokenizer, report_texts(train), cfg.pretrain.seq_len)
        spec = cfg.loop_spec("pretrain", accelerator.num_processes)
        opt, sched = make_optimizer(model, spec, total_optimizer_steps(len(blocks), spec, accelerator.num_processes))
        model, opt = accelerator.prepare(model, opt)
        run_loop(accelerator, model, opt, sched, blocks, spec, tokenizer.pad_token_id, log)
        model = accelerator.unwrap_model(model)
    if accelerator.is_main_process:
        model.save_pretrained(base_dir)
        write_model_side_files(base_dir, cfg, tokenizer)
    return model


def instruction_tune(cfg: TrainConfig, run_dir: Path, model, tokenizer, data: RunData, accelerator,
                     log: MetricsLog):
    """Tune on findings -> impression with retrieved training examples in the prompt; returns (model, state)."""
    from training.base_model import count_parameters, prepare_for_finetuning
    from training.instruct_data import encode_reports, tuning_reports

    d = cfg.data
    builder = PromptBuilder(data.train, d.retrieved_examples, d.max_example_words)
    tuning = tuning_reports(data.train, cfg.finetune.abnormal_oversample, cfg.finetune.restate_findings)
    train_ex = encode_reports(tokenizer, tuning, builder, d.max_seq_len, exclude_self=True)
    val_ex = encode_reports(tokenizer, data.validate, builder, d.max_seq_len, exclude_self=False)
    model = prepare_for_finetuning(model, cfg)
    trainable, total = count_parameters(model)
    spec = cfg.loop_spec("finetune", accelerator.num_processes)
    opt, sched = make_optimizer(model, spec, total_optimizer_steps(len(train_ex), spec, accelerator.num_processes))
    state = TrainingState()
    last = latest_checkpoint(run_dir)
    sharded = _is_fsdp(accelerator)
    if last is not None:
        # FSDP shards the optimizer state, which a step folder does not hold: weights resume, moments restart.
        state = load_checkpoint(last, model, None if sharded else opt, sched)
        log.write(stage="finetune", event="resumed", checkpoint=last.name, step=state.step)
    model, opt = accelerator.prepare(model, opt)
    log.write(stage="finetune", event="start", trainable_parameters=trainable, parameters=total,
              train_examples=len(train_ex), validate_examples=len(val_ex),
              mean_tokens=round(sum(len(e.input_ids) for e in train_ex) / len(train_ex), 1))

    def checkpoint(st: TrainingState) -> None:  # called on every process; only the main one writes
        weights = gathered_trainable_weights(accelerator, model)
        if not accelerator.is_main_process:
            return
        folder = save_checkpoint(run_dir, accelerator.unwrap_model(model), None if sharded else opt, sched, st,
                                 cfg, tokenizer, weights=weights)
        prune_checkpoints(run_dir, cfg.finetune.keep_checkpoints, st.best_step)
        log.write(stage="finetune", event="checkpoint saved", step=st.step, process=accelerator.process_index)
        print(f"checkpoint {folder.name} saved by process {accelerator.process_index} "
              f"of {accelerator.num_processes}", flush=True)

    state = run_loop(accelerator, model, opt, sched, train_ex, spec, tokenizer.pad_token_id, log,
                     state=state, validate=val_ex, on_checkpoint=checkpoint)
    return accelerator.unwrap_model(model), state


def _is_fsdp(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP


def gathered_trainable_weights(accelerator, model) -> dict | None:
    """The trainable weights as whole tensors on the main process, None on the others.

    Every process must call it: under FSDP the shards are gathered (a collective); otherwise each
    process holds the whole model and the main process just reads it.
    """
    unwrapped = accelerator.unwrap_model(model)
    names = {n.replace("_fsdp_wrapped_module.", "") for n, p in unwrapped.named_parameters() if p.requires_grad}
    if _is_fsdp(accelerator):
        full = accelerator.get_state_dict(model)  # FULL_STATE_DICT, gathered on the main process
    elif accelerator.is_main_process:
        full = {n: p for n, p in unwrapped.named_parameters() if p.requires_grad}
    if not accelerator.is_main_process:
        return None
    return {k: v.detach().contiguous().cpu() for k, v in full.items() if k in names}


def write_final(cfg: TrainConfig, run_dir: Path, model, tokenizer, state: TrainingState, data: RunData,
                sharded: bool = False) -> Path:
    """Best checkpoint -> RUN/final (merged weights, or the adapter plus where its base lives).

    sharded (FSDP): the model's own parameters are shards, so the adapter is written from the best
    step folder's gathered weights instead (LoRA with final_format adapter only; checked on start).
    """
    best = step_dir(run_dir, state.best_step) if state.best_step >= 0 else None
    if best is not None and not sharded:
        load_checkpoint(best, model)
    final = run_dir / "final"
    if final.exists():
        shutil.rmtree(final)
    base_ref = cfg.model.name_or_path or "../base"
    final_format = cfg.finetune.final_format if cfg.finetune.method == "lora" else "merged"
    if sharded:
        from safetensors.torch import load_file

        model.save_pretrained(final, state_dict=load_file(str(best / "trainable.safetensors")))
    else:
        if cfg.finetune.method == "lora" and cfg.finetune.final_format == "merged":
            model = model.merge_and_unload()
        model.save_pretrained(final)
    write_model_side_files(final, cfg, tokenizer)
    meta = {"format": final_format, "base_model": base_ref,
            "retrieved_examples": cfg.data.retrieved_examples, "max_example_words": cfg.data.max_example_words,
            "max_seq_len": cfg.data.max_seq_len, "data": cfg.data.path, "max_train_reports": cfg.data.max_train_reports,
            "train_reports": len(data.train), "best_step": state.best_step, "best_val_loss": state.best_val_loss,
            "recipe": cfg.name, "steps": state.step, "cut_by_time": state.cut_by_time,
            "weights_sha256": state_dict_sha256(final), "built_with": build_environment()}
    (final / FINAL_META).write_text(json.dumps(meta, indent=2))  # last: its presence marks a finished build
    return final


def main(cfg: TrainConfig) -> Path:
    from accelerate import Accelerator

    started = time.time()
    torch.set_num_threads(cfg.num_threads or os.cpu_count() or 1)
    torch.manual_seed(cfg.seed)
    accelerator = Accelerator(gradient_accumulation_steps=cfg.gradient_accumulation_steps(
        int(os.environ.get("WORLD_SIZE", "1"))), mixed_precision=cfg.mixed_precision)
    sharded = _is_fsdp(accelerator)
    if sharded and not (cfg.finetune.method == "lora" and cfg.finetune.final_format == "adapter"):
        raise SystemExit("error: FSDP runs write a LoRA adapter: use finetune.method: lora and finetune.final_format: adapter "
                         "(the llama2-7b recipe does), or DDP (training/accelerate/ddp.yaml)")
    run_dir = cfg.run_dir(home_dir())  # a relative output_dir is inside the home folder ($RADLLAMA_HOME)
    run_dir.mkdir(parents=True, exist_ok=True)
    # Only the main process writes (and so locks) the run folder; the others follow it.
    with build_lock(run_dir) if accelerator.is_main_process else contextlib.nullcontext():
        return _build(cfg, run_dir, accelerator, started)


def _build(cfg: TrainConfig, run_dir: Path, accelerator, started: float) -> Path:
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=accelerator.is_main_process)
    log.write(stage="start", recipe=cfg.name, config=cfg.to_dict(), num_processes=accelerator.num_processes)

    try:
        data = load_data(cfg)
    except (OSError, ValueError) as exc:  # MalformedFile, DataNotFound, no train/validate reports
        raise SystemExit(f"error: {exc}") from None
    with accelerator.main_process_first():  # the main process trains and saves it, the others load it
        tokenizer = build_tokenizer(cfg, run_dir, data.train)
    model = build_base_model(cfg, run_dir, tokenizer, data.train, accelerator, log)
    model, state = instruction_tune(cfg, run_dir, model, tokenizer, data, accelerator, log)
    final = (write_final(cfg, run_dir, model, tokenizer, state, data, sharded=_is_fsdp(accelerator))
             if accelerator.is_main_process else run_dir)
    accelerator.wait_for_everyone()
    minutes = (time.time() - started) / 60
    log.write(stage="done", final=str(final), best_step=state.best_step, best_val_loss=state.best_val_loss,
              minutes=round(minutes, 2))
    if accelerator.is_main_process:
        print(f"final model: {final} (best step {state.best_step}, val loss {state.best_val_loss:.4f}, "
              f"{minutes:.1f} min)")
        if state.cut_by_time:
            print(f"WARNING: training was CUT by --max-minutes {cfg.finetune.max_minutes:g} at step {state.step}; "
                  "rebuild without it for the reproducible model.")
    return final


def verify(cfg: TrainConfig, expect: str | None = None) -> None:
    """--verify: exit 0 when the final weights match the recorded (and expected) hash, 1 when not."""
    final = cfg.run_dir(home_dir()) / "final"
    try:
        ok, lines = compare(final, expect)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc} (build it first: python -m training.train --recipe {cfg.name})") from None
    print("\n".join(lines))
    raise SystemExit(0 if ok else 1)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="default", help="recipe name in training/recipes/ or a YAML path")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="set any recipe field, e.g. --set finetune.learning_rate=1e-4 --set optimizer.betas=[0.9,0.999] "
                        "(repeatable; values are YAML, checked against the field's type)")
    p.add_argument("--output-dir", help="same as --set output_dir=DIR")
    p.add_argument("--model", help="same as --set model.name_or_path=ID (hub id or local folder)")
    p.add_argument("--data", help="same as --set data.path=FILE (the report file)")
    p.add_argument("--max-minutes", type=float,
                   help="same as --set finetune.max_minutes=N: opt-in wall-clock cap on instruction tuning "
                        "(the model then depends on machine speed)")
    p.add_argument("--verify", nargs="?", const="", metavar="HASH",
                   help="train nothing: recompute the weights hash of the recipe's final/ and compare it with the "
                        "hash and environment recorded at build time (and with HASH, a prefix, when given)")
    return p.parse_args(argv)


def cli(argv=None) -> None:
    args = parse_args(argv)
    overrides = {k: v for k, v in (("output_dir", args.output_dir), ("model.name_or_path", args.model),
                                   ("data.path", args.data), ("finetune.max_minutes", args.max_minutes)) if v}
    try:
        overrides.update(parse_set(s) for s in args.sets)
        cfg = load_recipe(args.recipe, overrides)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if args.verify is not None:
        verify(cfg, args.verify or None)
    try:
        main(cfg)
    except BuildBusy as exc:
        print(f"error: {exc}", flush=True)
        raise SystemExit(BUSY_EXIT_CODE) from None


if __name__ == "__main__":
    cli()
