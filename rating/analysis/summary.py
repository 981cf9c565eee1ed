"""Every summary of one study, built by a list of table builders.

`SUMMARY_BUILDERS` is the one place a summary table is registered: each builder takes the
loaded study (`StudyInputs`) and returns {sheet name: DataFrame}. The sheets appear in the XLSX,
as summary/<sheet>.csv, in the Analysis tab and in report.md in this order. Another protocol
(error counts, pairwise preferences) or measure (contradiction rate) plugs in by appending a
builder, and a per-output expert measure (e.g. clinically significant error counts) joins the
metric-validity table through `EXPERT_TARGET_BUILDERS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
from sqlalchemy.orm import Session

from rating.analysis.agreement import icc_table, krippendorff_table, self_consistency_table
from rating.analysis.comparisons import compare_systems
from rating.analysis.config import AnalysisConfig
from rating.analysis.load import (load_expected, load_outputs, load_ratings, study_info, system_display_names,
                                  system_order, systems_table)
from rating.analysis.metric_validity import leave_one_reader_out, metric_validity_table, rouge_vs_experts
from rating.analysis.progress import progress_tables
from rating.analysis.scores import figure4_table, table1_rouge


@dataclass(frozen=True)
class StudyInputs:
    """A loaded study: what every summary builder reads."""

    info: dict
    systems: list[str]
    ratings: pd.DataFrame
    outputs: pd.DataFrame
    expected: pd.DataFrame
    config: AnalysisConfig
    display_names: dict[str, str]


SummaryBuilder = Callable[[StudyInputs], dict[str, pd.DataFrame]]

EXPERT_TARGET_BUILDERS: list[Callable[[StudyInputs], dict[str, pd.Series]]] = []
"""Per-output expert measures (name -> Series indexed by output_id) that metric validity also
correlates with each metric, beside the five criteria; e.g. the errors protocol's count of
clinically significant errors per output (ReXVal/RadCliQ)."""


def _expert_targets(inputs: StudyInputs) -> dict[str, pd.Series]:
    return {k: v for build in EXPERT_TARGET_BUILDERS for k, v in build(inputs).items()}


def _progress(inputs: StudyInputs) -> dict[str, pd.DataFrame]:
    by_rater, by_case = progress_tables(inputs.ratings, inputs.expected)
    return {"progress_raters": by_rater, "progress_cases": by_case}


SUMMARY_BUILDERS: list[SummaryBuilder] = [
    lambda s: {"figure4": figure4_table(s.ratings, s.systems, s.config)},
    lambda s: {"table1_rouge": table1_rouge(s.ratings, s.outputs, s.systems, s.config)},
    lambda s: {"agreement": krippendorff_table(s.ratings, s.config)},
    lambda s: {"icc": icc_table(s.ratings, s.config)},
    lambda s: {"self_consistency": self_consistency_table(s.ratings)},
    lambda s: {"metric_validity": metric_validity_table(s.ratings, s.config, _expert_targets(s))},
    lambda s: {"leave_one_reader_out": leave_one_reader_out(s.ratings, s.config)},
    lambda s: {"rouge_vs_experts": rouge_vs_experts(s.ratings, s.config)},
    lambda s: {"comparisons": compare_systems(s.ratings, s.systems, s.config)},
    _progress,
]
"""The summary tables, in sheet order; append a builder to add one."""


def _table(name: str) -> property:
    """An attribute that reads and writes one of StudyAnalysis.tables."""
    return property(lambda self: self.tables[name], lambda self, value: self.tables.__setitem__(name, value))


@dataclass
class StudyAnalysis:
    """All summaries of one study, as DataFrames ready to show or export."""

    info: dict
    systems: list[str]
    ratings: pd.DataFrame
    outputs: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    """Summary tables by sheet name, in SUMMARY_BUILDERS order."""
    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    notes: list[str] = field(default_factory=list)
    display_names: dict[str, str] = field(default_factory=dict)
    """System name -> name shown in figures and tables (missing: the name itself)."""
    systems_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    """What each system is (load.systems_table): exported as the "systems" sheet and shown in the Analysis tab."""

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    figure4 = _table("figure4")
    table1 = _table("table1_rouge")
    agreement = _table("agreement")
    icc = _table("icc")
    self_consistency = _table("self_consistency")
    metric_validity = _table("metric_validity")
    leave_one_reader_out = _table("leave_one_reader_out")
    rouge_vs_experts = _table("rouge_vs_experts")
    comparisons = _table("comparisons")
    progress_raters = _table("progress_raters")
    progress_cases = _table("progress_cases")

    def summary_sheets(self) -> dict[str, pd.DataFrame]:
        """The summary tables by sheet name (for XLSX export and the UI), then "systems"."""
        return {**self.tables, "systems": self.systems_table}


def single_threaded_blas():
    """BLAS on one thread while the summaries run: their matrix products are small (bootstrap
    weights times cases), and on a loaded 2-core machine OpenBLAS's thread hand-off made each one
    28 ms instead of well under 1 (metric validity of the simulated study: 2.2 s -> 0.4 s, measured
    with cProfile)."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    return threadpool_limits(limits=1, user_api="blas")


TableHook = Callable[[str, pd.DataFrame, StudyInputs], None]
"""Called with each summary table as soon as it is built (name, table, the study's inputs)."""


def analyze_frames(info: dict, systems: list[str], ratings: pd.DataFrame, outputs: pd.DataFrame,
                   expected: pd.DataFrame, config: AnalysisConfig = AnalysisConfig(),
                   display_names: dict[str, str] | None = None,
                   described: pd.DataFrame | None = None, on_table: TableHook | None = None) -> StudyAnalysis:
    """Every summary from the loaded frames (no database needed). on_table: see TableHook (the
    export command line starts drawing Figure 4 when its table is ready)."""
    from rating.tells import stored_warnings

    notes = stored_warnings(info)  # inherent tells stored at study creation
    if info.get("simulated"):
        notes.append("SIMULATED DATA: this study was generated by rating.simulate, not rated by people.")
    if ratings.empty:
        notes.append("No ratings yet: only progress is available; every statistic is n/a.")
    elif not (ratings["repeat_index"] == 1).any():
        notes.append("Self-consistency n/a: no hidden repeat has been rated yet.")
    names = {s: s for s in systems} | dict(display_names or {})
    inputs = StudyInputs(info, systems, ratings, outputs, expected, config, names)
    tables: dict[str, pd.DataFrame] = {}
    with single_threaded_blas():
        for build in SUMMARY_BUILDERS:
            built = build(inputs)
            tables.update(built)
            for name, frame in built.items() if on_table is not None else ():
                on_table(name, frame, inputs)
    return StudyAnalysis(info=info, systems=systems, ratings=ratings, outputs=outputs, tables=tables, config=config,
                         notes=notes, display_names=names,
                         systems_table=described if described is not None else pd.DataFrame())


def analyze_study(session: Session, study_id: int, config: AnalysisConfig = AnalysisConfig()) -> StudyAnalysis:
    """Load one study from the database and compute every summary."""
    info = study_info(session, study_id)
    outputs = load_outputs(session, study_id)
    ratings = load_ratings(session, study_id, outputs)
    return analyze_frames(info, system_order(session, study_id), ratings, outputs,
                          load_expected(session, study_id), config, system_display_names(session, study_id),
                          systems_table(session, study_id))
