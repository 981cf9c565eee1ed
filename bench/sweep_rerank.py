"""How the rerank settings of the default model were chosen: a sweep on the VALIDATION split.

    python -m bench.sweep_rerank [--model models/default/final] [--split validate] [--depth 16]

Decodes greedily once, scores every candidate the shipped rerank can meet (the model's output, the
distinct impressions of the --depth nearest training reports, and each of them repaired by
core.consistency.complete_consistently) with the model's mean token log-likelihood once, in the dtype
the default system uses, then replays generation.rerank's pick offline for each setting: how deep to
search (the 4 nearest reports, as before, or --depth), how many distinct impressions to keep, the
similarity weight and the consensus weight (the minimum-Bayes-risk term). The consistency terms and
the final repair are the shipped ones. Prints ROUGE-1 and -L, pooled top-5 clinical micro-F1, the
omission and contradiction rates, verbatim training impressions and outputs with XXXX per setting.
The first line replays the shipped default and must equal `python -m training.evaluate --systems
default --split validate` (docs/consistency.md gives both).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> None:
    import numpy as np
    import torch

    from core.clinical import corpus_scores
    from core.cleaning import clean_text
    from core.consistency import check as consistency, complete_consistently, repair
    from core.metrics import rouge_per_report
    from core.omissions import check
    from core.paths import default_model_dir
    from generation.base import GenerationSettings
    from generation.project_lm import load_checkpoint_generator, resolve_dtype
    from generation.rerank import RerankConfig, consensus, consistency_penalty, mean_log_likelihoods, nearest_distinct
    from reports.dataset import load_split

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(default_model_dir()))
    p.add_argument("--split", choices=("validate", "test"), default="validate")
    p.add_argument("--depth", type=int, default=16, help="deepest search tried (nearest training reports)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    split = load_split()
    reports = split.validate if args.split == "validate" else split.test
    refs = [r.impression for r in reports]
    gen = load_checkpoint_generator(args.model, train=split.train, dtype=resolve_dtype(fallback="auto"))
    greedy = GenerationSettings("greedy", 1, 96)
    findings = [gen.prepare(r.findings, greedy).text for r in reports]
    prompts = gen._prompts(findings, greedy.max_new_tokens)
    own = gen._decode(prompts, greedy)
    shipped = RerankConfig()
    depths = sorted({4, args.depth, shipped.search_depth})
    by_depth = {d: gen.prompts.neighbour_impressions(findings, d) for d in depths}
    pairs: list[tuple[int, str]] = []
    for i, o in enumerate(own):
        for c in dict.fromkeys([*by_depth[depths[-1]][i], o]):  # the deepest search holds every shallower one
            pairs += [(i, c), (i, complete_consistently(findings[i], c))]
    pairs = list(dict.fromkeys(pairs))
    lls = dict(zip(pairs, mean_log_likelihoods(gen.model, gen.tokenizer, [prompts[i] for i, _ in pairs],
                                               [c for _, c in pairs]), strict=True))
    train_impressions = {clean_text(r.impression) for r in split.train}
    penalties: dict[tuple[int, str], float] = {}

    def show(name: str, preds: list[str]) -> None:
        rouge = rouge_per_report(preds, refs)
        r1 = 100 * np.mean([x["rouge1"] for x in rouge])
        rl = 100 * np.mean([x["rougeL"] for x in rouge])
        c = corpus_scores(preds, refs)
        om = 100 * np.mean([bool(check(f, x).omitted) for f, x in zip(findings, preds, strict=True)])
        co = 100 * np.mean([not consistency(x, f).consistent for f, x in zip(findings, preds, strict=True)])
        vb = 100 * np.mean([clean_text(x) in train_impressions for x in preds])
        xx = 100 * np.mean(["XXXX" in x for x in preds])
        print(f"{name:44s} R-1 {r1:5.2f}  R-L {rl:5.2f}  top5 {100 * c['chexpert_micro_f1_top5']:5.1f}  "
              f"omit {om:4.1f}  contradict {co:4.1f}  verbatim {vb:4.1f}  XXXX {xx:4.1f}", flush=True)

    def pick(depth: int, k: int, wsim: float, wcons: float) -> list[str]:
        out = []
        for i, pool in enumerate(nearest_distinct(by_depth[depth], k)):
            cands = dict(pool)
            cands.setdefault(own[i], 0.0)
            for source, sim in list(cands.items()):
                rewrite = complete_consistently(findings[i], source)
                cands[rewrite] = max(sim, cands.get(rewrite, float("-inf")))
            best, best_score = own[i], float("-inf")
            if len(cands) > 1:
                for text, sim in cands.items():
                    if (i, text) not in penalties:
                        penalties[(i, text)] = consistency_penalty(findings[i], text, shipped)
                    score = lls[(i, text)] + wsim * sim - penalties[(i, text)]
                    if wcons:
                        score += wcons * consensus(text, pool)
                    if score > best_score:
                        best, best_score = text, score
            out.append(repair(findings[i], best))
        return out

    show(f"shipped (depth {shipped.search_depth}, k {shipped.neighbours}, sim {shipped.similarity_weight:g}, "
         f"consensus {shipped.consensus_weight:g})",
         pick(shipped.search_depth, shipped.neighbours, shipped.similarity_weight, shipped.consensus_weight))
    show("greedy", own)
    for depth in depths:
        for k in (4, 6):
            for wsim in (6, 8, 10):
                for wcons in (0, 4, 8, 12):
                    show(f"depth {depth} k {k} sim {wsim} consensus {wcons}", pick(depth, k, wsim, wcons))


if __name__ == "__main__":
    main()
