"""Candidate reranking, the `rerank` decoding strategy of the LM generator.

For each report the candidates are the model's own greedy impression and the distinct
impressions of its nearest training reports. Each candidate is scored by the fine-tuned
model's mean log-likelihood per token (candidate + EOS, given the same prompt generation
used), plus `similarity_weight` x the TF-IDF cosine similarity of the training findings that
carry it (0 for text only the model wrote), plus `consensus_weight` x the candidate's agreement with
the retrieved impressions (its ROUGE-1 F1 against each, weighted by their similarity: a minimum-Bayes-risk
term that favours what the radiologists of similar studies wrote alike), minus a clinical-consistency term when the findings
are given: `omission_weight` per significant positive observation of the findings the candidate
leaves out, `contradiction_weight` per one it denies, `addition_weight` per positive observation it
adds (core.omissions), and `inconsistency_weight` per contradiction (core.consistency: a finding
beside an unqualified whole-study normal statement, a denied finding). With `score_rewrites`, each
candidate's repaired rewrite joins the candidates (core.consistency.complete_consistently: the
omitted findings sentences in front in impression style, most important first, normal statements
qualified by "Otherwise," after the findings, denials dropped), with its source's similarity. The
best-scoring candidate is returned; with `complete_omissions` it is repaired the same way, so an
abnormal finding is never dropped and the answer never contradicts itself, and no de-identification
mark (XXXX) is left in it (core.consistency.repair).

All candidates of a batch of reports go through the model in left-padded forward passes,
masked exactly like training targets (generation.sequences), so nothing is sampled and the
result is deterministic. The weights were chosen on the validation split (README;
`python -m bench.sweep_rerank` replays the sweep).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class RerankConfig:
    """How the `rerank` strategy builds and scores its candidates."""

    neighbours: int = 4
    """Distinct impressions of the nearest training reports that join the model's greedy output as candidates."""
    search_depth: int = 16
    """Nearest training reports searched for those `neighbours` distinct impressions (many nearest reports share
    one impression, "No acute cardiopulmonary abnormality."; searching deeper gives the pick real alternatives)."""
    similarity_weight: float = 8.0
    """Weight of the retrieval cosine similarity (0..1) added to the mean token log-likelihood."""
    batch_size: int = 32
    """(prompt, candidate) sequences per forward pass."""
    omission_weight: float = 1.0
    """Subtracted per significant positive observation of the findings the candidate leaves out."""
    contradiction_weight: float = 1.0
    """Subtracted per significant positive observation of the findings the candidate denies, and per
    observation the candidate asserts that the findings deny."""
    addition_weight: float = 1.0
    """Subtracted per significant positive observation the candidate adds (not in the findings)."""
    complete_omissions: bool = True
    """Repair the chosen text: the findings sentences of still-omitted positive observations in front of it,
    contradictions removed, no XXXX (core.consistency.repair)."""
    inconsistency_weight: float = 1.0
    """Subtracted per contradiction core.consistency finds in the candidate (with its findings)."""
    score_rewrites: bool = True
    """Let the model also score each candidate's repaired rewrite (with the similarity of its source)."""
    consensus_weight: float = 8.0
    """Weight of the candidate's similarity-weighted mean ROUGE-1 F1 against the retrieved impressions
    (minimum-Bayes-risk consensus; 0 turns it off). Chosen on validation: docs/consistency.md."""

    def __post_init__(self) -> None:
        if not 0 <= self.neighbours <= 32:
            raise ValueError("neighbours must lie in 0..32")
        if not self.neighbours <= self.search_depth <= 256:
            raise ValueError("search_depth must lie in neighbours..256")
        for name in ("similarity_weight", "omission_weight", "contradiction_weight", "addition_weight",
                     "inconsistency_weight", "consensus_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


def mean_log_likelihoods(model, tokenizer, prompts: Sequence[str], targets: Sequence[str],
                         batch_size: int = 32) -> list[float]:
    """Mean log-probability per token of each target (+ EOS) after its prompt."""
    import torch

    from generation.sequences import IGNORE_INDEX, collate, encode_example

    encoded = [encode_example(tokenizer, p, t) for p, t in zip(prompts, targets, strict=True)]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    out = [0.0] * len(encoded)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = collate([encoded[i] for i in idx], tokenizer.pad_token_id)
        keep = int(batch["logits_to_keep"])
        with torch.inference_mode():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           position_ids=batch["position_ids"], logits_to_keep=keep).logits[:, :-1].float()
        labels = batch["labels"][:, -keep + 1:]
        labelled = labels != IGNORE_INDEX
        token_lp = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        sums = (token_lp * labelled).sum(-1)
        counts = labelled.sum(-1).clamp(min=1)
        for row, i in enumerate(idx):
            out[i] = float(sums[row] / counts[row])
    return out


def consistency_penalty(findings: str, candidate: str, config: RerankConfig) -> float:
    """The clinical-consistency term subtracted from a candidate's score (0 with the weights at 0)."""
    if not (config.omission_weight or config.contradiction_weight or config.addition_weight
            or config.inconsistency_weight):
        return 0.0
    from core import consistency
    from core.omissions import check, negatives, positives

    result = check(findings, candidate)
    found, said = positives(findings), positives(candidate)
    denied = len(negatives(candidate) & found) + len(said & (negatives(findings) - found))
    contradictions = len(consistency.check(candidate, findings).contradictions) if config.inconsistency_weight else 0
    return (config.omission_weight * len(result.omitted) + config.contradiction_weight * denied
            + config.addition_weight * len(result.added) + config.inconsistency_weight * contradictions)


def nearest_distinct(pools: Sequence[dict[str, float]], k: int) -> list[dict[str, float]]:
    """The first k impressions of each pool (generation.prompting's neighbour_impressions: most similar first)."""
    return [dict(list(pool.items())[:k]) for pool in pools]


def consensus(candidate: str, support: dict[str, float]) -> float:
    """Mean ROUGE-1 F1 of `candidate` against the texts of `support`, weighted by their similarity
    (0 when there is no support or every weight is 0)."""
    total = sum(w for w in support.values() if w > 0)
    if not total:
        return 0.0
    from core.metrics import rouge1_f1

    return sum(w * rouge1_f1(candidate, text) for text, w in support.items() if w > 0) / total


def rerank(model, tokenizer, prompts: Sequence[str], own: Sequence[str], retrieved: Sequence[dict[str, float]],
           config: RerankConfig = RerankConfig(), findings: Sequence[str] | None = None) -> list[str]:
    """The best candidate per report: `own` (the model's output) or a retrieved impression.

    retrieved[i] maps each retrieved impression to its similarity (generation.prompting).
    Reports with a single candidate skip the model. `findings` (one per report) turns on the
    clinical-consistency term and the completion of omitted observations set in `config`.
    """
    if findings is not None and len(findings) != len(own):
        raise ValueError(f"{len(findings)} findings for {len(own)} reports")
    candidates: list[dict[str, float]] = []
    for i, (text, neighbours) in enumerate(zip(own, retrieved, strict=True)):
        pool = dict(neighbours)
        pool.setdefault(text, 0.0)
        if findings is not None and config.score_rewrites:
            from core.consistency import complete_consistently

            for source, sim in list(pool.items()):
                rewrite = complete_consistently(findings[i], source)
                pool[rewrite] = max(sim, pool.get(rewrite, float("-inf")))
        candidates.append(pool)
    flat = [(i, text) for i, pool in enumerate(candidates) if len(pool) > 1 for text in pool]
    scores = mean_log_likelihoods(model, tokenizer, [prompts[i] for i, _ in flat], [t for _, t in flat],
                                  config.batch_size)
    best = list(own)
    best_score = [float("-inf")] * len(own)
    for (i, text), lp in zip(flat, scores, strict=True):
        score = lp + config.similarity_weight * candidates[i][text]
        if config.consensus_weight:
            score += config.consensus_weight * consensus(text, retrieved[i])
        if findings is not None:
            score -= consistency_penalty(findings[i], text, config)
        if score > best_score[i]:
            best[i], best_score[i] = text, score
    if findings is not None and config.complete_omissions:
        from core.consistency import repair

        best = [repair(f, text) for f, text in zip(findings, best, strict=True)]
    return best
