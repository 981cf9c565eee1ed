"""Speed of the rule-based CheXpert labeler on real OpenI reports, and its label distribution.

    python -m bench.bench_clinical [--data PATH] [--n 3000]

Labels `n` texts (findings + impression of each OpenI report; when the set has fewer reports,
impressions alone fill up the rest) starting from an empty cache, again with no cache at all, and
once more warm; prints reports/second and the time against the 5 s target, then the
distribution of labels on the real impressions.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.clinical import OBSERVATIONS, clear_label_cache, label_reports
from reports.dataset import load_split

TARGET_SECONDS = 5.0


def bench_texts(reports, n: int) -> list[str]:
    texts = [f"{r.findings} {r.impression}" for r in reports]
    texts += [r.impression for r in reports]
    return texts[:n]


def distribution(labels: list[dict]) -> str:
    width = max(len(o) for o in OBSERVATIONS)
    lines = [f"{'observation':<{width}}  {'pos':>5}  {'neg':>5}  {'unc':>5}  {'null':>5}"]
    for o in OBSERVATIONS:
        c = Counter(row[o] for row in labels)
        lines.append(f"{o:<{width}}  {c[1]:>5}  {c[0]:>5}  {c[-1]:>5}  {c[None]:>5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="report file (default: the shared OpenI CSV)")
    parser.add_argument("--n", type=int, default=3000, help="texts to label (default 3000)")
    args = parser.parse_args(argv)

    split = load_split(args.data)
    reports = split.train + split.validate + split.test
    texts = bench_texts(reports, args.n)
    clear_label_cache()
    start = time.perf_counter()
    label_reports(texts)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    label_reports(texts)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for text in texts:  # every text labelled from scratch: the worst case
        clear_label_cache()
        label_reports([text])
    uncached = time.perf_counter() - start
    unique = len(set(texts))
    mean_chars = sum(map(len, texts)) / max(1, len(texts))
    print(f"labelled {len(texts)} texts ({unique} distinct, mean {mean_chars:.0f} characters) from {split.path}")
    print(f"cold cache: {cold:.3f} s = {len(texts) / cold:,.0f} reports/s = {1000 * cold / len(texts):.3f} ms/report"
          f" (target <= {TARGET_SECONDS:.0f} s for 3,000: {'met' if cold <= TARGET_SECONDS * len(texts) / 3000 else 'MISSED'})")
    print(f"no cache:   {uncached:.3f} s = {len(texts) / uncached:,.0f} reports/s = {1000 * uncached / len(texts):.3f} ms/report")
    print(f"warm cache: {warm:.3f} s (repeated texts, e.g. one reference scored against many systems)")
    print()
    impressions = [r.impression for r in reports]
    print(f"label distribution on {len(impressions)} OpenI impressions (1 positive, 0 negative, -1 uncertain, null)")
    print(distribution(label_reports(impressions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
