"""Per-report metrics that `python -m training.evaluate` computes: one list, one line per metric.

A metric scores a batch of predictions against their references and returns one dict of
columns per report (values averaged over reports, with bootstrap intervals, in every table,
CSV and per-report JSONL). To add one, append a `Metric` to METRICS, e.g.

    Metric("chexpert", ("chexpert_micro_f1",), clinical.per_report_scores, {"chexpert_micro_f1": "CheXpert µF1"}),

or call `register_metric(...)`; metrics whose module may be missing go in OPTIONAL_METRICS
(the CheXpert-style clinical agreement of core.clinical is wired in that way). A metric whose system-level value is not
the mean of per-report values (e.g. micro F1 over pooled counts) may also give `corpus`, whose
numbers are reported beside the means. A metric that needs more than the two texts names what
in `needs` ("findings": the report's findings; "train_impressions": the set of training
impressions) and receives it as keyword arguments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from core.metrics import ROUGE_KEYS, rouge_per_report

PerReport = Callable[..., list[dict[str, float]]]  # (predictions, references, remove_deid=bool)
Corpus = Callable[..., dict[str, float]]  # (predictions, references, remove_deid=bool)


@dataclass(frozen=True)
class Metric:
    """One metric family and the columns it adds."""

    name: str
    """Short name, used in messages."""
    columns: tuple[str, ...]
    """Keys of the dict `score` returns for each report, in display order."""
    score: PerReport
    """(predictions, references, remove_deid=False) -> one {column: value} per report."""
    headers: dict[str, str] = field(default_factory=dict)
    """Table header per column (the column name when absent)."""
    corpus: Corpus | None = None
    """Optional system-level values that are not per-report means, e.g. pooled micro F1."""
    needs: tuple[str, ...] = ()
    """Context the metric needs besides the texts ("findings", "train_impressions"), passed by keyword."""

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError(f"metric {self.name!r} declares no columns")

    def header(self, column: str) -> str:
        return self.headers.get(column, column)


ROUGE = Metric("rouge", ROUGE_KEYS, rouge_per_report,
               {"rouge1": "R-1", "rouge2": "R-2", "rougeL": "R-L", "rougeLsum": "R-Lsum"})

METRICS: list[Metric] = [
    ROUGE,
]


def register_metric(metric: Metric) -> None:
    """Add (or replace by name) a metric for every later evaluation."""
    METRICS[:] = [m for m in METRICS if m.name != metric.name] + [metric]


def active_metrics() -> list[Metric]:
    """The metrics to compute now, including plug-ins that register themselves on import."""
    _load_plugins()
    return list(METRICS)


def columns(metrics: Sequence[Metric]) -> list[str]:
    return [c for m in metrics for c in m.columns]


def score_reports(metrics: Sequence[Metric], predictions: Sequence[str], references: Sequence[str],
                  remove_deid: bool = False, context: dict | None = None) -> list[dict[str, float]]:
    """All metric columns for each report, merged into one dict per report.

    context holds what metrics may need (see Metric.needs); a metric whose needs are missing is skipped.
    """
    rows: list[dict[str, float]] = [{} for _ in predictions]
    context = context or {}
    for metric in metrics:
        if any(k not in context for k in metric.needs):
            continue
        extra = {k: context[k] for k in metric.needs}
        scored = metric.score(predictions, references, remove_deid=remove_deid, **extra)
        if len(scored) != len(predictions):
            raise ValueError(f"metric {metric.name!r} returned {len(scored)} rows for {len(predictions)} reports")
        for row, values in zip(rows, scored, strict=True):
            row.update({c: float(values[c]) for c in metric.columns})
    return rows


def _chexpert_metric() -> Metric | None:
    """CheXpert-style finding agreement (core.clinical), when that module is present."""
    try:
        from core import clinical
    except ModuleNotFoundError as exc:
        if exc.name == "core.clinical":
            return None
        raise
    return Metric("chexpert", tuple(clinical.COLUMNS), clinical.per_report_scores, dict(clinical.HEADERS),
                  clinical.corpus_scores)


def _omissions(predictions, references, remove_deid: bool = False, findings=()) -> list[dict[str, float]]:
    from core.omissions import omission_rates

    return omission_rates(list(findings), list(predictions))


def _contradictions(predictions, references, remove_deid: bool = False, findings=()) -> list[dict[str, float]]:
    from core.consistency import contradiction_rates

    return contradiction_rates(list(findings), list(predictions))


def _verbatim(predictions, references, remove_deid: bool = False, train_impressions=frozenset()):
    from core.cleaning import clean_text

    return [{"verbatim_train": float(clean_text(p) in train_impressions)} for p in predictions]


OMISSIONS = Metric("omissions", ("omission_rate", "addition_rate"), _omissions,
                   {"omission_rate": "Omit %", "addition_rate": "Add %"}, needs=("findings",))
"""Share of reports whose impression leaves out (adds) a significant positive observation of the findings."""
CONTRADICTIONS = Metric("consistency", ("contradiction_rate",), _contradictions, {"contradiction_rate": "Contradict %"},
                        needs=("findings",))
"""Share of reports whose impression contradicts itself or its findings (core.consistency): a significant
finding beside an unqualified whole-study normal statement, or a denied finding."""
VERBATIM = Metric("verbatim", ("verbatim_train",), _verbatim, {"verbatim_train": "Verbatim %"},
                  needs=("train_impressions",))
"""Share of outputs that are, word for word, an impression of a training report."""


def _omission_metric() -> Metric | None:
    try:
        from core import omissions  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name == "core.omissions":
            return None
        raise
    return OMISSIONS


def _consistency_metric() -> Metric | None:
    try:
        from core import consistency  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name == "core.consistency":
            return None
        raise
    return CONTRADICTIONS


def _verbatim_metric() -> Metric:
    return VERBATIM


OPTIONAL_METRICS: tuple[Callable[[], Metric | None], ...] = (_chexpert_metric, _omission_metric, _consistency_metric,
                                                             _verbatim_metric)
"""Metrics whose module may be absent; each returns None when it cannot be built."""


def _load_plugins() -> None:
    names = {m.name for m in METRICS}
    for make in OPTIONAL_METRICS:
        metric = make()
        if metric is not None and metric.name not in names:
            METRICS.append(metric)
            names.add(metric.name)
