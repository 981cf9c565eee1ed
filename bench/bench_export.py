"""Benchmark: export speed against two targets, measured side by side in one run.

    python bench/bench_export.py [--ratings 100000] [--runs 3] [--baseline /path/to/other/checkout]
                                 [--compare-writers] [--keep DIR]

Targets (docs/analysis.md):
  A. the export of the simulated study (`python -m rating.simulate` defaults: 384 ratings) takes at
     most 3x the time of `python -c "import rating.export"` (both fresh processes, interleaved);
  B. the export of --ratings synthetic ratings (500 cases x 4 systems, 50 raters) takes at most 10 s,
     end to end in a fresh process (`python -m rating.export`: imports, load, ROUGE once per
     distinct output, every summary table including metric validity, ICC and leave one reader
     out, every export file and report.md).
Each measurement is the median of --runs fresh processes, as wall time and as CPU time (user +
system of the child process, which a loaded machine inflates far less than wall time); the
machine's load average is printed before and after (a shared machine: state it with any number
you quote). --baseline times the
same commands in another checkout (e.g. the previous version) interleaved with this one, so
before and after are measured under the same load. --compare-writers adds the XLSX writer
against openpyxl and pyarrow's CSV writer against pandas.
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


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _cpu_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_process(root: Path, args: list[str]) -> tuple[float, str, float]:
    """(wall seconds, stdout, CPU seconds) of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    cpu = _cpu_children()
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed in {root}:\n{proc.stderr}")
    return time.perf_counter() - t, proc.stdout.strip(), _cpu_children() - cpu


def _measure(roots: dict[str, Path], commands: dict[str, list[str]], runs: int) -> dict[tuple[str, str], list]:
    """Every (checkout, command) run `runs` times, interleaved so that load changes hit all alike."""
    times: dict[tuple[str, str], list] = {(r, c): [] for r in roots for c in commands}
    for _ in range(runs):
        for r, root in roots.items():
            for c, args in commands.items():
                times[(r, c)].append(_timed_process(root, args))
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratings", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3, help="fresh-process runs of every command (median reported)")
    p.add_argument("--baseline", default=None, help="another checkout to time side by side (e.g. the previous "
                                                   "version)")
    p.add_argument("--compare-writers", action="store_true", help="also time the XLSX and CSV writers against "
                                                                  "openpyxl and pandas")
    p.add_argument("--openpyxl-rows", type=int, default=20_000, help="rows for the openpyxl comparison")
    p.add_argument("--keep", default=None, help="keep the databases and exports in this folder")
    a = p.parse_args()
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_export_"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"start: {_load()}")
    sim_db, big_db = tmp / "simulated.db", tmp / "bench.db"
    for db in (sim_db, big_db):
        if db.exists():
            db.unlink()
    _timed_process(ROOT, ["-m", "rating.simulate", "--db", str(sim_db)])
    t = time.perf_counter()
    study_id = build_database(big_db, a.ratings)
    print(f"built {big_db} with {a.ratings:,} ratings in {time.perf_counter() - t:.1f} s")

    roots = {"this": ROOT, **({"baseline": Path(a.baseline).resolve()} if a.baseline else {})}
    commands = {"import": ["-c", "import rating.export"],
                "simulated": ["-m", "rating.export", "--db", str(sim_db), "--out", str(tmp / "sim_out")],
                "big": ["-m", "rating.export", "--db", str(big_db), "--out", str(tmp / "big_out"), "--study",
                        str(study_id)]}
    times = _measure(roots, commands, a.runs)
    for r in roots:
        for kind, k in (("wall", 0), ("CPU", 2)):
            imp = _median([run[k] for run in times[(r, "import")]])
            sim = _median([run[k] for run in times[(r, "simulated")]])
            big = _median([run[k] for run in times[(r, "big")]])
            print(f"[{r}] {roots[r]} ({kind} time)")
            print(f"  A. import rating.export {imp:.2f} s | export of the simulated study {sim:.2f} s | ratio "
                  f"{sim / imp:.2f}x -> {'OK' if sim <= 3 * imp else 'OVER'} the 3x target")
            print(f"  B. export of {a.ratings:,} ratings {big:.2f} s -> {'OK' if big <= 10 else 'OVER'} the 10 s "
                  "target")
        for c in ("simulated", "big"):
            out = times[(r, c)][-1][1]
            steps = out[out.find('"seconds"'):] if '"seconds"' in out else out[-300:]
            print(f"     {c}, last run: {steps}")
    print(f"end: {_load()}")

    if a.compare_writers:
        from rating.analysis.load import load_outputs, load_ratings

        factory = make_session_factory(prepare_database(str(big_db)))
        with factory() as s:
            ratings = load_ratings(s, study_id, load_outputs(s, study_id))
        print("side by side:")
        side_by_side(ratings, tmp, a.openpyxl_rows)
    if not a.keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
