"""Benchmark: what neutralising formula cells (rating.csv_safety) adds to writing ratings.csv.

    python bench/bench_csv_safety.py [--rows 100000] [--repeats 5]

Builds a ratings-shaped Arrow table (ids, five scores, float metrics, timestamps, text columns
with about 1% formula-like comments), then times, side by side in one run, pyarrow's CSV writer
on the raw table and on the neutralised one (best of --repeats each), and prints the ratio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from rating.csv_safety import neutralise_formulas


def ratings_table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    comments = np.where(rng.random(n) < 0.01, '=HYPERLINK("http://x.example","click")',
                        np.where(rng.random(n) < 0.2, "Misses a key finding.", ""))
    columns = {"rating_id": np.arange(n), "study_name": np.full(n, "pilot"), "system": rng.choice(["a", "b", "c"], n),
               **{c: rng.integers(1, 6, n) for c in ("understandability", "coherence", "relevance", "conciseness",
                                                      "clinical_utility")},
               "comment": comments, "time_on_task_s": rng.lognormal(3.5, 0.4, n), "rouge1": rng.random(n),
               "submitted_at": pa.array(np.datetime64("2025-01-06") + rng.integers(0, 10**6, n).astype("timedelta64[s]"))}
    return pa.table(columns)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    table = ratings_table(a.rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ratings.csv"
        raw = best_of(a.repeats, lambda: pa_csv.write_csv(table, out))
        safe = best_of(a.repeats, lambda: pa_csv.write_csv(neutralise_formulas(table), out))
    print(f"{a.rows} rows: write_csv {raw * 1000:.1f} ms; neutralise + write_csv {safe * 1000:.1f} ms; "
          f"ratio {safe / raw:.2f}x (+{(safe - raw) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
