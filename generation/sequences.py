"""Token sequences shared by training and inference: prompt + target with the prompt masked, left-padded batches.

The reranker scores candidates with exactly the masking and padding training used, so both import these.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


def encode_example(tokenizer, prompt: str, target: str) -> Encoded:
    """Prompt + target + EOS; the prompt's labels are IGNORE_INDEX so the loss covers the target only."""
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return Encoded(prompt_ids + target_ids, [IGNORE_INDEX] * len(prompt_ids) + target_ids)


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad (as at inference); padding is masked out of attention and loss.

    position_ids restart at 0 after the padding, exactly as `generate` computes them, and
    `logits_to_keep` covers only the positions that predict a labelled token, so the output
    layer never runs over the (masked) prompt.
    """
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    first_label = width
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, width - n:] = torch.tensor(e.input_ids)
        labels[i, width - n:] = torch.tensor(e.labels)
        mask[i, width - n:] = 1
        labelled = [j for j, lab in enumerate(e.labels) if lab != IGNORE_INDEX]
        if labelled:
            first_label = min(first_label, width - n + labelled[0])
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    keep = max(2, width - first_label + 1)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids, "labels": labels,
            "logits_to_keep": torch.tensor(min(keep, width))}
