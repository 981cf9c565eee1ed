"""A byte-level BPE tokenizer trained on training-split report text only."""
from __future__ import annotations

from typing import Iterable, Sequence

from core.prompt import Example, build_prompt
from core.records import Report

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


def report_texts(reports: Sequence[Report]) -> list[str]:
    """The text a scratch model learns language from: findings then impression, per report."""
    return [f"Findings: {r.findings}\nImpression: {r.impression}" for r in reports]


def train_bpe_tokenizer(train_reports: Sequence[Report], vocab_size: int):
    """Train byte-level BPE on the training reports (plus the fixed prompt scaffold) and wrap it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    scaffold = build_prompt("findings", [Example("findings", "impression")])
    corpus: Iterable[str] = [*report_texts(train_reports), scaffold]
    tok.train_from_iterator(corpus, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)
    wrapped.padding_side = "left"
    return wrapped


def prepare_pretrained_tokenizer(tokenizer):
    """Hub tokenizers (Llama 2 has no pad token): pad with EOS, pad on the left for generation."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
