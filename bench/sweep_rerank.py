"""How the rerank weights of the default model were chosen: a sweep on the VALIDATION split.

    python -m bench.sweep_rerank [--model models/default/final] [--split validate] [--k 8]

Decodes greedily once, scores every candidate (the model's output, the impressions of the k nearest
training reports, and each of them completed with the omitted findings sentences) with the model's
mean token log-likelihood once, then replays the pick offline for each setting of
generation.rerank.RerankConfig: neighbours, similarity weight, consistency weights, completion.
Prints ROUGE-1, pooled top-5 and 14-observation clinical micro-F1, the omission and addition rates
and the share of verbatim training impressions per setting, beside the retrieval and lead baselines.
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
    from core.cleaning import clean_text, split_sentences
    from core.metrics import rouge_per_report
    from core.omissions import check, complete, negatives, positives
    from core.paths import default_model_dir
    from generation.base import GenerationSettings
    from generation.project_lm import load_checkpoint_generator
    from generation.rerank import mean_log_likelihoods
    from reports.dataset import load_split

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(default_model_dir()))
    p.add_argument("--split", choices=("validate", "test"), default="validate")
    p.add_argument("--k", type=int, default=8, help="largest number of neighbours tried")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    split = load_split()
    reports = split.validate if args.split == "validate" else split.test
    refs = [r.impression for r in reports]
    gen = load_checkpoint_generator(args.model, train=split.train, dtype="float32")
    greedy = GenerationSettings("greedy", 1, 96)
    findings = [gen.prepare(r.findings, greedy).text for r in reports]
    prompts = gen._prompts(findings, greedy.max_new_tokens)
    own = gen._decode(prompts, greedy)
    pools = gen.prompts.neighbour_impressions(findings, args.k)
    pairs: list[tuple[int, str]] = []
    for i, (o, pool) in enumerate(zip(own, pools, strict=True)):
        for c in dict.fromkeys([*pool, o]):
            pairs += [(i, c)] + ([(i, complete(findings[i], c))] if complete(findings[i], c) != c else [])
    pairs = list(dict.fromkeys(pairs))
    lls = dict(zip(pairs, mean_log_likelihoods(gen.model, gen.tokenizer, [prompts[i] for i, _ in pairs],
                                               [c for _, c in pairs]), strict=True))
    train_impressions = {clean_text(r.impression) for r in split.train}

    def show(name: str, preds: list[str]) -> None:
        r1 = 100 * np.mean([x["rouge1"] for x in rouge_per_report(preds, refs)])
        c = corpus_scores(preds, refs)
        om = 100 * np.mean([bool(check(f, x).omitted) for f, x in zip(findings, preds, strict=True)])
        ad = 100 * np.mean([bool(check(f, x).added) for f, x in zip(findings, preds, strict=True)])
        vb = 100 * np.mean([clean_text(x) in train_impressions for x in preds])
        print(f"{name:44s} R-1 {r1:5.1f}  top5 {100 * c['chexpert_micro_f1_top5']:5.1f}  "
              f"all14 {100 * c['chexpert_micro_f1']:5.1f}  omit {om:5.1f}  add {ad:5.1f}  verbatim {vb:5.1f}", flush=True)

    def pick(k: int, wsim: float, wom: float, wcon: float, wadd: float, comp: bool, score_completed: bool) -> list[str]:
        out = []
        for i, (o, pool) in enumerate(zip(own, pools, strict=True)):
            cands = dict(list(pool.items())[:k])
            cands.setdefault(o, 0.0)
            best, best_score = o, float("-inf")
            for c, sim in cands.items():
                text = complete(findings[i], c) if score_completed else c
                r = check(findings[i], text)
                score = (lls[(i, text)] + wsim * sim - wom * len(r.omitted) - wadd * len(r.added)
                         - wcon * len(negatives(text) & positives(findings[i])))
                if len(cands) > 1 and score > best_score:
                    best, best_score = text, score
            out.append(complete(findings[i], best) if comp else best)
        return out

    nearest = [next(iter(pool), "") for pool in gen.prompts.neighbour_impressions(findings, 1)]
    show("retrieval", nearest)
    show("lead", [next(iter(split_sentences(f)), f) for f in findings])
    show("greedy", own)
    show("greedy + completion", [complete(f, o) for f, o in zip(findings, own, strict=True)])
    show("retrieval + completion", [complete(f, o) for f, o in zip(findings, nearest, strict=True)])
    for k in sorted({4, args.k}):
        for wsim in (4, 8, 12):
            show(f"k={k} sim={wsim} (previous rerank)", pick(k, wsim, 0, 0, 0, False, False))
            for wom, wcon, wadd in ((0, 0, 0), (1, 1, 1), (2, 2, 2), (4, 4, 4), (0, 0, 2), (2, 0, 0), (0, 2, 0)):
                show(f"k={k} sim={wsim} om={wom} con={wcon} add={wadd} +completion",
                     pick(k, wsim, wom, wcon, wadd, True, False))
            for wadd in (0, 1, 2):
                show(f"k={k} sim={wsim} add={wadd} completed candidates scored", pick(k, wsim, 0, 0, wadd, True, True))


if __name__ == "__main__":
    main()
