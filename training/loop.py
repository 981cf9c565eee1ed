"""The optimisation loop shared by pretraining and instruction tuning (accelerate-driven).

Progress bars show loss and tokens/s; every log line also goes to RUN/metrics.jsonl.
Instruction tuning evaluates validation loss every `eval_every` optimizer steps, saves a
step folder, keeps the best, and stops early after `patience` evaluations without progress.

Several processes (`accelerate launch --num_processes N`, DDP/FSDP): process i takes micro-batches
i, i+N, i+2N, ... of each epoch's deterministic order (each epoch is cut to a multiple of N
batches so every process takes as many steps), gradients are averaged across processes, and with
the accumulation scaled down by N one optimizer step sees the same examples as in one process.
Logged losses are averaged over the processes; only the main process writes metrics and
checkpoints; decisions that end the loop (time budget) are agreed by all processes.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from training.checkpoints import TrainingState
from training.config import LoopSpec
from training.instruct_data import Encoded, batch_loss, batches_per_epoch, collate, epoch_batches


class MetricsLog:
    """Append-only JSON lines: one object per logged event (enabled=False: this process writes nothing)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = path
        self.enabled = enabled
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record) -> None:
        if not self.enabled:
            return
        record.setdefault("time", round(time.time(), 3))
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


def lr_factor(step: int, total_steps: int, warmup_ratio: float, min_lr_ratio: float) -> float:
    """Learning rate of optimizer step `step` (0-based) as a fraction of the peak.

    Linear warm-up over max(1, total x warmup_ratio) steps reaching the peak at the last warm-up
    step ((step + 1) / warmup), then cosine decay to min_lr_ratio at total_steps. After the warm-up
    this is transformers' get_cosine_with_min_lr_schedule_with_warmup (tests/test_training.py
    compares them). Not that function itself: its warm-up is step / warmup, so the first step
    trains at learning rate 0 (a wasted step), and switching would change every built model's
    weights and the recorded weight hashes (docs/reproducible-builds.md) for no gain.
    """
    warmup = max(1, int(total_steps * warmup_ratio))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model, spec: LoopSpec, total_steps: int):
    """AdamW (no decay on biases and norms) and the stage's learning-rate schedule (lr_factor)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=spec.learning_rate, betas=spec.betas)

    def schedule(step: int) -> float:
        return lr_factor(step, total_steps, spec.warmup_ratio, spec.min_lr_ratio)

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


def used_batches_per_epoch(n_examples: int, batch_size: int, num_processes: int = 1) -> int:
    """Micro-batches of an epoch that are trained on: all of them, cut to a multiple of the process count."""
    per_epoch = batches_per_epoch(n_examples, batch_size)
    return max(num_processes, per_epoch - per_epoch % num_processes)


def total_optimizer_steps(n_examples: int, spec: LoopSpec, num_processes: int = 1) -> int:
    per_epoch = used_batches_per_epoch(n_examples, spec.batch_size, num_processes)
    steps = max(1, int(per_epoch * spec.epochs) // (spec.accumulation * num_processes))
    return min(steps, spec.max_steps) if spec.max_steps else steps


def _all_agree(accelerator, flag: bool) -> bool:
    """True on every process when it is true on any (one process alone must not leave the loop)."""
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor([int(flag)], device=accelerator.device), reduction="sum").item())


def _mean_over_processes(accelerator, value: float) -> float:
    if accelerator.num_processes == 1:
        return value
    return float(accelerator.reduce(torch.tensor([float(value)], device=accelerator.device), reduction="mean").item())


@torch.no_grad()
def evaluation_loss(model, examples: Sequence[Encoded], batch_size: int, pad_id: int, device) -> float:
    """Mean loss per target token over `examples`."""
    model.eval()
    total, tokens = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collate(examples[i:i + batch_size], pad_id).items()}
        loss, n = batch_loss(model, batch)
        total += float(loss)
        tokens += n
    model.train()
    return total / max(1, tokens)


def run_loop(accelerator, model, optimizer, scheduler, train: Sequence[Encoded], spec: LoopSpec, pad_id: int,
             log: MetricsLog, state: TrainingState | None = None, validate: Sequence[Encoded] = (),
             on_checkpoint: Callable[[TrainingState], None] | None = None) -> TrainingState:
    """Train until the epochs, the time budget or the patience run out; returns the final state."""
    state = state or TrainingState()
    accelerator.gradient_accumulation_steps = spec.accumulation  # this stage's accumulation, not the run's
    total_steps = total_optimizer_steps(len(train), spec, accelerator.num_processes)
    per_epoch = used_batches_per_epoch(len(train), spec.batch_size, accelerator.num_processes)
    micro_done = state.step * spec.accumulation * accelerator.num_processes
    started = time.time()
    model.train()
    bar = tqdm(total=total_steps, initial=state.step, desc=spec.stage, disable=not accelerator.is_local_main_process)
    window_loss, window_tokens, window_start, window_n = 0.0, 0, time.time(), 0
    epoch = micro_done // per_epoch
    while state.step < total_steps and not state.stopped:
        skip = micro_done - epoch * per_epoch
        for b_idx, batch in enumerate(epoch_batches(train, spec.batch_size, spec.seed, epoch, pad_id)):
            if b_idx >= per_epoch:
                break
            if b_idx < skip or b_idx % accelerator.num_processes != accelerator.process_index:
                continue
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.accumulate(model):
                summed, n_tokens = batch_loss(model, batch)
                loss = summed / max(1, n_tokens)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], spec.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            window_loss += float(loss.detach())
            window_n += 1
            window_tokens += int(batch["attention_mask"].sum())
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            state.step += 1
            bar.update(1)
            if state.step % spec.log_every == 0 or state.step == total_steps:
                elapsed = max(1e-6, time.time() - window_start)
                rate = _mean_over_processes(accelerator, window_tokens) * accelerator.num_processes / elapsed
                mean = _mean_over_processes(accelerator, window_loss / max(1, window_n))
                bar.set_postfix(loss=f"{mean:.3f}", tok_s=f"{rate:.0f}")
                log.write(stage=spec.stage, step=state.step, epoch=round(epoch + b_idx / per_epoch, 3), loss=mean,
                          lr=scheduler.get_last_lr()[0], tokens_per_s=round(rate, 1))
                window_loss, window_tokens, window_start, window_n = 0.0, 0, time.time(), 0
            out_of_time = _all_agree(accelerator, spec.max_minutes is not None
                                     and (time.time() - started) / 60 > spec.max_minutes)
            if validate and (state.step % spec.eval_every == 0 or state.step == total_steps or out_of_time):
                _evaluate_and_checkpoint(accelerator, model, validate, spec, pad_id, log, state, on_checkpoint)
            if out_of_time:
                log.write(stage=spec.stage, step=state.step, event="time budget spent", minutes=spec.max_minutes)
                tqdm.write(f"WARNING: [{spec.stage}] the --max-minutes {spec.max_minutes:g} wall-clock cap CUT TRAINING at "
                           f"step {state.step} of {total_steps}: this model depends on how fast this machine was "
                           "and differs from the step-bounded build.")
                state.stopped = True
                state.cut_by_time = True
            if state.stopped or state.step >= total_steps:
                break
        epoch += 1
    bar.close()
    return state


def _evaluate_and_checkpoint(accelerator, model, validate, spec, pad_id, log, state, on_checkpoint) -> None:
    if state.step == state.best_step:
        return
    val = _mean_over_processes(accelerator, evaluation_loss(model, validate, spec.batch_size * 2, pad_id,
                                                            accelerator.device))  # every process decides alike
    improved = val < state.best_val_loss
    if improved:
        state.best_val_loss, state.best_step, state.evals_without_improvement = val, state.step, 0
    else:
        state.evals_without_improvement += 1
    if spec.patience and state.evals_without_improvement >= spec.patience:
        state.stopped = True
    log.write(stage=spec.stage, step=state.step, val_loss=val, best_val_loss=state.best_val_loss,
              best_step=state.best_step, early_stop=state.stopped)
    tqdm.write(f"[{spec.stage}] step {state.step}: val_loss {val:.4f} (best {state.best_val_loss:.4f} "
               f"@ {state.best_step}){' - early stop' if state.stopped else ''}")
    if on_checkpoint is not None:
        on_checkpoint(state)  # on every process (FSDP gathers the weights); only the main process writes
