"""How often impressions contradict themselves, on the reports whose findings are abnormal.

    python -m bench.consistency_rates [--split validate|test] [--per-report runs/eval/per_report.jsonl ...]

For the held-out split: the radiologists' own impressions (the references), the constant and
retrieval baselines, and retrieval repaired without a model (the omission completion alone, as
shipped before issue 20, and completion plus the consistency repair of core.consistency). With
--per-report (files written by `python -m training.evaluate --out DIR`), every system in them too.
Per system: ROUGE-1 on all reports, then on the reports whose findings state a clinically
significant observation (core.omissions.positives): the contradiction rate (core.consistency),
the older, cruder count of issue 20 (a finding and a whole-study normal sentence not containing
"otherwise", even in the same sentence), the omission rate and the share of outputs with the
de-identification mark XXXX. Pure Python; no model needed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def crude_contradiction(impression: str) -> bool:
    """Issue 20's first count: a significant finding and a normal sentence without "otherwise"."""
    from core.cleaning import clean_text, split_sentences
    from core.consistency import normal_scope
    from core.omissions import positives

    sentences = split_sentences(clean_text(impression))
    return bool(positives(impression)) and any(normal_scope(s) and "otherwise" not in s.lower() for s in sentences)


def rates(findings: list[str], refs: list[str], preds: list[str]) -> dict[str, float]:
    import numpy as np

    from core.consistency import check as consistency
    from core.metrics import rouge_per_report
    from core.omissions import check, positives

    abnormal = [i for i, f in enumerate(findings) if positives(f)]
    r1 = float(np.mean([x["rouge1"] for x in rouge_per_report(preds, refs)]))
    return {
        "R-1": 100 * r1,
        "n abnormal": len(abnormal),
        "contradict %": 100 * float(np.mean([not consistency(preds[i], findings[i]).consistent for i in abnormal])),
        "crude %": 100 * float(np.mean([crude_contradiction(preds[i]) for i in abnormal])),
        "omit %": 100 * float(np.mean([bool(check(findings[i], preds[i]).omitted) for i in abnormal])),
        "XXXX %": 100 * float(np.mean(["XXXX" in preds[i] for i in abnormal])),
        "contradict % (all)": 100 * float(np.mean([not consistency(p, f).consistent for f, p in zip(findings, preds, strict=True)])),
    }


def main(argv: list[str] | None = None) -> None:
    from core.consistency import complete_consistently
    from core.omissions import complete
    from generation.baselines import RetrievalIndex
    from reports.dataset import load_split

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=("validate", "test"), default="validate")
    p.add_argument("--per-report", type=Path, nargs="*", default=[],
                   help="per_report.jsonl files of training.evaluate --out (same split)")
    args = p.parse_args(argv)
    split = load_split()
    reports = split.validate if args.split == "validate" else split.test
    findings = [r.findings for r in reports]
    refs = [r.impression for r in reports]
    index = RetrievalIndex(list(split.train))
    nearest = [split.train[n[0]].impression for n in index.nearest(findings, k=1)]
    systems = {
        "references (radiologists)": refs,
        "constant": ["No acute cardiopulmonary abnormality."] * len(refs),
        "retrieval": nearest,
        "retrieval + completion (omissions only)": [complete(f, t) for f, t in zip(findings, nearest, strict=True)],
        "retrieval + completion + consistency": [complete_consistently(f, t) for f, t in zip(findings, nearest, strict=True)],
    }
    by_id = {r.id: i for i, r in enumerate(reports)}
    for path in args.per_report:
        found: dict[str, list[str | None]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            found.setdefault(row["system"], [None] * len(reports))[by_id[row["id"]]] = row["prediction"]
        for name, preds in found.items():
            if any(p is None for p in preds):
                raise SystemExit(f"{path}: {name} lacks some {args.split} reports (was it run on another split?)")
            systems[f"{name} ({path.parent.name})"] = preds
    print(f"{args.split} split, n = {len(reports)}")
    header = None
    for name, preds in systems.items():
        row = rates(findings, refs, preds)
        if header is None:
            header = list(row)
            print(f"{'system':48s} " + "  ".join(f"{h:>18s}" for h in header))
        print(f"{name:48s} " + "  ".join(f"{row[h]:18.1f}" if isinstance(row[h], float) else f"{row[h]:18d}"
                                         for h in header), flush=True)


if __name__ == "__main__":
    main()
