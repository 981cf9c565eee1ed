"""Analysis of a rating study: the tidy ratings table and every summary the paper needs.

The tidy table has ONE ROW PER RATING (one rater's scores of one output, i.e. one system's
impression for one case), with the five criteria as five score columns (see
`db.models.CRITERIA`). Columns, in order:

    rating_id, study_id, study_name, simulated,
    case_id, case_source, case_source_id, stratum, calibration,
    rater (pseudonym such as "R01"; never the name or token), rater_role, rater_experience_years,
    system, system_kind, output_id, shared_with (the other systems of the case that wrote the same
    text: it was shown once and its rating counts for each of them; "" when none),
    label (A, B, ... as shown), display_position, repeat_index
    (0 first rating, 1 hidden repeat), understandability, coherence, relevance, conciseness,
    clinical_utility (1..5), comment, significant_error, time_on_task_s,
    started_at, submitted_at, updated_at (UTC), revision,
    rouge1, rouge2, rougeL (F1 of the output against the case's reference impression)
    [+ clinical metric columns when core.clinical is available].

ROUGE is computed once per distinct (output text, reference) pair and cached in memory, never
per rating. Everything after `load_ratings` / `load_outputs` / `load_expected` works on plain
DataFrames, so it can be tested without a database.

Statistics (all seeded, all on first ratings, repeat_index == 0, unless stated):
- Figure 4: mean score per system and criterion; 95% percentile interval from a two-level
  bootstrap that resamples cases and raters with replacement (the same draws for every system
  and criterion). A drawn case c with multiplicity m_c and rater r with m_r contribute all of
  r's ratings of c with weight m_c * m_r. Draw order: cases (sorted ids) first, then raters
  (sorted pseudonyms), both from one numpy default_rng(seed).
- Table 1: ROUGE-1/2/L per system over its distinct rated outputs, with a case bootstrap.
- Agreement: Krippendorff's alpha (ordinal, `krippendorff` package) per criterion, units are
  outputs, coders are raters; interval from resampling units.
- Self-consistency: each rater's first rating against their hidden repeat of the same output:
  exact and within-one agreement, quadratic-weighted kappa, Spearman rho.
- ROUGE against experts: Spearman rho per criterion and ROUGE variant, over outputs (mean
  score over raters) and over systems (system means).
- System comparison: per criterion and pair of systems, the case-level mean scores (mean over
  raters) are compared with a paired Wilcoxon signed-rank test over cases; p-values are Holm
  corrected within each criterion.
- Progress: ratings done against ratings expected (assignments x outputs), per rater and case.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import CRITERIA, Assignment, Case, Output, Rater, Rating, Study, System
from rating.output_metrics import metric_columns, output_metrics
from rating.shared_texts import shared_with
SCORE_VALUES = (1, 2, 3, 4, 5)
CRITERION_LABELS = {
    "understandability": "Understandability",
    "coherence": "Coherence",
    "relevance": "Relevance",
    "conciseness": "Conciseness",
    "clinical_utility": "Clinical utility",
}

RATING_COLUMNS = (
    "rating_id", "study_id", "study_name", "simulated",
    "case_id", "case_source", "case_source_id", "stratum", "calibration",
    "rater", "rater_role", "rater_experience_years",
    "system", "system_kind", "output_id", "shared_with", "label", "display_position", "repeat_index",
    *CRITERIA, "comment", "significant_error", "time_on_task_s",
    "started_at", "submitted_at", "updated_at", "revision",
)
TIMESTAMP_COLUMNS = ("started_at", "submitted_at", "updated_at")


MAX_BOOTSTRAP = 20_000
"""Upper bound on bootstrap resamples: each one is a row of case x rater weights in memory."""


@dataclass(frozen=True)
class AnalysisConfig:
    """How the summaries are computed."""

    n_bootstrap: int = 1000
    """Bootstrap resamples for the Figure 4 and Table 1 intervals."""
    n_bootstrap_alpha: int = 200
    """Bootstrap resamples for the interval of Krippendorff's alpha (each one recomputes alpha)."""
    confidence: float = 0.95
    """Coverage of every interval (percentile method)."""
    seed: int = 0
    """Seed of every resampling."""
    resample_raters: bool = True
    """Figure 4: resample raters as well as cases (two-level bootstrap); False resamples cases only."""
    alpha_level: str = "ordinal"
    """Level of measurement for Krippendorff's alpha: nominal, ordinal, interval or ratio."""
    include_calibration: bool = True
    """Use ratings of calibration cases (rated by every rater) in the summaries."""
    significance: float = 0.05
    """Level at which a Holm-corrected comparison is marked significant."""

    def __post_init__(self) -> None:
        if self.n_bootstrap < 1 or self.n_bootstrap_alpha < 1:
            raise ValueError("bootstrap counts must be at least 1")
        if self.n_bootstrap > MAX_BOOTSTRAP or self.n_bootstrap_alpha > MAX_BOOTSTRAP:
            raise ValueError(f"bootstrap counts must be at most {MAX_BOOTSTRAP:,} (more adds time and memory, "
                             "not precision worth having)")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), not {self.confidence}")
        if self.alpha_level not in ("nominal", "ordinal", "interval", "ratio"):
            raise ValueError(f"unknown level of measurement {self.alpha_level!r}")
        if not 0 < self.significance < 1:
            raise ValueError(f"significance must lie in (0, 1), not {self.significance}")


# --- loading ---------------------------------------------------------------------------------

def list_studies(session: Session) -> pd.DataFrame:
    """Every study with its number of cases, raters and ratings, newest first."""
    n_ratings = (select(func.count(Rating.id)).join(Rater, Rating.rater_id == Rater.id)
                 .where(Rater.study_id == Study.id).scalar_subquery())
    n_cases = select(func.count(Case.id)).where(Case.study_id == Study.id).scalar_subquery()
    n_raters = select(func.count(Rater.id)).where(Rater.study_id == Study.id).scalar_subquery()
    rows = session.execute(select(Study.id, Study.name, Study.simulated, Study.created_at, n_cases, n_raters,
                                  n_ratings).order_by(Study.id.desc())).all()
    return pd.DataFrame(rows, columns=["study_id", "name", "simulated", "created_at", "n_cases", "n_raters",
                                       "n_ratings"])


def study_info(session: Session, study_id: int) -> dict:
    """id, name, simulated and config of one study; KeyError when there is none."""
    study = session.get(Study, study_id)
    if study is None:
        raise KeyError(f"no study with id {study_id}")
    return {"study_id": study.id, "name": study.name, "simulated": bool(study.simulated),
            "config": dict(study.config or {})}


def load_outputs(session: Session, study_id: int) -> pd.DataFrame:
    """One row per output of the study: ids, system, case and its metrics against the reference."""
    rows = session.execute(
        select(Output.id, Output.case_id, System.name, System.kind, Output.text, Case.reference_impression,
               Case.findings)
        .join(Case, Output.case_id == Case.id).join(System, Output.system_id == System.id)
        .where(Case.study_id == study_id).order_by(Output.id)).all()
    out = pd.DataFrame(rows, columns=["output_id", "case_id", "system", "system_kind", "text", "reference", "findings"])
    out["shared_with"] = shared_with(out["case_id"].tolist(), out["output_id"].tolist(), out["system"].tolist(),
                                     out["text"].tolist())
    metrics = output_metrics(out["text"].tolist(), out["reference"].tolist(), out["findings"].tolist())
    return pd.concat([out.drop(columns=["text", "reference", "findings"]).reset_index(drop=True), metrics], axis=1)


SYSTEM_FIELDS = ("model", "adapter", "base_url", "api", "dtype", "device", "prompt", "decoding")


def _cell(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def systems_table(session: Session, study_id: int) -> pd.DataFrame:
    """One row per system: what exactly was rated (its describe(), stored as System.config when
    the study was created): model or adapter and base, endpoint URL (no credentials), decoding,
    library versions, and the whole configuration as JSON."""
    rows = []
    for system in session.scalars(select(System).where(System.study_id == study_id).order_by(System.id)):
        config = dict(system.config or {})
        versions = config.get("versions") or {}
        rows.append({"system": system.name, "kind": system.kind, "version": system.version or "",
                     **{k: _cell(config.get(k)) for k in SYSTEM_FIELDS},
                     "versions": ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, dict)
                     else _cell(versions),
                     "config_json": json.dumps(config, sort_keys=True, default=str)})
    return pd.DataFrame(rows, columns=["system", "kind", "version", *SYSTEM_FIELDS, "versions", "config_json"])


def system_order(session: Session, study_id: int) -> list[str]:
    """System names in the order the admin listed them (System.position; older studies: System.id).

    This is the legend order, and a system's place in it picks its colour in every figure.
    """
    return list(session.scalars(select(System.name).where(System.study_id == study_id)
                                .order_by(System.position.is_(None), System.position, System.id)))


def system_display_names(session: Session, study_id: int) -> dict[str, str]:
    """System name -> the name figures and tables show (the system's name when none was set)."""
    rows = session.execute(select(System.name, System.display_name).where(System.study_id == study_id)).all()
    return {name: (shown or name) for name, shown in rows}


def _raw_rows(session: Session, stmt) -> list[tuple]:
    """Rows of a select as plain DBAPI tuples (no per-value type processing: 100k rows load fast)."""
    compiled = stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    cursor = session.connection().connection.cursor()  # the DBAPI cursor, in the session's transaction
    try:
        cursor.execute(str(compiled))
        return cursor.fetchall()
    finally:
        cursor.close()


def load_ratings(session: Session, study_id: int, outputs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tidy table (one row per rating, columns in module docstring), metrics joined per output.

    Ratings are read once as plain rows; study, case, rater and system attributes come from
    small lookup tables joined in pandas, and the metrics from `outputs` (one row per output).
    """
    own = [Rating.id, Rating.rater_id, Rating.output_id, Rating.label, Rating.display_position,
           Rating.repeat_index, *(getattr(Rating, c) for c in CRITERIA), Rating.comment, Rating.significant_error,
           Rating.time_on_task_s, Rating.started_at, Rating.submitted_at, Rating.updated_at, Rating.revision]
    names = ["rating_id", "rater_id", "output_id", "label", "display_position", "repeat_index", *CRITERIA,
             "comment", "significant_error", "time_on_task_s", *TIMESTAMP_COLUMNS, "revision"]
    stmt = (select(*own).join(Rater, Rating.rater_id == Rater.id).where(Rater.study_id == study_id)
            .order_by(Rating.id))
    df = pd.DataFrame.from_records(_raw_rows(session, stmt), columns=names)
    for c in TIMESTAMP_COLUMNS:
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    for c in (*CRITERIA, "rating_id", "rater_id", "output_id", "display_position", "repeat_index", "revision"):
        df[c] = df[c].astype("int64")
    df["significant_error"] = df["significant_error"].astype(bool)
    df["time_on_task_s"] = df["time_on_task_s"].astype(float)
    df["comment"] = df["comment"].fillna("").astype("str")
    df["label"] = df["label"].astype("str")

    info = study_info(session, study_id)
    raters = pd.DataFrame(session.execute(
        select(Rater.id, Rater.pseudonym, Rater.role, Rater.experience_years).where(Rater.study_id == study_id)).all(),
        columns=["rater_id", "rater", "rater_role", "rater_experience_years"])
    raters["rater_experience_years"] = raters["rater_experience_years"].astype("Int64")
    cases = pd.DataFrame(session.execute(
        select(Case.id, Case.source_dataset, Case.source_id, Case.stratum, Case.calibration)
        .where(Case.study_id == study_id)).all(),
        columns=["case_id", "case_source", "case_source_id", "stratum", "calibration"])
    cases["calibration"] = cases["calibration"].astype(bool)
    if outputs is None:
        outputs = load_outputs(session, study_id)
    out_cols = ["output_id", "case_id", "system", "system_kind", "shared_with", *metric_columns(outputs)]
    df = (df.merge(outputs[out_cols], on="output_id", how="left", validate="many_to_one")
          .merge(cases, on="case_id", how="left", validate="many_to_one")
          .merge(raters, on="rater_id", how="left", validate="many_to_one"))
    df["study_id"] = info["study_id"]
    df["study_name"] = info["name"]
    df["simulated"] = info["simulated"]
    return df[[*RATING_COLUMNS, *metric_columns(outputs)]]


def load_expected(session: Session, study_id: int) -> pd.DataFrame:
    """One row per assignment: rater pseudonym, case, repeat index and how many outputs it shows."""
    n_outputs = select(Output.case_id, func.count(Output.id).label("n")).group_by(Output.case_id).subquery()
    rows = session.execute(
        select(Rater.pseudonym, Assignment.case_id, Assignment.repeat_index, n_outputs.c.n)
        .join(Rater, Assignment.rater_id == Rater.id)
        .join(n_outputs, n_outputs.c.case_id == Assignment.case_id)
        .where(Rater.study_id == study_id, Rater.revoked.is_(False))).all()
    return pd.DataFrame(rows, columns=["rater", "case_id", "repeat_index", "n_outputs"])


# --- Figure 4 --------------------------------------------------------------------------------

def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    return float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))


def draw_counts(draws: np.ndarray, n: int) -> np.ndarray:
    """How often each of n items occurs in each row of draws: shape (rows, n)."""
    rows = draws.shape[0]
    flat = (draws + np.arange(rows)[:, None] * n).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(float)


def _cell_sums(ci: np.ndarray, ri: np.ndarray, shape: tuple[int, int], values: np.ndarray | None = None) -> np.ndarray:
    flat = ci * shape[1] + ri
    return np.bincount(flat, weights=values, minlength=shape[0] * shape[1]).reshape(shape).astype(float)


def bootstrap_weights(n_cases: int, n_raters: int, n_resamples: int, seed: int,
                      resample_raters: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicity of every case and rater in each resample: shapes (B, n_cases), (B, n_raters).

    Cases are drawn first, then raters, from one default_rng(seed); without rater resampling
    every rater has weight 1.
    """
    rng = np.random.default_rng(seed)
    wc = draw_counts(rng.integers(0, n_cases, size=(n_resamples, n_cases)), n_cases)
    if resample_raters:
        wr = draw_counts(rng.integers(0, n_raters, size=(n_resamples, n_raters)), n_raters)
    else:
        wr = np.ones((n_resamples, n_raters))
    return wc, wr


def primary_ratings(ratings: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """First ratings (no hidden repeats), without calibration cases unless the config keeps them."""
    keep = ratings["repeat_index"] == 0
    if not config.include_calibration:
        keep &= ~ratings["calibration"].astype(bool)
    return ratings[keep]


def figure4_table(ratings: pd.DataFrame, systems: list[str] | None = None,
                  config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Mean score per system and criterion with a two-level (cases x raters) bootstrap interval.

    Columns: system, criterion, mean, ci_low, ci_high, n_ratings, n_cases, n_raters, note (the reason
    for every undefined value, which shows as n/a).
    """
    cols = ["system", "criterion", "mean", "ci_low", "ci_high", "n_ratings", "n_cases", "n_raters", "note"]
    data = primary_ratings(ratings, config)
    if data.empty:
        return pd.DataFrame(columns=cols)
    systems = systems or sorted(data["system"].unique())
    case_ids = np.sort(data["case_id"].unique())
    rater_ids = np.sort(data["rater"].unique())
    ci = np.searchsorted(case_ids, data["case_id"].to_numpy())
    ri = np.searchsorted(rater_ids, data["rater"].to_numpy())
    wc, wr = bootstrap_weights(len(case_ids), len(rater_ids), config.n_bootstrap, config.seed,
                               config.resample_raters)
    sys_codes = data["system"].to_numpy()
    rows = []
    for system in systems:
        mask = sys_codes == system
        shape = (len(case_ids), len(rater_ids))
        counts = _cell_sums(ci[mask], ri[mask], shape)
        denom = ((wc @ counts) * wr).sum(axis=1)
        for criterion in CRITERIA:
            values = data[criterion].to_numpy(dtype=float)[mask]
            if values.size == 0:
                rows.append([system, criterion, np.nan, np.nan, np.nan, 0, 0, 0,
                             "n/a: no ratings of this system yet"])
                continue
            sums = _cell_sums(ci[mask], ri[mask], shape, values)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = ((wc @ sums) * wr).sum(axis=1) / denom
            low, high = _percentile_interval(means, config.confidence)
            note = "" if np.isfinite(low) else "interval n/a: no resample contained a rating of this system"
            rows.append([system, criterion, float(values.mean()), low, high, int(values.size),
                         int(len(np.unique(ci[mask]))), int(len(np.unique(ri[mask]))), note])
    return pd.DataFrame(rows, columns=cols)


# --- Table 1 ---------------------------------------------------------------------------------

def table1_rouge(ratings: pd.DataFrame, outputs: pd.DataFrame, systems: list[str] | None = None,
                 config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """ROUGE-1/2/L per system over the outputs of rated cases, with a case-bootstrap interval."""
    metric_cols = metric_columns(outputs)
    cols = ["system", "n_outputs"] + [f"{m}{s}" for m in metric_cols for s in ("", "_ci_low", "_ci_high")] + ["note"]
    rated_cases = np.sort(primary_ratings(ratings, config)["case_id"].unique())
    rated = outputs[outputs["case_id"].isin(rated_cases)]
    if rated.empty:
        return pd.DataFrame(columns=cols)
    systems = systems or sorted(rated["system"].unique())
    rng = np.random.default_rng(config.seed)
    wc = draw_counts(rng.integers(0, len(rated_cases), size=(config.n_bootstrap, len(rated_cases))),
                     len(rated_cases))
    # Per system: column 0 marks the cases it has an output for, then one column per metric.
    # One (B x cases) @ (cases x systems*(1+metrics)) product serves every bootstrap sum; one
    # matrix-vector product per system and metric re-read the (B x cases) weights each time.
    per_case = np.zeros((len(rated_cases), len(systems), 1 + len(metric_cols)))
    owns = []
    for k, system in enumerate(systems):
        own = rated[rated["system"] == system]
        idx = np.searchsorted(rated_cases, own["case_id"].to_numpy())
        per_case[idx, k, 0] = 1.0
        per_case[idx, k, 1:] = own[list(metric_cols)].to_numpy(dtype=float)
        owns.append(own)
    sums = (wc @ per_case.reshape(len(rated_cases), -1)).reshape(len(wc), len(systems), 1 + len(metric_cols))
    rows = []
    for k, (system, own) in enumerate(zip(systems, owns)):
        row = [system, int(len(own))]
        for j, m in enumerate(metric_cols):
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = sums[:, k, 1 + j] / sums[:, k, 0]
            low, high = _percentile_interval(boot, config.confidence)
            row += [float(own[m].mean()) if len(own) else np.nan, low, high]
        if not len(own):
            row.append("n/a: this system has no output on a rated case")
        elif any(not np.isfinite(v) for v in row[2:]):
            row.append("n/a where blank: the metric could not be computed for these outputs")
        else:
            row.append("")
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


# --- agreement -------------------------------------------------------------------------------

def value_counts_matrix(ratings: pd.DataFrame, criterion: str) -> np.ndarray:
    """Units (outputs) x score values 1..5: how many raters gave each score (first ratings)."""
    data = ratings[ratings["repeat_index"] == 0]
    if data.empty:
        return np.zeros((0, len(SCORE_VALUES)))
    units, _ = pd.factorize(data["output_id"], sort=True)
    n_units, n_values = int(units.max()) + 1, len(SCORE_VALUES)
    flat = units * n_values + (data[criterion].to_numpy(dtype=np.int64) - SCORE_VALUES[0])
    return np.bincount(flat, minlength=n_units * n_values).reshape(n_units, n_values).astype(float)


def _alpha_from_counts(counts: np.ndarray, level: str) -> float:
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.shape[0] < 1 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return float("nan")  # fewer than two values in use: alpha is undefined
    import krippendorff  # imported where used: keeps `import rating.analysis` light for CLIs and the UI

    return float(krippendorff.alpha(value_counts=pairable, value_domain=list(SCORE_VALUES),
                                     level_of_measurement=level))


def unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """Each pairable unit's contribution to Krippendorff's coincidence matrix: shape (U, V, V)."""
    m = counts.sum(axis=1)
    outer = counts[:, :, None] * counts[:, None, :]
    idx = np.arange(counts.shape[1])
    outer[:, idx, idx] -= counts
    return outer / (m - 1)[:, None, None]


def _delta_squared(marginals: np.ndarray, level: str) -> np.ndarray:
    """Squared distance between score values per resample: (B, V) marginals -> (B, V, V)."""
    v = np.asarray(SCORE_VALUES, dtype=float)
    b = marginals.shape[0]
    if level == "nominal":
        return np.broadcast_to((v[:, None] != v[None, :]).astype(float), (b, len(v), len(v)))
    if level == "interval":
        return np.broadcast_to((v[:, None] - v[None, :]) ** 2, (b, len(v), len(v)))
    if level == "ratio":
        return np.broadcast_to(((v[:, None] - v[None, :]) / (v[:, None] + v[None, :])) ** 2, (b, len(v), len(v)))
    cum = np.cumsum(marginals, axis=1)
    between = cum[:, None, :] - cum[:, :, None] + marginals[:, :, None]  # sum of n_g for g = c..k (c <= k)
    upper = np.triu(np.ones((len(v), len(v))))
    d = ((between - (marginals[:, :, None] + marginals[:, None, :]) / 2) ** 2) * upper
    return d + np.transpose(d, (0, 2, 1))


def alpha_from_weights(coincidences: np.ndarray, weights: np.ndarray, level: str) -> np.ndarray:
    """Krippendorff's alpha for each row of unit weights (B, U): a vectorised bootstrap."""
    u, v, _ = coincidences.shape
    o = (weights @ coincidences.reshape(u, v * v)).reshape(-1, v, v)
    n_c = o.sum(axis=2)
    n = n_c.sum(axis=1)
    delta = _delta_squared(n_c, level)
    observed = (o * delta).sum(axis=(1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (n - 1) * observed / expected


def krippendorff_table(ratings: pd.DataFrame, config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Krippendorff's alpha per criterion (units = outputs) with a unit-bootstrap interval.

    The estimate comes from the `krippendorff` package; the bootstrap recomputes the same
    formula from resampled units' coincidence matrices in one vectorised step.
    """
    data = primary_ratings(ratings, config)
    rows = []
    rng = np.random.default_rng(config.seed)
    for criterion in CRITERIA:
        counts = value_counts_matrix(data, criterion)
        counts = counts[counts.sum(axis=1) >= 2]
        alpha = _alpha_from_counts(counts, config.alpha_level)
        low = high = float("nan")
        if counts.shape[0] == 0:
            note = "n/a: no output has been rated by two or more raters"
        elif not np.isfinite(alpha):
            note = "n/a: every rating uses the same score, so agreement beyond chance is undefined"
        elif counts.shape[0] == 1:
            note = "interval n/a: only one output rated by two or more raters"
        else:
            note = ""
        if np.isfinite(alpha) and counts.shape[0] > 1:
            weights = draw_counts(rng.integers(0, counts.shape[0], size=(config.n_bootstrap_alpha, counts.shape[0])),
                                  counts.shape[0])
            boot = alpha_from_weights(unit_coincidences(counts), weights, config.alpha_level)
            low, high = _percentile_interval(boot, config.confidence)
        if note == "" and not (np.isfinite(low) and np.isfinite(high)):
            note = "interval n/a: alpha is undefined in the resamples"
        rows.append([criterion, alpha, low, high, int(counts.shape[0]), int(data["rater"].nunique()),
                     int(counts.sum()), note])
    return pd.DataFrame(rows, columns=["criterion", "alpha", "ci_low", "ci_high", "n_units", "n_raters",
                                       "n_ratings", "note"])


def _weighted_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights on the 1..5 scale (nan when undefined)."""
    k = len(SCORE_VALUES)
    observed = np.zeros((k, k))
    np.add.at(observed, (a.astype(int) - 1, b.astype(int) - 1), 1.0)
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    disagreement_expected = (weights * expected).sum()
    if disagreement_expected == 0:
        return float("nan")
    return float(1 - (weights * observed).sum() / disagreement_expected)


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    from scipy import stats  # imported where used (scipy.stats takes ~0.5 s to import)

    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def self_consistency_table(ratings: pd.DataFrame) -> pd.DataFrame:
    """Each rater's first rating of an output against their hidden repeat, per criterion.

    Rows per rater and criterion, plus rater "ALL" pooling every pair.
    Columns: rater, criterion, n_pairs, exact, within_one, weighted_kappa, spearman.
    """
    cols = ["rater", "criterion", "n_pairs", "exact", "within_one", "weighted_kappa", "spearman", "note"]
    first = ratings[ratings["repeat_index"] == 0]
    again = ratings[ratings["repeat_index"] == 1]
    pairs = first.merge(again, on=["rater", "output_id"], suffixes=("_1", "_2"))
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    groups = [(r, g) for r, g in pairs.groupby("rater", sort=True)] + [("ALL", pairs)]
    for rater, g in groups:
        for criterion in CRITERIA:
            a = g[f"{criterion}_1"].to_numpy()
            b = g[f"{criterion}_2"].to_numpy()
            diff = np.abs(a - b)
            kappa, rho = _weighted_kappa(a, b), _spearman(a, b)[0]
            reasons = []
            if not np.isfinite(kappa):
                reasons.append("weighted kappa n/a: one score value only in both ratings")
            if not np.isfinite(rho):
                reasons.append("spearman n/a: " + ("fewer than 3 pairs" if len(a) < 3 else "a constant score"))
            rows.append([rater, criterion, int(len(g)), float((diff == 0).mean()), float((diff <= 1).mean()),
                         kappa, rho, "; ".join(reasons)])
    return pd.DataFrame(rows, columns=cols)


# --- ROUGE against experts ---------------------------------------------------------------------

def rouge_vs_experts(ratings: pd.DataFrame, config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Spearman rho between each ROUGE variant and each criterion, per output and per system."""
    cols = ["level", "criterion", "metric", "rho", "p_value", "n", "note"]
    data = primary_ratings(ratings, config)
    metrics = metric_columns(data)
    if data.empty:
        return pd.DataFrame(columns=cols)
    per_output = data.groupby("output_id").agg({**{c: "mean" for c in CRITERIA}, **{m: "first" for m in metrics},
                                                "system": "first"})
    per_system = data.groupby("system")[list(CRITERIA)].mean().join(
        per_output.groupby("system")[metrics].mean())
    rows = []
    for level, table in (("output", per_output), ("system", per_system)):
        for criterion in CRITERIA:
            for m in metrics:
                pair = table[[criterion, m]].dropna()
                x, y = pair[m].to_numpy(dtype=float), pair[criterion].to_numpy(dtype=float)
                rho, p = _spearman(x, y)
                note = ""
                if not np.isfinite(rho):
                    note = (f"n/a: fewer than 3 {level}s" if len(pair) < 3
                            else f"n/a: the {'metric' if np.ptp(x) == 0 else 'score'} is the same for every {level}")
                rows.append([level, criterion, m, rho, p, int(len(pair)), note])
    return pd.DataFrame(rows, columns=cols)


# --- system comparison -------------------------------------------------------------------------

def holm_adjust(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (nan stays nan and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def compare_systems(ratings: pd.DataFrame, systems: list[str] | None = None,
                    config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Paired Wilcoxon signed-rank test for every pair of systems and criterion, over cases.

    Each case contributes the mean over its raters of each system's score; mean_diff is
    system_a minus system_b. p_holm is Holm corrected over the pairs of one criterion.
    """
    cols = ["criterion", "system_a", "system_b", "n_cases", "mean_a", "mean_b", "mean_diff", "statistic",
            "p_value", "p_holm", "significant", "note"]
    data = primary_ratings(ratings, config)
    if data.empty:
        return pd.DataFrame(columns=cols)
    from scipy import stats  # imported where used (scipy.stats takes ~0.5 s to import)

    systems = systems or sorted(data["system"].unique())
    case_means = data.groupby(["case_id", "system"])[list(CRITERIA)].mean()
    rows = []
    for criterion in CRITERIA:
        wide = case_means[criterion].unstack("system")
        block = []
        for a, b in itertools.combinations([s for s in systems if s in wide.columns], 2):
            pair = wide[[a, b]].dropna()
            diff = (pair[a] - pair[b]).to_numpy()
            stat = p = float("nan")
            if len(diff) and np.any(diff != 0):
                res = stats.wilcoxon(pair[a].to_numpy(), pair[b].to_numpy())
                stat, p = float(res.statistic), float(res.pvalue)
            elif len(diff):
                p = 1.0
            block.append([criterion, a, b, int(len(pair)), float(pair[a].mean()), float(pair[b].mean()),
                          float(diff.mean()) if len(diff) else float("nan"), stat, p])
        adjusted = holm_adjust([r[-1] for r in block])
        for r, adj in zip(block, adjusted):
            note = ""
            if r[3] == 0:
                note = "n/a: no case has ratings of both systems"
            elif not np.isfinite(r[7]):
                note = "statistic n/a: every paired difference is zero (p = 1)"
            rows.append(r + [float(adj), bool(np.isfinite(adj) and adj < config.significance), note])
    return pd.DataFrame(rows, columns=cols)


# --- progress ----------------------------------------------------------------------------------

def progress_tables(ratings: pd.DataFrame, expected: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings done against expected, per rater and per case (hidden repeats count as work)."""
    done = ratings.groupby(["rater", "case_id", "repeat_index"]).size().rename("done").reset_index()
    merged = expected.merge(done, on=["rater", "case_id", "repeat_index"], how="outer")
    merged["n_outputs"] = merged["n_outputs"].fillna(0)
    merged["done"] = merged["done"].fillna(0)
    merged["complete"] = (merged["done"] >= merged["n_outputs"]) & (merged["n_outputs"] > 0)

    def summarise(key: str) -> pd.DataFrame:
        if merged.empty:
            return pd.DataFrame(columns=[key, "assignments", "complete", "ratings_done", "ratings_expected",
                                         "percent_done"])
        g = merged.groupby(key).agg(assignments=("n_outputs", "size"), complete=("complete", "sum"),
                                    ratings_done=("done", "sum"), ratings_expected=("n_outputs", "sum"))
        g = g.astype("int64")
        g["percent_done"] = (100 * g["ratings_done"] / g["ratings_expected"].where(g["ratings_expected"] > 0)).round(1)
        return g.reset_index()

    return summarise("rater"), summarise("case_id")


# --- everything at once ----------------------------------------------------------------------

@dataclass
class StudyAnalysis:
    """All summaries of one study, as DataFrames ready to show or export."""

    info: dict
    systems: list[str]
    ratings: pd.DataFrame
    outputs: pd.DataFrame
    figure4: pd.DataFrame
    table1: pd.DataFrame
    agreement: pd.DataFrame
    self_consistency: pd.DataFrame
    rouge_vs_experts: pd.DataFrame
    comparisons: pd.DataFrame
    progress_raters: pd.DataFrame
    progress_cases: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    display_names: dict[str, str] = field(default_factory=dict)
    """System name -> name shown in figures and tables (missing: the name itself)."""
    systems_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    """What each system is (systems_table): exported as the "systems" sheet and shown in the Analysis tab."""

    def summary_sheets(self) -> dict[str, pd.DataFrame]:
        """The summary tables by sheet name (for XLSX export and the UI)."""
        return {"figure4": self.figure4, "table1_rouge": self.table1, "agreement": self.agreement,
                "self_consistency": self.self_consistency, "rouge_vs_experts": self.rouge_vs_experts,
                "comparisons": self.comparisons, "progress_raters": self.progress_raters,
                "progress_cases": self.progress_cases, "systems": self.systems_table}


def analyze_frames(info: dict, systems: list[str], ratings: pd.DataFrame, outputs: pd.DataFrame,
                   expected: pd.DataFrame, config: AnalysisConfig = AnalysisConfig(),
                   display_names: dict[str, str] | None = None,
                   described: pd.DataFrame | None = None) -> StudyAnalysis:
    """Every summary from the loaded frames (no database needed)."""
    from rating.tells import stored_warnings

    notes = stored_warnings(info)
    if info.get("simulated"):
        notes.append("SIMULATED DATA: this study was generated by rating.simulate, not rated by people.")
    if ratings.empty:
        notes.append("No ratings yet: only progress is available; every statistic is n/a.")
    elif not (ratings["repeat_index"] == 1).any():
        notes.append("Self-consistency n/a: no hidden repeat has been rated yet.")
    prog_r, prog_c = progress_tables(ratings, expected)
    return StudyAnalysis(info=info, systems=systems, ratings=ratings, outputs=outputs,
                         figure4=figure4_table(ratings, systems, config),
                         table1=table1_rouge(ratings, outputs, systems, config),
                         agreement=krippendorff_table(ratings, config),
                         self_consistency=self_consistency_table(ratings),
                         rouge_vs_experts=rouge_vs_experts(ratings, config),
                         comparisons=compare_systems(ratings, systems, config),
                         progress_raters=prog_r, progress_cases=prog_c, notes=notes,
                         display_names={s: s for s in systems} | dict(display_names or {}),
                         systems_table=described if described is not None else pd.DataFrame())


def analyze_study(session: Session, study_id: int, config: AnalysisConfig = AnalysisConfig()) -> StudyAnalysis:
    """Load one study from the database and compute every summary."""
    info = study_info(session, study_id)
    outputs = load_outputs(session, study_id)
    ratings = load_ratings(session, study_id, outputs)
    return analyze_frames(info, system_order(session, study_id), ratings, outputs,
                          load_expected(session, study_id), config, system_display_names(session, study_id),
                          systems_table(session, study_id))
