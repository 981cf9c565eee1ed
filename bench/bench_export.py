"""Benchmark: exporting 100,000 ratings (target: at most 5 s).

    python bench/bench_export.py [--ratings 100000] [--keep DIR]

Builds a synthetic SQLite study with bulk inserts (500 cases x 4 systems = 2,000 outputs,
50 raters rating every output: 100,000 ratings), then measures, in one run:
  1. the export CLI end to end in a fresh process (`python -m rating.export`, imports, load,
     ROUGE once per distinct output, every summary, every export file), --runs times (median and
     fastest; the machine is shared), next to the CLI's start-up alone (`--help`);
  2. the same export in this process, step by step (cold ROUGE cache, modules already imported);
  3. side by side, the XLSX of the ratings sheet with this project's writer, with openpyxl
     (write_only) and with pandas.to_csv against pyarrow's CSV writer, on the same rows.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
from sqlalchemy import insert

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, Case, Output, Rater, Rating, Study, System

WORDS = ("no acute cardiopulmonary abnormality pleural effusion right left lower lobe pneumonia heart size "
         "normal mild cardiomegaly stable nodule atelectasis opacity clear lungs").split()


def build_database(path: Path, n_ratings: int, n_systems: int = 4, n_raters: int = 50, seed: int = 0) -> int:
    """A study where every rater rates every output of n_ratings / (n_raters * n_systems) cases."""
    n_cases = max(1, n_ratings // (n_raters * n_systems))
    rng = np.random.default_rng(seed)
    factory = make_session_factory(prepare_database(str(path)))
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS, size=n))

    with unit_of_work(factory) as s:
        study = Study(name="bench export", seed=seed, simulated=True, config={})
        s.add(study)
        s.flush()
        s.execute(insert(Case), [{"id": i + 1, "study_id": study.id, "findings": text(20), "reference_impression":
                                  text(8), "source_dataset": "bench", "source_id": str(i)} for i in range(n_cases)])
        s.execute(insert(System), [{"id": j + 1, "study_id": study.id, "name": f"system-{j + 1}", "kind": "bench"}
                                   for j in range(n_systems)])
        outs = []
        for i in range(n_cases):
            for j in range(n_systems):
                t = text(int(rng.integers(3, 12)))
                outs.append({"id": i * n_systems + j + 1, "case_id": i + 1, "system_id": j + 1, "text": t,
                             "text_hash": hashlib.sha256(t.encode()).hexdigest()})
        s.execute(insert(Output), outs)
        s.execute(insert(Rater), [{"id": r + 1, "study_id": study.id, "name": f"Bench Rater {r + 1}",
                                   "pseudonym": f"R{r + 1:02d}", "token_hash": f"hash-{r}"} for r in range(n_raters)])
        assignments, ratings = [], []
        scores = rng.integers(1, 6, size=(n_raters * n_cases * n_systems, len(CRITERIA)))
        k = 0
        for r in range(n_raters):
            for i in range(n_cases):
                aid = r * n_cases + i + 1
                order = [i * n_systems + j + 1 for j in range(n_systems)]
                assignments.append({"id": aid, "rater_id": r + 1, "case_id": i + 1, "position": i,
                                    "label_order": order})
                for pos, oid in enumerate(order):
                    ts = now + timedelta(seconds=k * 7)
                    ratings.append({"assignment_id": aid, "rater_id": r + 1, "output_id": oid, "label": "ABCD"[pos],
                                    "display_position": pos, **dict(zip(CRITERIA, map(int, scores[k]), strict=True)),
                                    "comment": "" if k % 10 else "check laterality", "significant_error": k % 23 == 0,
                                    "started_at": ts, "submitted_at": ts + timedelta(seconds=30),
                                    "updated_at": ts + timedelta(seconds=30), "time_on_task_s": 30.0})
                    k += 1
        s.execute(insert(Assignment), assignments)
        s.execute(insert(Rating), ratings)
    return study.id


def side_by_side(ratings, out: Path, n_rows: int) -> None:
    """Ratings sheet alone: this writer vs openpyxl write_only; CSV: pyarrow vs pandas."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from openpyxl import Workbook

    from rating.analysis.xlsx import write_xlsx

    part = ratings.head(n_rows)
    t = time.perf_counter()
    write_xlsx(out / "fast.xlsx", {"ratings": part})
    fast = time.perf_counter() - t
    t = time.perf_counter()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("ratings")
    ws.append(list(part.columns))
    plain = part.copy()
    for c in ("started_at", "submitted_at", "updated_at"):
        plain[c] = plain[c].dt.tz_localize(None)
    for row in plain.astype(object).where(plain.notna(), None).itertuples(index=False):
        ws.append(list(row))
    wb.save(out / "openpyxl.xlsx")
    slow = time.perf_counter() - t
    print(f"  XLSX ratings sheet, {len(part):,} rows: this writer {fast:.2f} s | openpyxl write_only {slow:.2f} s "
          f"| ratio {slow / fast:.1f}x")
    t = time.perf_counter()
    pa_csv.write_csv(pa.Table.from_pandas(ratings, preserve_index=False), out / "arrow.csv")
    fast = time.perf_counter() - t
    t = time.perf_counter()
    ratings.to_csv(out / "pandas.csv", index=False)
    slow = time.perf_counter() - t
    print(f"  CSV, {len(ratings):,} rows: pyarrow {fast:.2f} s | pandas.to_csv {slow:.2f} s | ratio {slow / fast:.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratings", type=int, default=100_000)
    p.add_argument("--openpyxl-rows", type=int, default=20_000, help="rows for the openpyxl comparison")
    p.add_argument("--keep", default=None, help="keep the database and exports in this folder")
    p.add_argument("--runs", type=int, default=3, help="fresh-process runs of the CLI")
    a = p.parse_args()
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_export_"))
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "bench.db"
    if db.exists():
        db.unlink()
    t = time.perf_counter()
    study_id = build_database(db, a.ratings)
    print(f"built {db} with {a.ratings:,} ratings in {time.perf_counter() - t:.1f} s")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> tuple[float, str]:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "rating.export", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        return time.perf_counter() - t, proc.stdout.strip()

    full = [cli("--db", str(db), "--out", str(tmp / "cli"), "--study", str(study_id)) for _ in range(a.runs)]
    startup = sorted(cli("--help")[0] for _ in range(a.runs))
    times = sorted(t for t, _ in full)
    median = times[len(times) // 2]
    print(f"1. CLI end to end (fresh process), {a.runs} runs: median {median:.2f} s, fastest {times[0]:.2f} s  "
          f"-> {'OK' if median <= 5 else 'OVER'} the 5 s target; start-up alone (--help): median "
          f"{startup[len(startup) // 2]:.2f} s")
    print(f"   CLI's own step timings (last run): {full[-1][1]}")

    from rating.analysis.export import export_study
    from rating.analysis.load import load_outputs, load_ratings

    # The CLI imports these only for the step that needs them; import them here so that the
    # in-process numbers below time the export work, not start-up.
    import core.clinical, core.metrics, krippendorff, scipy.stats, rating.analysis.figures, rating.analysis.xlsx  # noqa: E401,F401

    factory = make_session_factory(prepare_database(str(db)))
    with factory() as s:
        t = time.perf_counter()
        result = export_study(s, study_id, tmp / "inproc")
        total = time.perf_counter() - t
        t = time.perf_counter()
        outputs = load_outputs(s, study_id)
        ratings = load_ratings(s, study_id, outputs)
        warm_load = time.perf_counter() - t
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in result.seconds.items())
    print(f"2. in process: {total:.2f} s for {result.n_ratings:,} ratings ({steps})")
    sec = result.seconds
    print(f"   files written concurrently in {sec['files_wall']:.2f} s (each alone: CSV {sec['csv']:.2f}, Parquet "
          f"{sec['parquet']:.2f}, XLSX {sec['xlsx']:.2f}, figure {sec['figure']:.2f} s)")
    print(f"   load with warm ROUGE cache: {warm_load:.2f} s "
          f"({len(outputs):,} distinct outputs scored once each)")
    print("3. side by side:")
    side_by_side(ratings, tmp, a.openpyxl_rows)
    if not a.keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
