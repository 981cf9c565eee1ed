"""A scripted causal LM for decoding tests: a real tiny Llama (built locally, KV cache and all) whose
weights make the next token depend on the last token only, with a ranked list of successors.

`scripted_llama(tok, paths)` reads `paths`, (context, continuation) pairs in order of preference:
after the context's last token the model writes the continuation's tokens and then EOS. A token
that several paths continue differently ranks its successors by path order (the first path's
successor is the greedy choice; the next is what the model writes when that one is banned).
Attention and MLP outputs are zero, so a position's logits are a function of its own token: token
a has the basis direction e_a as embedding, and lm_head row b holds (1 - 0.1 * rank) e_a for each a
that b follows. Tokens outside the script have a zero embedding (all logits equal).
"""
from __future__ import annotations

from core.records import Report

PHRASES = ("Large left pneumothorax. No acute cardiopulmonary abnormality.",
           "Large left pneumothorax. Otherwise, no acute cardiopulmonary abnormality.",
           "Mild cardiomegaly. No pneumothorax. Old fracture.",
           "No acute cardiopulmonary abnormality. Mild cardiomegaly.")


def scripted_tokenizer():
    """A byte-level BPE tokenizer (the project's trainer) that knows the script's words as whole tokens."""
    from training.tokenizer import train_bpe_tokenizer

    reports = [Report(id=str(i), findings=p, impression=p, source="tiny") for i, p in enumerate(PHRASES * 12)]
    return train_bpe_tokenizer(reports, vocab_size=700)


def scripted_llama(tok, paths: list[tuple[str, str]], hidden_size: int = 48):
    """The tiny Llama that writes each path's continuation after its context (see module doc)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    successors: dict[int, list[int]] = {}
    for context, continuation in paths:
        head = tok(context)["input_ids"]
        ids = tok(context + continuation)["input_ids"]
        if ids[:len(head)] != head:
            raise ValueError(f"the tokenizer merges {continuation!r} into its context")
        seq = [head[-1], *ids[len(head):], tok.eos_token_id]
        seen: dict[int, int] = {}
        for a, b in zip(seq, seq[1:], strict=False):
            if seen.setdefault(a, b) != b:
                raise ValueError(f"token {tok.convert_ids_to_tokens(a)!r} has two successors in {continuation!r}")
            if b not in successors.setdefault(a, []):
                successors[a].append(b)
    if len(successors) > hidden_size:
        raise ValueError("more scripted tokens than hidden dimensions")
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.model.norm.weight.fill_(1.0)
        for layer in model.model.layers:
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        for dim, (a, nexts) in enumerate(successors.items()):
            model.model.embed_tokens.weight[a, dim] = 1.0
            for rank, b in enumerate(nexts):
                model.lm_head.weight[b, dim] = 1.0 - 0.1 * rank
    return model
