"""A whole study's analysis with its protocols: the 1-5 scores' summaries (rating.analysis) without
gold cases and without excluded raters, plus the errors, pairwise and gold tables.

    likert, extra = analyze_study_with_protocols(session, study_id, config, exclude_raters=("R03",),
                                                 min_gold_accuracy=0.8)

Every acknowledged rating stays in the tidy tables (ratings.csv, errors.csv, preferences.csv);
gold cases and excluded raters are left out of every statistic (Figure 4, comparisons, agreement,
the protocol summaries), and the notes say so. Progress still counts everything.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case, Rater
from db.protocol_models import GoldCase
from rating.analysis.config import AnalysisConfig
from rating.analysis.load import (load_expected, load_outputs, load_ratings, study_info, system_display_names,
                                  system_order, systems_table)
from rating.analysis.progress import progress_tables
from rating.analysis.protocol_load import load_errors, load_preferences
from rating.analysis.protocol_stats import errors_per_category, errors_per_report, harm_distribution, preference_summary
from rating.analysis.summary import StudyAnalysis, TableHook, analyze_frames
from rating.protocols.gold import gold_accuracy, gold_answers
from rating.protocols.service import study_protocols

ERRORS_EXPORT = ["rating_id", "case_id", "rater", "system", "category", "clinically_significant", "count",
                 "repeat_index", "calibration", "gold", "spans"]
PREFERENCES_EXPORT = ["case_id", "rater", "system_a", "system_b", "shown_first", "attribute", "preference",
                      "harm_extent", "harm_likelihood", "harm_system", "repeat_index", "calibration", "gold"]
HARM_EXPORT = ["case_id", "rater", "system", "pair_with", "error_marked", "harm_extent", "harm_likelihood",
               "repeat_index", "calibration", "gold"]


@dataclass
class ProtocolAnalysis:
    """The errors, pairwise and gold tables of one study (empty frames for protocols it does not use)."""

    protocols: tuple[str, ...]
    errors: pd.DataFrame
    preferences: pd.DataFrame
    harm: pd.DataFrame
    summaries: dict[str, pd.DataFrame] = field(default_factory=dict)
    excluded_raters: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def tidy_tables(self) -> dict[str, pd.DataFrame]:
        """File stem -> tidy table for the protocols the study uses (errors, preferences, harm)."""
        out = {}
        if "errors" in self.protocols:
            out["errors"] = self.errors[ERRORS_EXPORT]
        if "pairwise" in self.protocols:
            out["preferences"] = self.preferences[PREFERENCES_EXPORT]
            out["harm"] = self.harm[HARM_EXPORT]
        return out


def _gold(session: Session, study_id: int) -> pd.DataFrame:
    rows = session.execute(select(GoldCase.case_id, GoldCase.output_id, GoldCase.expected).join(Case)
                           .where(Case.study_id == study_id)).all()
    return pd.DataFrame(rows, columns=["case_id", "output_id", "expected"])


def analyze_study_with_protocols(session: Session, study_id: int, config: AnalysisConfig = AnalysisConfig(),
                                 exclude_raters: Sequence[str] = (), min_gold_accuracy: float | None = None,
                                 on_table: TableHook | None = None) -> tuple[StudyAnalysis, ProtocolAnalysis]:
    """Every summary of one study (see the module docstring). exclude_raters: pseudonyms (R03) to leave out;
    min_gold_accuracy: also leave out raters whose accuracy on gold cases is below it (0..1); on_table:
    called with each Likert summary table as soon as it is built (rating.analysis.summary.TableHook)."""
    if min_gold_accuracy is not None and not 0 <= min_gold_accuracy <= 1:
        raise ValueError(f"the minimum gold accuracy must lie in [0, 1], not {min_gold_accuracy}")
    info = study_info(session, study_id)
    protocols = study_protocols(session, study_id)
    systems = system_order(session, study_id)
    outputs = load_outputs(session, study_id)
    ratings = load_ratings(session, study_id, outputs)
    expected = load_expected(session, study_id)
    pseudonyms = list(session.scalars(select(Rater.pseudonym).where(Rater.study_id == study_id)
                                      .order_by(Rater.pseudonym)))
    unknown = sorted(set(exclude_raters) - set(pseudonyms))
    if unknown:
        raise ValueError(f"no rater {', '.join(unknown)} in this study (raters: {', '.join(pseudonyms)})")
    errors = load_errors(session, study_id)
    preferences, harm = load_preferences(session, study_id)
    gold = _gold(session, study_id)
    summaries: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    excluded = set(exclude_raters)
    if not gold.empty:
        answers = gold_answers(gold, ratings, errors, harm)
        accuracy = gold_accuracy(answers, pseudonyms, min_gold_accuracy)
        summaries["gold_accuracy"] = accuracy
        summaries["gold_answers"] = answers
        failed = accuracy.loc[accuracy["passed"] == "no", "rater"].tolist()
        excluded |= set(failed)
        notes.append(f"{len(gold)} gold case(s) are left out of every statistic; accuracy per rater is in "
                     f"the gold_accuracy sheet.")
        if failed:
            notes.append(f"Left out for a gold accuracy below {min_gold_accuracy:g}: {', '.join(failed)}.")
    if exclude_raters:
        notes.append(f"Left out by the PI: {', '.join(sorted(set(exclude_raters)))}.")
    gold_cases = set(gold["case_id"])
    keep = ~ratings["case_id"].isin(gold_cases) & ~ratings["rater"].isin(excluded)
    likert = analyze_frames(info, systems, ratings[keep].reset_index(drop=True), outputs, expected, config,
                            system_display_names(session, study_id), systems_table(session, study_id), on_table)
    likert.ratings = ratings
    likert.tables["progress_raters"], likert.tables["progress_cases"] = progress_tables(ratings, expected)
    likert.notes.extend(notes)
    if "likert" not in protocols:
        likert.notes.append(f"This study uses the {', '.join(protocols)} protocol: it has no 1-5 scores, so "
                            f"Figure 4 and the score tables are empty.")

    def kept(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[~frame["rater"].isin(excluded)] if len(frame) else frame

    if "errors" in protocols:
        summaries["errors_per_report"] = errors_per_report(kept(errors), systems, config)
        summaries["errors_per_category"] = errors_per_category(kept(errors), systems, config)
    if "pairwise" in protocols:
        summaries["preference_summary"] = preference_summary(kept(preferences), config, systems)
        summaries["harm_distribution"] = harm_distribution(kept(harm), systems, config)
    extra = ProtocolAnalysis(protocols=protocols, errors=errors, preferences=preferences, harm=harm,
                             summaries=summaries, excluded_raters=sorted(excluded), notes=notes)
    return likert, extra

