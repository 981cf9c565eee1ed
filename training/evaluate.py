"""Score impression generators on a test set: `python -m training.evaluate`.

    python -m training.evaluate --systems constant,lead,retrieval [--format table|json] [--out DIR]

Test reports: the --split (test) part of --data (default: the shared OpenI CSV, or $RADLLAMA_DATA),
or every report of --test-file (its --split part when the file carries an official split).
Training reports (what retrieval and models may use): the train split of --data, or --train-file.
Every metric in training.metric_registry is computed per report (ROUGE F1 with stemming first),
averaged with a 95% bootstrap interval, and each system is compared with the best baseline by a
paired bootstrap. Everything is reported twice: on all test reports and on the "unseen findings"
subset, whose findings never occur verbatim (after normalisation) in the training reports.

stdout carries only the result (the table, or one JSON object with --format json); progress
bars and notes go to stderr. Exit code 2 with a one-line message on bad input or missing data.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from generation.base import STRATEGIES, GenerationSettings
from core.metrics import ROUGE_KEYS, STEMMING_NOTE, Estimate, bootstrap_indices, bootstrap_mean, paired_bootstrap_pvalue
from core.records import Report
from core.splits import SPLITS, SplitSpec, findings_key, select
from generation import registry as generators
from generation.base import FindingsError, GenerationError
from generation.registry import UnknownSystem
from generation.service import SystemService
from reports import FORMATS, detect_format, load_reports
from reports.dataset import load_split
from training.metric_registry import Metric, active_metrics, columns, score_reports
from core.paths import DataNotFound

log = logging.getLogger("training.evaluate")

DEFAULT_SYSTEMS = "constant,lead,retrieval"
SUBSET_TITLES = {
    "all": "All test reports",
    "unseen": "Unseen findings subset (test reports whose findings never occur in training)",
}


class EvaluationError(ValueError):
    """Bad input to the evaluation (unknown system, empty test set, ...): reported without a traceback."""


@dataclass
class TestSet:
    """The reports to score and the reports systems may learn from, with a description of each."""

    test: list[Report]
    train: list[Report]
    test_label: str
    train_label: str
    notes: list[str] = field(default_factory=list)


@dataclass
class SystemRun:
    """One system's outputs and per-report scores on the test set."""

    name: str
    predictions: list[str]
    scores: list[dict[str, float]]
    generate_seconds: float
    score_seconds: float
    description: dict


@dataclass
class SubsetSummary:
    """Means with intervals for every system and column on one subset of the test reports."""

    subset: str
    indices: list[int]
    estimates: dict[str, dict[str, Estimate]]
    pvalues: dict[str, dict[str, float]]
    best_baseline: str | None
    corpus: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.indices)


# ----------------------------------------------------------------------------------------- data

def _official_part(reports: list[Report], split: str) -> list[Report]:
    """The `split` part of a file that carries an official split; all reports otherwise."""
    if reports and all(r.split in SPLITS for r in reports):
        return select(reports, split)
    return reports


def load_test_set(args: argparse.Namespace) -> TestSet:
    spec = SplitSpec(seed=args.seed, group_identical_findings=not args.no_group_findings)
    notes: list[str] = []
    default = None
    need_default = args.test_file is None or args.train_file is None
    if need_default:
        try:
            default = load_split(args.data, args.data_format, spec, remove_deid=args.remove_deid,
                                 encoding=args.encoding)
            notes.append(f"data {default.path} ({default.fmt}): {default.load.summary()}")
        except DataNotFound:
            if args.test_file is None:
                raise
            notes.append("no default data found: systems get no training reports (pass --train-file)")

    if args.test_file is not None:
        fmt = args.test_format or detect_format(args.test_file)
        loaded = load_reports(args.test_file, fmt, **_load_options(args, fmt))
        notes.append(f"test file {args.test_file} ({fmt}): {loaded.summary()}")
        test = _official_part(loaded.reports, args.split)
        part = f", official {args.split} split" if len(test) != len(loaded.reports) else ""
        test_label = f"{args.test_file} ({fmt}{part})"
    else:
        test = default.validate if args.split == "validate" else default.test
        grouping = "identical findings kept together" if spec.group_identical_findings else "findings not grouped"
        test_label = f"{default.path} ({default.fmt}), {args.split} split (seed {spec.seed}, {grouping})"

    if args.train_file is not None:
        fmt = args.train_format or detect_format(args.train_file)
        loaded = load_reports(args.train_file, fmt, **_load_options(args, fmt))
        notes.append(f"train file {args.train_file} ({fmt}): {loaded.summary()}")
        train = _official_part(loaded.reports, "train")
        train_label = f"{args.train_file} ({fmt})"
    elif default is not None:
        train = default.train
        train_label = f"{default.path} ({default.fmt}), train split"
    else:
        train, train_label = [], "none"

    if args.limit is not None:
        test = test[: args.limit]
    if not test:
        raise EvaluationError(f"the test set is empty: {test_label}")
    return TestSet(test, train, test_label, train_label, notes)


def _load_options(args: argparse.Namespace, fmt: str) -> dict:
    options: dict = {"remove_deid": args.remove_deid, "encoding": args.encoding}
    if fmt == "mimic" and args.mimic_split_file:
        options["split_file"] = args.mimic_split_file
    return options


def unseen_indices(test: Sequence[Report], train: Sequence[Report]) -> list[int]:
    """Positions of test reports whose normalised findings never occur in training (core.splits.unseen_in)."""
    seen = {findings_key(r.findings) for r in train}
    return [i for i, r in enumerate(test) if findings_key(r.findings) not in seen]


# ----------------------------------------------------------------------------------- generation

def generate_all(name: str, systems: SystemService, findings: Sequence[str], settings: GenerationSettings,
                 batch_size: int, progress: bool) -> tuple[list[str], float, dict]:
    """Build system `name` and write one impression per findings text, with a progress bar."""
    try:
        generator = systems.get(name)
    except (UnknownSystem, GenerationError) as exc:
        raise EvaluationError(str(exc)) from None
    start = time.perf_counter()
    predictions: list[str] = []
    with tqdm(total=len(findings), desc=f"generate {name}", unit="report", file=sys.stderr,
              disable=not progress, leave=False) as bar:
        for lo in range(0, len(findings), batch_size):
            batch = list(findings[lo: lo + batch_size])
            try:
                out = systems.generate(name, batch, settings)
            except (GenerationError, FindingsError) as exc:
                raise EvaluationError(f"{name}: {exc}") from None
            predictions.extend(str(p) for p in out)
            bar.update(len(batch))
    return predictions, time.perf_counter() - start, generator.describe()


def score_all(name: str, metrics: Sequence[Metric], predictions: Sequence[str], references: Sequence[str],
              remove_deid: bool, progress: bool, chunk: int = 256, context: dict | None = None
              ) -> tuple[list[dict[str, float]], float]:
    """Per-report metric columns; context: "findings" (per report, sliced with the chunks) and
    "train_impressions" (a set), for the metrics that need them."""
    context = context or {}
    start = time.perf_counter()
    rows: list[dict[str, float]] = []
    with tqdm(total=len(predictions), desc=f"score {name}", unit="report", file=sys.stderr,
              disable=not progress, leave=False) as bar:
        for lo in range(0, len(predictions), chunk):
            part = {k: (v[lo: lo + chunk] if k == "findings" else v) for k, v in context.items()}
            rows.extend(score_reports(metrics, predictions[lo: lo + chunk], references[lo: lo + chunk], remove_deid,
                                      part))
            bar.update(min(chunk, len(predictions) - lo))
    return rows, time.perf_counter() - start


# ---------------------------------------------------------------------------------- statistics

def summarise(runs: Sequence[SystemRun], indices: list[int], cols: Sequence[str], metrics: Sequence[Metric],
              references: Sequence[str], subset: str, n_resamples: int, seed: int,
              remove_deid: bool = False) -> SubsetSummary:
    """Means, 95% CIs and paired p-values against the best baseline (by ROUGE-1) on one subset."""
    n = len(indices)
    resamples = bootstrap_indices(n, n_resamples, seed) if n and n_resamples > 0 else None
    pick = np.asarray(indices, dtype=int)
    values = {run.name: {c: np.asarray([run.scores[i][c] for i in pick], dtype=float) for c in cols} for run in runs}
    estimates: dict[str, dict[str, Estimate]] = {}
    for run in runs:
        estimates[run.name] = {}
        for c in cols:
            arr = values[run.name][c]
            if n == 0:
                estimates[run.name][c] = Estimate(math.nan, math.nan, math.nan)
            elif resamples is None:
                estimates[run.name][c] = Estimate(float(arr.mean()), math.nan, math.nan)
            else:
                estimates[run.name][c] = bootstrap_mean(arr, resamples)
    baselines = [r.name for r in runs if r.name in generators.BASELINES]
    best = max(baselines, key=lambda s: estimates[s]["rouge1"].mean) if baselines and n else None
    pvalues: dict[str, dict[str, float]] = {}
    for run in runs:
        if best is None or run.name == best or resamples is None:
            pvalues[run.name] = {c: math.nan for c in cols}
        else:
            pvalues[run.name] = {c: paired_bootstrap_pvalue(values[run.name][c], values[best][c], resamples)
                                 for c in cols}
    corpus: dict[str, dict[str, float]] = {}
    for metric in metrics:
        if metric.corpus is None or not n:
            continue
        refs = [references[i] for i in indices]
        for run in runs:
            corpus.setdefault(run.name, {}).update(
                metric.corpus([run.predictions[i] for i in indices], refs, remove_deid=remove_deid))
    return SubsetSummary(subset, list(indices), estimates, pvalues, best, corpus)


# ------------------------------------------------------------------------------------- output

def _pct(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{100 * x:5.1f}"


def _cell(e: Estimate) -> str:
    if math.isnan(e.low):
        return _pct(e.mean)
    return f"{_pct(e.mean)} [{_pct(e.low).strip()}, {_pct(e.high).strip()}]"


def _pvalue(p: float) -> str:
    if math.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_table(summary: SubsetSummary, cols: Sequence[str], metrics: Sequence[Metric]) -> str:
    """ROUGE columns with their 95% CI, other metric columns as means (their CIs are in results.csv)."""
    headers = {c: m.header(c) for m in metrics for c in m.columns}
    with_ci = set(ROUGE_KEYS)
    title = f"{SUBSET_TITLES[summary.subset]}, n = {summary.n}"
    if summary.n == 0:
        return f"{title}\n  (no reports in this subset)"
    rows = [["System", *[headers.get(c, c) for c in cols], "p (R-1)"]]
    for name, est in summary.estimates.items():
        mark = " *" if name == summary.best_baseline else ""
        cells = [_cell(est[c]) if c in with_ci else _pct(est[c].mean) for c in cols]
        rows.append([name + mark, *cells, _pvalue(summary.pvalues[name]["rouge1"])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title]
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    for name, values in summary.corpus.items():
        lines.append(f"  {name}, corpus level (pooled counts): "
                     + ", ".join(f"{headers.get(k, k)} {_pct(v).strip()}" for k, v in values.items()))
    return "\n".join(lines)


def render_report(data: TestSet, summaries: Sequence[SubsetSummary], runs: Sequence[SystemRun], cols: Sequence[str],
                  metrics: Sequence[Metric], n_resamples: int, wall: float) -> str:
    best = summaries[0].best_baseline
    lines = [
        f"Test set: {data.test_label}; n = {len(data.test)}",
        f"Training reports (retrieval/models): {data.train_label}; n = {len(data.train)}",
        f"{STEMMING_NOTE}; mean over reports x 100, [95% bootstrap CI, {n_resamples} resamples]."
        + (" Other metrics: means x 100 (CIs in results.csv)." if len(cols) > len(ROUGE_KEYS) else ""),
        f"p (R-1): paired bootstrap p-value of ROUGE-1 against the best baseline by ROUGE-1"
        f"{f' (* = {best} on all reports)' if best else ' (no baseline evaluated)'}.",
        "",
    ]
    for summary in summaries:
        lines.append(format_table(summary, cols, metrics))
        if summary.subset == "unseen" and summary.n == len(data.test):
            lines.append("  (every test report is unseen: the split keeps identical findings together)")
        lines.append("")
    lines.append("Time: " + ", ".join(f"{r.name} generate {r.generate_seconds:.1f}s score {r.score_seconds:.1f}s"
                                      for r in runs) + f"; total wall time {wall:.1f}s")
    return "\n".join(lines)


def json_result(summary: SubsetSummary, cols: Sequence[str]) -> dict:
    """{"<system>": {"rouge1": F1 in 0..1, ..., "n": reports}} for one subset.

    Every metric column is the mean over reports; metrics with corpus-level values add them as
    "<column>_corpus".
    """
    out: dict[str, dict] = {}
    for name, est in summary.estimates.items():
        out[name] = {c: est[c].mean for c in cols}
        out[name].update({f"{k}_corpus": v for k, v in summary.corpus.get(name, {}).items()})
        out[name]["n"] = summary.n
    return out


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "system"


def write_outputs(out: Path, data: TestSet, runs: Sequence[SystemRun], summaries: Sequence[SubsetSummary],
                  cols: Sequence[str], unseen: set[int], run_info: dict) -> None:
    """results.csv (means, CIs, p-values per subset and system), per_report.jsonl, predictions/, run.json."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        corpus_cols = sorted({k for s in summaries for values in s.corpus.values() for k in values})
        header = ["subset", "system", "n", "best_baseline"]
        for c in cols:
            header += [c, f"{c}_ci_low", f"{c}_ci_high", f"{c}_p_vs_best_baseline"]
        header += [f"{c}_corpus" for c in corpus_cols]
        writer.writerow(header)
        for s in summaries:
            for name, est in s.estimates.items():
                row: list = [s.subset, name, s.n, s.best_baseline or ""]
                for c in cols:
                    row += [est[c].mean, est[c].low, est[c].high, s.pvalues[name][c]]
                row += [s.corpus.get(name, {}).get(c, "") for c in corpus_cols]
                writer.writerow(row)
    with open(out / "per_report.jsonl", "w", encoding="utf-8") as fh:
        for run in runs:
            for i, (report, prediction, scores) in enumerate(zip(data.test, run.predictions, run.scores, strict=True)):
                fh.write(json.dumps({"id": report.id, "source": report.source, "system": run.name,
                                     "unseen": i in unseen, "findings": report.findings,
                                     "prediction": prediction, "reference": report.impression, **scores}) + "\n")
    pred_dir = out / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for run in runs:
        with open(pred_dir / f"{_safe_name(run.name)}.jsonl", "w", encoding="utf-8") as fh:
            for report, prediction in zip(data.test, run.predictions, strict=True):
                fh.write(json.dumps({"id": report.id, "findings": report.findings, "prediction": prediction}) + "\n")
    (out / "run.json").write_text(json.dumps(run_info, indent=2, default=str), encoding="utf-8")


# ----------------------------------------------------------------------------------------- CLI

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--systems", default=DEFAULT_SYSTEMS,
                   help="comma-separated generator names (see generation.registry; model:PATH for a checkpoint)")
    p.add_argument("--data", help="report data to split (default: $RADLLAMA_DATA or the shared OpenI CSV)")
    p.add_argument("--data-format", choices=FORMATS, help="format of --data (guessed when omitted)")
    p.add_argument("--test-file", type=Path, help="score on the reports of this file instead of --data's split")
    p.add_argument("--test-format", choices=FORMATS, help="format of --test-file (guessed when omitted)")
    p.add_argument("--train-file", type=Path, help="training reports for retrieval/models (default: --data's train split)")
    p.add_argument("--train-format", choices=FORMATS, help="format of --train-file (guessed when omitted)")
    p.add_argument("--encoding", help="text encoding of the report files when not UTF-8/UTF-16 with a BOM "
                   "(e.g. latin-1); by default other encodings are refused naming the line and byte")
    p.add_argument("--mimic-split-file", type=Path, help="mimic-cxr-2.0.0-split.csv(.gz) when not beside the reports")
    p.add_argument("--split", choices=("test", "validate"), default="test", help="which held-out split to score")
    p.add_argument("--seed", type=int, default=42, help="seed of the data split and of the bootstrap")
    p.add_argument("--no-group-findings", action="store_true",
                   help="split reports independently (identical findings may then leak into the test split)")
    p.add_argument("--remove-deid", action="store_true", help="drop the de-identification mark XXXX before scoring")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs and p-values (0: none)")
    p.add_argument("--limit", type=int, help="score only the first N test reports")
    p.add_argument("--batch-size", type=int, default=32, help="findings per generate() call")
    p.add_argument("--strategy", choices=STRATEGIES, default="rerank",
                   help="decoding for model systems (rerank: the model picks among its greedy output and the "
                        "impressions of the nearest training reports; greedy for models without retrieval)")
    p.add_argument("--num-beams", type=int, default=4, help="beams when --strategy beam")
    p.add_argument("--max-new-tokens", type=int, default=96, help="longest impression a model may write")
    p.add_argument("--out", type=Path, help="write results.csv, per_report.jsonl, predictions/ and run.json here")
    p.add_argument("--format", choices=("table", "json"), default="table", help="what stdout shows")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def evaluate(args: argparse.Namespace) -> tuple[TestSet, list[SystemRun], list[SubsetSummary], list[str], list[Metric], set[int]]:
    """Load, generate, score and summarise; the CLI's work without printing results."""
    if args.limit is not None and args.limit < 1:
        raise EvaluationError("--limit must be at least 1")
    if args.bootstrap < 0:
        raise EvaluationError("--bootstrap must be 0 or more")
    if args.batch_size < 1:
        raise EvaluationError("--batch-size must be at least 1")
    settings = GenerationSettings(args.strategy, args.num_beams, args.max_new_tokens)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not names:
        raise EvaluationError("--systems names no system")
    if len(set(names)) != len(names):
        raise EvaluationError(f"--systems lists a system twice: {args.systems}")
    for name in names:
        try:
            generators.factory_path(name)
        except UnknownSystem as exc:
            raise EvaluationError(str(exc)) from None

    data = load_test_set(args)
    for note in data.notes:
        log.info(note)
    metrics = active_metrics()
    cols = columns(metrics)
    findings = [r.findings for r in data.test]
    references = [r.impression for r in data.test]
    progress = not args.no_progress
    runs: list[SystemRun] = []
    systems = SystemService(data.train)
    from core.cleaning import clean_text
    context = {"findings": findings, "train_impressions": {clean_text(r.impression) for r in data.train}}
    for name in names:
        predictions, gen_s, description = generate_all(name, systems, findings, settings, args.batch_size, progress)
        scores, score_s = score_all(name, metrics, predictions, references, args.remove_deid, progress,
                                    context=context)
        log.info("%s: generated %d in %.1fs, scored in %.1fs", name, len(predictions), gen_s, score_s)
        runs.append(SystemRun(name, predictions, scores, gen_s, score_s, description))
    unseen = unseen_indices(data.test, data.train)
    summaries = [summarise(runs, idx, cols, metrics, references, subset, args.bootstrap, args.seed, args.remove_deid)
                 for subset, idx in (("all", list(range(len(data.test)))), ("unseen", unseen))]
    return data, runs, summaries, cols, metrics, set(unseen)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    started = time.perf_counter()
    try:
        data, runs, summaries, cols, metrics, unseen = evaluate(args)
    except (DataNotFound, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # EvaluationError, MalformedFile, bad GenerationSettings
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - started
    if args.out is not None:
        info = {"argv": sys.argv[1:] if argv is None else argv, "test_set": data.test_label, "train_set": data.train_label,
                "n_test": len(data.test), "n_train": len(data.train), "n_unseen": len(unseen),
                "settings": GenerationSettings(args.strategy, args.num_beams, args.max_new_tokens).as_dict(),
                "metric_note": STEMMING_NOTE, "bootstrap": args.bootstrap, "seed": args.seed,
                "systems": {r.name: {**r.description, "generate_seconds": r.generate_seconds,
                                     "score_seconds": r.score_seconds} for r in runs},
                "notes": data.notes, "wall_seconds": wall}
        write_outputs(args.out, data, runs, summaries, cols, unseen, info)
        log.info("wrote %s", args.out)
    if args.format == "json":
        print(json.dumps(json_result(summaries[0], cols)))
    else:
        print(render_report(data, summaries, runs, cols, metrics, args.bootstrap, wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
