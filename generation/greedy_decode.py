"""Greedy decoding over a left-padded batch that drops each row from the batch once it has
written EOS, so the last steps run only on the reports still being written.

Same tokens as `model.generate(do_sample=False, num_beams=1)` on each prompt alone: positions
count only real tokens, pads are masked, and the next token is the argmax of the last logits.
Optionally a row may be kept from opening with given token sequences (`banned`: the last token
of a banned sequence is masked only after the row has written the rest of it, so banning the word
"No", tokenized "N" + "o" after a newline, leaves "Nodular" = "N" + "odular" possible), and rows
may have their own token limits (`max_new_tokens` as a list). Strategy "constrained" of
generation.project_lm uses both.
The KV cache gets room for every new token after the prompt, so a step writes one column in
place instead of copying the whole cache (as the default DynamicCache's concatenation does).
"""
from __future__ import annotations

from typing import Collection, Sequence

import torch


class _Preallocated:
    """One cache layer's keys and values in buffers with room for `extra` more tokens."""

    def __init__(self, layer, extra: int) -> None:
        rows, heads, length, dim = layer.keys.shape
        self.layer, self.start, self.end = layer, 0, length
        self.keys = layer.keys.new_empty(rows, heads, length + extra, dim)
        self.values = layer.values.new_empty(rows, heads, length + extra, dim)
        self.keys[:, :, :length] = layer.keys
        self.values[:, :, :length] = layer.values
        layer.update = self.update  # the cache calls layer.update(key_states, value_states, ...)
        self._expose()

    def _expose(self) -> None:
        self.layer.keys = self.keys[:, :, self.start:self.end]
        self.layer.values = self.values[:, :, self.start:self.end]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        new = key_states.shape[-2]
        self.keys[:, :, self.end:self.end + new] = key_states
        self.values[:, :, self.end:self.end + new] = value_states
        self.end += new
        self._expose()
        return self.layer.keys, self.layer.values

    def keep(self, rows: torch.Tensor, drop_front: int) -> None:
        """Keep only `rows`, and forget the first `drop_front` columns (padding for all of them)."""
        self.keys, self.values = self.keys[rows], self.values[rows]
        self.start += drop_front
        self._expose()


def _limits(max_new_tokens: int | Sequence[int], rows: int) -> list[int]:
    if isinstance(max_new_tokens, int):
        return [max_new_tokens] * rows
    limits = [int(n) for n in max_new_tokens]
    if len(limits) != rows:
        raise ValueError(f"{len(limits)} token limits for {rows} rows")
    if any(n < 1 for n in limits):
        raise ValueError("a per-row token limit must be at least 1")
    return limits


def _mask_banned(logits: torch.Tensor, alive: list[int], written: list[list[int]],
                 banned: Sequence[Collection[tuple[int, ...]]], step: int) -> None:
    """Set to -inf, in place, each alive row's token that would complete one of its banned sequences."""
    for i, row in enumerate(alive):
        for seq in banned[row]:
            if len(seq) == step + 1 and tuple(written[row]) == tuple(seq[:step]):
                logits[i, -1, seq[step]] = float("-inf")


@torch.inference_mode()
def greedy_token_ids(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int | Sequence[int],
                     eos_token_id: int, banned: Sequence[Collection[tuple[int, ...]]] | None = None) -> list[list[int]]:
    """The new token ids of each left-padded row, ending with EOS where the model wrote one.

    max_new_tokens: one limit for all rows, or one per row. banned (default None: nothing banned): per
    row, token sequences the row may not begin with (a 1-tuple bans a token at the first new step).
    """
    from transformers import DynamicCache

    rows = input_ids.shape[0]
    written: list[list[int]] = [[] for _ in range(rows)]
    limits = _limits(max_new_tokens, rows)
    if banned is not None and len(banned) != rows:
        raise ValueError(f"{len(banned)} banned sets for {rows} rows")
    longest_ban = max((len(seq) for bans in banned or () for seq in bans), default=0)
    most = max(limits, default=0)
    if most < 1 or rows == 0:
        return written
    mask = attention_mask.long()
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache,
                   use_cache=True, logits_to_keep=1).logits
    layers = [_Preallocated(layer, most) for layer in cache.layers]
    alive = torch.arange(rows, device=input_ids.device)
    limit = torch.tensor(limits, device=input_ids.device)
    next_position = positions[:, -1:] + 1
    mask = torch.cat([mask, mask.new_ones(rows, most)], dim=1)  # sliced to the cache length
    length = input_ids.shape[1]
    for step in range(most):
        if step < longest_ban:
            logits = logits.clone()
            _mask_banned(logits, alive.tolist(), written, banned, step)
        tokens = logits[:, -1].argmax(dim=-1)
        for row, token in zip(alive.tolist(), tokens.tolist(), strict=True):
            written[row].append(token)
        if step == most - 1:
            break
        going = (tokens != eos_token_id) & (limit[alive] > step + 1)
        if not bool(going.all()):
            if not bool(going.any()):
                break
            keep = going.nonzero().squeeze(1)
            alive, tokens, mask, next_position = alive[keep], tokens[keep], mask[keep], next_position[keep]
            drop_front = int(mask[:, :length].argmax(dim=1).min())  # leading columns now padding for all
            for layer in layers:
                layer.keep(keep, drop_front)
            mask, length = mask[:, drop_front:], length - drop_front
        length += 1
        logits = model(input_ids=tokens[:, None], attention_mask=mask[:, :length], position_ids=next_position,
                       cache=cache, use_cache=True).logits
        next_position = next_position + 1
    return written
