"""Token-level training examples: packed report text for pretraining, masked prompts for tuning."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from core.records import Report
from generation.prompting import PromptBuilder, fit_prompt
from generation.sequences import IGNORE_INDEX, Encoded, collate, encode_example


def encode_reports(tokenizer, reports: Sequence[Report], builder: PromptBuilder, max_seq_len: int,
                   exclude_self: bool) -> list[Encoded]:
    """Instruction-tuning examples; prompts lose retrieved examples until prompt+target fit max_seq_len."""
    out = []
    findings = [r.findings for r in reports]
    for r, prompt_examples in zip(reports, builder.examples_for(findings, exclude_self=exclude_self), strict=True):
        target_len = len(tokenizer(r.impression, add_special_tokens=False)["input_ids"]) + 1
        budget = max(16, max_seq_len - min(target_len, max_seq_len // 3))
        enc = encode_example(tokenizer, fit_prompt(tokenizer, r.findings, prompt_examples, budget), r.impression)
        out.append(Encoded(enc.input_ids[:max_seq_len], enc.labels[:max_seq_len]))
    return out


def tuning_reports(reports: Sequence[Report], abnormal_oversample: int = 1, restate_findings: bool = False
                   ) -> list[Report]:
    """The instruction-tuning reports: with `restate_findings` each impression repaired to keep every
    significant finding of its findings without contradiction (core.consistency.complete_consistently);
    reports with abnormal findings (core.omissions.positives) repeated `abnormal_oversample` times."""
    from dataclasses import replace

    from core.consistency import complete_consistently
    from core.omissions import positives

    out: list[Report] = []
    for r in reports:
        abnormal = bool(positives(r.findings))
        if restate_findings and abnormal:
            r = replace(r, impression=complete_consistently(r.findings, r.impression))
        out.extend([r] * (abnormal_oversample if abnormal else 1))
    return out


def pack_texts(tokenizer, texts: Sequence[str], seq_len: int) -> list[Encoded]:
    """Concatenate texts (each ended by EOS) and cut into seq_len blocks for causal-LM pretraining."""
    stream: list[int] = []
    for t in texts:
        stream += tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    blocks = [stream[i:i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]
    return [Encoded(b, list(b)) for b in blocks]


def batch_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(summed cross-entropy over labelled tokens, their count) for one collated batch."""
    keep = int(batch["logits_to_keep"])
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"], logits_to_keep=keep).logits[:, :-1]
    labels = batch["labels"][:, -keep + 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                                             ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int((labels != IGNORE_INDEX).sum())


def epoch_batches(examples: Sequence[Encoded], batch_size: int, seed: int, epoch: int,
                  pad_id: int, shuffle: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Deterministic batches for one epoch (order depends only on seed and epoch, so resume can skip)."""
    order = list(range(len(examples)))
    if shuffle:
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(examples), generator=g).tolist()
    for i in range(0, len(order), batch_size):
        yield collate([examples[j] for j in order[i:i + batch_size]], pad_id)


def batches_per_epoch(n_examples: int, batch_size: int) -> int:
    return (n_examples + batch_size - 1) // batch_size
