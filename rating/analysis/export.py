"""Export a rating study: the tidy ratings table, the summary tables and Figure 4.

    python -m rating.export --db PATH --out DIR [--study ID] [--n-bootstrap 1000] [--permutations 0]

writes into DIR:
    ratings.csv      the tidy table (UTF-8, header row, timestamps in UTC ISO-8601); text cells that
                     begin with = + - @ tab or CR get a leading ' (CSV injection, rating.csv_safety)
    ratings.xlsx     sheet "ratings" = the tidy table; then "about" (study, layout, notes),
                     figure4, table1_rouge, agreement, self_consistency, rouge_vs_experts,
                     comparisons, progress_raters, progress_cases
    ratings.parquet  the tidy table with typed columns (study name and simulated flag in the
                     file's key-value metadata)
    summary/<sheet>.csv  each summary sheet of the XLSX as a CSV (readable headers; p-values as text
                     and, beside each, as a number), except the two machine-readable tables:
    summary/metric_validity.csv  metric, criterion, level, kendall_tau_b, ci_low, ci_high, n
                     (metric and criterion as column names of ratings.csv)
    summary/icc.csv  criterion, icc, ci_low, ci_high, icc_type (ICC2, ICC2k)
    report.md        a methods-and-results paragraph, Figure 4 and the main tables (rating.analysis.report)
    figure4.png, figure4.svg, figure4.pdf        Figure 4, double column (7.2 in), PNG at 300 dpi
    figure4_single_column.png, .svg, .pdf        Figure 4, single column (3.5 in)

The summary sheets and CSVs are for readers (rating.analysis.tables): readable headers ("ROUGE-1",
"95% CI low"), systems under their display names, p-values as text ("< 0.001"). The tidy
table keeps machine names and exact numbers.

Layout: ONE ROW PER RATING, i.e. one rater's scores of one system's output for one case,
with the five criteria (understandability, coherence, relevance, conciseness,
clinical_utility; 1-5) as five columns. The full column list is in `rating.analysis.load`.
Raters appear only by pseudonym (R01, R02, ...); their names and tokens are never exported.
Hidden repeats are rows with repeat_index = 1; simulated studies carry simulated = True in
every row and "SIMULATED" in the study name and figure.
Without --study the newest study is exported (its id is printed).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Study
from rating.analysis.config import AnalysisConfig
from rating.analysis.summary import StudyAnalysis
from rating.analysis.protocol_files import protocol_sheets, write_protocol_files
from rating.analysis.protocol_study import analyze_study_with_protocols
from rating.analysis.tables import readable_sheets, spreadsheet_safe

# Start-up matters here (`python -m rating.export` is timed end to end in bench/bench_export.py):
# modules needed by one step only (matplotlib for the figure, the XLSX writer, pyarrow's CSV and
# Parquet writers) are imported by that step, the figure's inside its own thread so that it
# overlaps the XLSX writing (or, on the command line with a CPU free, in a child process from the
# moment its table is ready: FigureProcess).

LAYOUT_NOTE = ("One row per rating (one rater x one output of one system for one case); the five criteria "
               "are five score columns (1-5). repeat_index 1 marks a hidden repeat.")
SUMMARY_DIR = "summary"
MACHINE_CSVS = {"metric_validity": ["metric", "criterion", "level", "kendall_tau_b", "ci_low", "ci_high", "n"],
                "icc": ["criterion", "icc", "ci_low", "ci_high", "icc_type"]}
"""Summary CSVs written with machine column names and values (for scripts), in these columns."""
HIDDEN_REPEATS_NOTE = ("Hidden repeats (repeat_index 1) are excluded from Figure 4 and every summary table except "
                       "self_consistency, which compares them with the first ratings.")


@dataclass
class ExportResult:
    """What export_study wrote and how long each step took."""

    study_id: int
    n_ratings: int
    files: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"study_id": self.study_id, "n_ratings": self.n_ratings,
                "files": {k: str(v) for k, v in self.files.items()},
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


def _stemming_note() -> str:
    from core.metrics import STEMMING_NOTE

    return STEMMING_NOTE


def _figure_font_note() -> str:
    from rating.analysis.figures import FONT_FAMILY, figure_font

    font = figure_font()
    return font if font == FONT_FAMILY else f"{font} ({FONT_FAMILY} is not installed: apt-get install fonts-liberation)"


def about_table(analysis: StudyAnalysis) -> pd.DataFrame:
    info = analysis.info
    rows = [("study_id", info["study_id"]), ("study_name", info["name"]),
            ("simulated", "SIMULATED DATA" if info["simulated"] else "no"),
            ("n_ratings", len(analysis.ratings)),
            ("systems", ", ".join(f"{s} ({analysis.display_names[s]})" if analysis.display_names.get(s, s) != s
                                  else s for s in analysis.systems)),
            ("layout", LAYOUT_NOTE), ("hidden_repeats", HIDDEN_REPEATS_NOTE), ("rouge", _stemming_note()),
            ("figure_font", _figure_font_note()),
            ("exported_at_utc", datetime.now(timezone.utc).isoformat(timespec="seconds"))]
    rows += [("note", n) for n in analysis.notes]
    return pd.DataFrame(rows, columns=["key", "value"]).astype({"value": str})


def _timed(seconds: dict[str, float], key: str, fn, *args):
    t = time.perf_counter()
    result = fn(*args)
    seconds[key] = time.perf_counter() - t
    return result


def _write_csv_and_parquet(table: pa.Table, out_dir: Path, seconds: dict[str, float], prefix: str = ""
                           ) -> dict[str, Path]:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from rating.csv_safety import neutralise_formulas

    files = {"csv": out_dir / f"{prefix}ratings.csv", "parquet": out_dir / f"{prefix}ratings.parquet"}
    _timed(seconds, "csv", lambda: pa_csv.write_csv(neutralise_formulas(table), files["csv"]))
    _timed(seconds, "parquet", pq.write_table, table, files["parquet"])
    return files


class FigureProcess:
    """Figure 4 drawn in a forked child process while this one goes on with the analysis.

    For the command line only (`python -m rating.export`, one thread when it forks): drawing and
    saving the six figure files takes 0.8 s of CPU, which in a thread of this process waits for the
    GIL; a child starts when the Figure 4 table is ready (the first summary) and draws beside the
    other summaries and the other files, when a CPU is free (spare_core). The app's Analysis tab keeps
    the thread (a server with many threads must not fork). The child writes the same files as
    export_figures, with the same arguments; a child that fails raises RuntimeError in files() (its
    traceback is on stderr). gc.freeze() before the fork keeps the child's garbage collector off the
    inherited objects (else it touches, and so copies, the parent's whole heap).
    """

    def __init__(self, out_dir: Path, prefix: str = "") -> None:
        self.out_dir, self.prefix = Path(out_dir), prefix
        self.process = None

    def on_table(self, name: str, table: pd.DataFrame, inputs) -> None:
        """rating.analysis.summary.TableHook: starts the child on the figure4 table."""
        if name != "figure4" or self.process is not None:
            return
        import multiprocessing

        from rating.analysis.figures import export_figures  # imported here so that the child inherits it

        gc.freeze()  # the child's collections leave the inherited objects alone (no copy-on-write of the heap)
        self.process = multiprocessing.get_context("fork").Process(
            target=export_figures, args=(table, list(inputs.systems), self.out_dir),
            kwargs={"display_names": inputs.display_names, "simulated": bool(inputs.info["simulated"]),
                    "prefix": self.prefix}, name="figure4", daemon=True)
        self.process.start()
        gc.unfreeze()

    def files(self) -> dict[str, Path]:
        """Waits for the child; the files it wrote ({} when it never started)."""
        if self.process is None:
            return {}
        self.process.join()
        if self.process.exitcode != 0:
            raise RuntimeError(f"drawing Figure 4 failed (its process ended with exit code {self.process.exitcode}; "
                               "the error is printed above)")
        from rating.analysis.figures import figure_files

        return figure_files(self.out_dir, self.prefix)

    def stop(self) -> None:
        """Ends a child that is still drawing (the export failed)."""
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join()


def spare_core() -> bool:
    """Whether a CPU is free beside this process (1-minute load average, which counts this process,
    below the CPUs less a half): only then does the command line draw Figure 4 in a child process. On
    a busy machine the child gains no time and costs 0.2 s of CPU more than the thread (copy-on-write
    pages after the fork; measured with /usr/bin/time on the simulated study at load average 3 on 2 CPUs)."""
    cpus = os.cpu_count() or 1
    return cpus >= 2 and os.getloadavg()[0] < cpus - 0.5


def _write_figures(analysis: StudyAnalysis, out_dir: Path, prefix: str = "") -> dict[str, Path]:
    from rating.analysis.figures import export_figures

    return export_figures(analysis.figure4, analysis.systems, out_dir, analysis.display_names,
                          simulated=bool(analysis.info["simulated"]), prefix=prefix)


def _write_summary_csvs(sheets: dict[str, pd.DataFrame], raw: dict[str, pd.DataFrame], out_dir: Path
                        ) -> dict[str, Path]:
    folder = out_dir / SUMMARY_DIR
    folder.mkdir(exist_ok=True)
    files = {}
    for name, frame in sheets.items():
        files[f"summary_{name}"] = folder / f"{name}.csv"
        if name in MACHINE_CSVS:
            frame = raw[name].reindex(columns=MACHINE_CSVS[name])
        spreadsheet_safe(frame).to_csv(files[f"summary_{name}"], index=False)
    return files


def report_tables(analysis: StudyAnalysis, summaries: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The compact tables of report.md (and the Analysis tab) from the readable summaries."""
    from rating.analysis.tables import figure4_wide, readable_table, validity_wide

    cmp_cols = ["criterion", "system_a", "system_b", "n_cases", "mean_diff", "test", "rank_biserial", "p_value",
                "p_holm"]
    raw_cmp = analysis.comparisons
    compact = readable_table(raw_cmp[[c for c in cmp_cols if c in raw_cmp.columns]], analysis.display_names, 3)
    compact = compact[[c for c in compact.columns if not c.endswith("(numeric)")]]
    return {"figure4_wide": figure4_wide(analysis.figure4, analysis.display_names),
            "table1_rouge": summaries["table1_rouge"], "comparisons": compact,
            "agreement": summaries["agreement"], "icc": summaries["icc"],
            "metric_validity": validity_wide(analysis.metric_validity, "output"),
            "leave_one_reader_out": summaries["leave_one_reader_out"]}


def _write_report(analysis: StudyAnalysis, summaries: dict[str, pd.DataFrame], out_dir: Path, prefix: str = ""
                  ) -> dict[str, Path]:
    from rating.analysis.report import report_markdown

    path = out_dir / f"{prefix}report.md"
    path.write_text(report_markdown(analysis, report_tables(analysis, summaries), f"{prefix}figure4.png"),
                    encoding="utf-8")
    return {"report": path}


def export_analysis(analysis: StudyAnalysis, out_dir: str | Path, seconds: dict[str, float] | None = None,
                    protocol=None, prefix: str = "", figure_process: FigureProcess | None = None) -> ExportResult:
    """Write the export files of an analysed study into out_dir (created if needed); every file
    name starts with prefix (the Analysis tab uses "study<id>_" so downloads say which study).

    CSV and Parquet (pyarrow), the XLSX and the figure are written concurrently: the heavy
    parts (Arrow kernels, zlib, Agg rendering) release the GIL. protocol: the study's errors, pairwise
    and gold tables (rating.analysis.protocol_study.ProtocolAnalysis), written by rating.analysis.protocol_files.
    figure_process: Figure 4 is already being drawn by this child (FigureProcess), not by a thread.
    """
    from rating.analysis.xlsx import write_xlsx

    seconds = {} if seconds is None else seconds
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = analysis.info
    started = time.perf_counter()
    if prefix and (Path(prefix).name != prefix or prefix.startswith(".")):
        raise ValueError(f"a file name prefix cannot name a folder: {prefix!r}")
    summaries = readable_sheets(analysis.summary_sheets(), analysis.display_names, digits=4)
    tidy_extra, summary_extra = protocol_sheets(protocol) if protocol is not None else ({}, {})
    summaries.update(readable_sheets(summary_extra, analysis.display_names, digits=4))
    sheets = {"ratings": analysis.ratings, **tidy_extra, "about": about_table(analysis), **summaries}
    metadata = {"study_id": str(info["study_id"]), "study_name": info["name"],
                "simulated": str(bool(info["simulated"])).lower(), "layout": LAYOUT_NOTE}
    table = pa.Table.from_pandas(analysis.ratings, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           **{k.encode(): v.encode() for k, v in metadata.items()}})
    with ThreadPoolExecutor(max_workers=2) as pool:
        tables = pool.submit(_write_csv_and_parquet, table, out, seconds, prefix)
        no_scores = protocol is not None and "likert" not in protocol.protocols  # no Figure 4 without 1-5 scores
        in_thread = not no_scores and figure_process is None
        figure = pool.submit(_timed, seconds, "figure", _write_figures if in_thread else (lambda *_: {}), analysis,
                             out, prefix)
        xlsx = _timed(seconds, "xlsx", write_xlsx, out / f"{prefix}ratings.xlsx", sheets,
                      [*analysis.summary_sheets().keys(), *summary_extra])
        files = {**tables.result(), "xlsx": xlsx,
                 **_timed(seconds, "summary_csv", _write_summary_csvs, summaries, analysis.tables, out),
                 **_timed(seconds, "report", _write_report, analysis, summaries, out, prefix)}
        files.update(figure.result())
    if figure_process is not None:
        files.update(_timed(seconds, "figure_process_wait", figure_process.files))
    if protocol is not None:
        files.update(_timed(seconds, "protocols", write_protocol_files, protocol, out, analysis.systems,
                            analysis.display_names, bool(info["simulated"]), metadata, prefix))
    seconds["files_wall"] = time.perf_counter() - started
    return ExportResult(study_id=info["study_id"], n_ratings=len(analysis.ratings), files=files, seconds=seconds)


def export_study(session: Session, study_id: int, out_dir: str | Path,
                 config: AnalysisConfig = AnalysisConfig(), exclude_raters: Sequence[str] = (),
                 min_gold_accuracy: float | None = None, figure_in_child: bool = False) -> ExportResult:
    """Analyse one study (with its protocols and gold cases) and write its export files; seconds holds
    per-step timings. exclude_raters / min_gold_accuracy: raters the PI leaves out of every statistic.
    figure_in_child: draw Figure 4 in a forked child process (FigureProcess; single-threaded callers only)."""
    from rating.protocols.service import study_protocols

    child = FigureProcess(Path(out_dir)) if figure_in_child and "likert" in study_protocols(session, study_id) \
        else None
    t = time.perf_counter()
    try:
        analysis, protocol = analyze_study_with_protocols(session, study_id, config, exclude_raters,
                                                          min_gold_accuracy, child.on_table if child else None)
        seconds = {"load_and_analyse": time.perf_counter() - t}
        return export_analysis(analysis, out_dir, seconds, protocol, figure_process=child)
    except BaseException:
        if child is not None:
            child.stop()
        raise


def export_private(session: Session, study_id: int, out: Path, config: AnalysisConfig,
                   exclude_raters: Sequence[str] = (), min_gold_accuracy: float | None = None) -> ExportResult:
    """export_study for the CLI: the files carry the unblinded system column, so like the app's exports
    they are private (folders 0700, files 0600) whatever the caller's umask."""
    old = os.umask(0o077)
    try:
        result = export_study(session, study_id, out, config, exclude_raters, min_gold_accuracy,
                              figure_in_child=spare_core())
    finally:
        os.umask(old)
    for path in result.files.values():  # files written over older ones keep their old mode otherwise
        os.chmod(path, 0o600)
        for folder in Path(path).parents:
            os.chmod(folder, 0o700)
            if folder == out:
                break
    return result


def newest_study_id(session: Session) -> int | None:
    return session.scalar(select(Study.id).order_by(Study.id.desc()).limit(1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Export a rating study (CSV, XLSX, Parquet, Figure 4 PNG/SVG/PDF).")
    p.add_argument("--db", required=True, help="SQLite file path or SQLAlchemy URL")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--study", type=int, default=None, help="study id (default: the newest study)")
    p.add_argument("--n-bootstrap", type=int, default=AnalysisConfig.n_bootstrap)
    p.add_argument("--seed", type=int, default=AnalysisConfig.seed)
    p.add_argument("--permutations", type=int, default=AnalysisConfig.n_permutations,
                   help="approximate-randomization test between systems with this many sign flips (0: off)")
    p.add_argument("--exclude-raters", default="", help="pseudonyms left out of every statistic, e.g. R03,R05")
    p.add_argument("--min-gold-accuracy", type=float, default=None,
                   help="leave out raters whose accuracy on gold cases is below this share (0-1)")
    a = p.parse_args(argv)
    from db.engine import (DatabaseRefused, DatabaseUnavailable, check_database, make_engine, make_session_factory,
                           read_only_session)

    db_path = Path(a.db)
    if "://" not in a.db and not db_path.is_file():
        print(f"error: no database file at {db_path}", file=sys.stderr)
        return 2
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is an existing file; give a folder (it is created if missing)", file=sys.stderr)
        return 2
    try:
        config = AnalysisConfig(n_bootstrap=a.n_bootstrap, seed=a.seed, n_permutations=a.permutations)
        check_database(a.db, write=False)  # corrupt, foreign or newer files are refused; read-only is fine
    except (ValueError, DatabaseRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factory = make_session_factory(make_engine(a.db))
    try:
        # One read-only snapshot: consistent, and raters' submits are never blocked by the export.
        with read_only_session(factory) as session:
            study_id = a.study if a.study is not None else newest_study_id(session)
            if study_id is None or session.get(Study, study_id) is None:
                print(f"error: no study {'in the database' if study_id is None else f'with id {study_id}'}",
                      file=sys.stderr)
                return 2
            result = export_private(session, study_id, out, config,
                                    [r.strip() for r in a.exclude_raters.split(",") if r.strip()],
                                    a.min_gold_accuracy)
    except (OSError, DatabaseUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
