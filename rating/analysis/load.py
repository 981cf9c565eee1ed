"""Database -> plain DataFrames: the tidy ratings table, the outputs with their metrics, expected work.

The tidy table has ONE ROW PER RATING (one rater's scores of one output, i.e. one system's
impression for one case), with the five criteria as five score columns (see
`db.models.CRITERIA`). Columns, in order:

    rating_id, study_id, study_name, simulated,
    case_id, case_source, case_source_id, stratum, calibration,
    rater (pseudonym such as "R01"; never the name or token), rater_role, rater_experience_years,
    system, system_display (the name figures and tables show), system_kind, output_id,
    shared_with (the other systems of the case that wrote the same text: it was shown once and its
    rating counts for each of them; "" when none),
    label (A, B, ... as shown), display_position, repeat_index
    (0 first rating, 1 hidden repeat), understandability, coherence, relevance, conciseness,
    clinical_utility (1..5), comment, significant_error, time_on_task_s,
    started_at, submitted_at, updated_at (UTC), revision,
    rouge1, rouge2, rougeL (F1 of the output against the case's reference impression)
    [+ clinical metric columns when core.clinical is available].

ROUGE is computed once per distinct (output text, reference) pair and cached in memory, never
per rating. Everything after `load_ratings` / `load_outputs` / `load_expected` works on plain
DataFrames, so it can be tested without a database.
"""
from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import CRITERIA, Assignment, Case, Output, Rater, Rating, Study, System
from rating.analysis.metrics import metric_columns, output_metrics
from rating.shared_texts import shared_with

RATING_COLUMNS = (
    "rating_id", "study_id", "study_name", "simulated",
    "case_id", "case_source", "case_source_id", "stratum", "calibration",
    "rater", "rater_role", "rater_experience_years",
    "system", "system_display", "system_kind", "output_id", "shared_with", "label", "display_position",
    "repeat_index", *CRITERIA, "comment", "significant_error", "time_on_task_s",
    "started_at", "submitted_at", "updated_at", "revision",
)
TIMESTAMP_COLUMNS = ("started_at", "submitted_at", "updated_at")


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
    out["shared_with"] = shared_with(out["case_id"].tolist(), out["system"].tolist(), out["text"].tolist())
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


REFERENCE_DISPLAY_NAME = "Reference (radiologist)"
"""What figures and tables call the reference system (kind "reference") when the PI gave it no name."""


def system_display_names(session: Session, study_id: int) -> dict[str, str]:
    """System name -> the name figures and tables show: the PI's display name, else "Reference
    (radiologist)" for the reference system, else the system's name."""
    rows = session.execute(select(System.name, System.display_name, System.kind)
                           .where(System.study_id == study_id)).all()
    return {name: shown or (REFERENCE_DISPLAY_NAME if kind == "reference" else name) for name, shown, kind in rows}


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
    per_output = outputs[out_cols].merge(cases, on="case_id", how="left", validate="many_to_one")  # small
    df = (df.merge(per_output, on="output_id", how="left", validate="many_to_one")
          .merge(raters, on="rater_id", how="left", validate="many_to_one"))
    df["study_id"] = info["study_id"]
    df["study_name"] = info["name"]
    df["simulated"] = info["simulated"]
    shown = system_display_names(session, study_id)
    df["system_display"] = df["system"].map(shown).fillna(df["system"]).astype("str")
    return df[[*RATING_COLUMNS, *metric_columns(outputs)]]


def load_expected(session: Session, study_id: int) -> pd.DataFrame:
    """One row per assignment: rater pseudonym, case, repeat index and how many outputs it shows."""
    n_outputs = select(Output.case_id, func.count(Output.id).label("n")).group_by(Output.case_id).subquery()
    stmt = (select(Rater.pseudonym, Assignment.case_id, Assignment.repeat_index, n_outputs.c.n)
            .join(Rater, Assignment.rater_id == Rater.id)
            .join(n_outputs, n_outputs.c.case_id == Assignment.case_id)
            .where(Rater.study_id == study_id, Rater.revoked.is_(False)))
    frame = pd.DataFrame.from_records(_raw_rows(session, stmt), columns=["rater", "case_id", "repeat_index",
                                                                         "n_outputs"])
    return frame.astype({"case_id": "int64", "repeat_index": "int64", "n_outputs": "int64"})
