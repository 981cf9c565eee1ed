"""generation.greedy_decode: the batch decoder that drops finished rows writes exactly what
`model.generate` writes for each prompt alone, including rows that stop early at EOS."""
from __future__ import annotations

import pytest
import torch

from tests.support.tiny_lm import tiny_llama, tiny_reports, tiny_tokenizer
from generation.greedy_decode import greedy_token_ids

PROMPTS = ["Findings: Heart size normal. Lungs clear.\nImpression:",
           "Findings: Large right pleural effusion. Heart size is normal. No pneumothorax. Sternotomy wires.\nImpression:",
           "Findings: Cardiomegaly.\nImpression:",
           "Findings: Left lower lobe opacity. Heart normal. Hyperexpanded lungs. No consolidation.\nImpression:"]


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def model_and_tokenizer():
    tok = tiny_tokenizer(tiny_reports(16))
    tok.pad_token = tok.pad_token or tok.eos_token
    model = tiny_llama(tok, seed=5).eval()
    noise = torch.Generator().manual_seed(5)
    with torch.no_grad():  # a freshly built tiny model writes one token forever; noise makes rows differ
        for weights in model.parameters():
            weights.add_(torch.randn(weights.shape, generator=noise) * 0.5)
    return model, tok


def _alone(model, tok, prompt: str, max_new: int, eos: int) -> list[int]:
    enc = tok([prompt], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, num_beams=1, eos_token_id=eos,
                             pad_token_id=tok.pad_token_id)
    return out[0, enc["input_ids"].shape[1]:].tolist()


def _batched(model, tok, max_new: int, eos: int) -> list[list[int]]:
    enc = tok(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    assert int((enc["attention_mask"] == 0).sum()) > 0  # the batch really is left-padded
    return greedy_token_ids(model, enc["input_ids"], enc["attention_mask"], max_new, eos)


def test_matches_generate_alone(model_and_tokenizer):
    model, tok = model_and_tokenizer
    batched = _batched(model, tok, 9, tok.eos_token_id)
    assert any(ids[-1] == tok.eos_token_id and len(ids) < 9 for ids in batched)  # one row stopped early
    for prompt, ids in zip(PROMPTS, batched):
        assert ids == _alone(model, tok, prompt, 9, tok.eos_token_id)


def test_rows_that_stop_early_leave_the_batch_and_the_others_are_unchanged(model_and_tokenizer):
    """Make EOS a token some rows write mid-way: they stop there, the rest go on to max_new_tokens."""
    model, tok = model_and_tokenizer
    free = _batched(model, tok, 12, tok.eos_token_id)
    stop = free[2][3]  # row 2 writes it at step 4, so it leaves the batch then
    assert stop != tok.eos_token_id
    batched = _batched(model, tok, 12, stop)
    lengths = [len(ids) for ids in batched]
    assert min(lengths) <= 4 < max(lengths) == 12
    for prompt, ids in zip(PROMPTS, batched):
        assert ids == _alone(model, tok, prompt, 12, stop)
        assert stop not in ids[:-1]


def test_nothing_to_write(model_and_tokenizer):
    model, tok = model_and_tokenizer
    assert _batched(model, tok, 0, tok.eos_token_id) == [[] for _ in PROMPTS]


def _banned(model, tok, max_new, banned, limits=None):
    enc = tok(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    return greedy_token_ids(model, enc["input_ids"], enc["attention_mask"], limits or max_new, tok.eos_token_id,
                            banned)


def test_a_token_banned_at_the_first_step_gives_the_next_best_and_the_rest_as_generate_writes_it(model_and_tokenizer):
    model, tok = model_and_tokenizer
    free = _batched(model, tok, 8, tok.eos_token_id)
    banned = [{(free[0][0],)}, set(), set(), set()]
    out = _banned(model, tok, 8, banned)
    assert out[1:] == free[1:]  # rows without a ban are unchanged
    ids = tok([PROMPTS[0]], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, -1].clone()
        logits[free[0][0]] = float("-inf")
        first = int(logits.argmax())
        start = torch.cat([ids, torch.tensor([[first]])], dim=1)
        rest = model.generate(input_ids=start, attention_mask=torch.ones_like(start), max_new_tokens=7,
                              do_sample=False, num_beams=1, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id)[0, start.shape[1]:].tolist()
    assert out[0][0] == first != free[0][0]
    assert out[0] == [first, *rest]


def test_a_banned_sequence_masks_its_last_token_only_after_the_rest(model_and_tokenizer):
    """Banning (t0, t1), the row's own first two tokens: it still writes t0, then anything but t1."""
    model, tok = model_and_tokenizer
    free = _batched(model, tok, 8, tok.eos_token_id)
    t0, t1 = free[3][:2]
    out = _banned(model, tok, 8, [set(), set(), set(), {(t0, t1)}])
    assert out[:3] == free[:3]
    assert out[3][0] == t0 and out[3][1] != t1
    # a sequence whose first token the row does not write bans nothing
    other = next(t for t in range(len(tok)) if t != t0)
    assert _banned(model, tok, 8, [set(), set(), set(), {(other, t1)}]) == free


def test_per_row_limits_cut_each_row(model_and_tokenizer):
    model, tok = model_and_tokenizer
    free = _batched(model, tok, 9, tok.eos_token_id)
    limits = [2, 9, 1, 5]
    out = _banned(model, tok, 9, None, limits)
    assert out == [ids[:n] for ids, n in zip(free, limits, strict=True)]
    with pytest.raises(ValueError, match="token limits"):
        _banned(model, tok, 9, None, [2, 3])
    with pytest.raises(ValueError, match="banned sets"):
        _banned(model, tok, 9, [set()])
