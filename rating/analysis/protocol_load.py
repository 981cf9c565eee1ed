"""The errors and pairwise protocols' tidy tables, read from the database (the summaries of them:
rating.analysis.protocol_stats).

Tidy tables (one row per observation, machine names):
- errors: one row per error rating and category: rating_id, case_id, rater, system, category,
  clinically_significant, count (+ repeat_index, calibration, gold, spans as JSON).
- preferences: one row per compared pair and attribute: case_id, rater, system_a, system_b,
  shown_first, attribute, preference (-2 = system_a much better .. 2 = system_b much better),
  harm_extent, harm_likelihood (+ harm_system, repeat_index, calibration, gold). system_a is the
  earlier of the two in the study's system order; shown_first names the system shown on the left.
  The harm columns give the harm marked for the pair: for the text marked as holding an error, or
  the more severe of the two when both were (harm_system says whose); every text's own harm is in
  the harm table.
- harm: one row per text judged in a pair: case_id, rater, system, pair_with, error_marked,
  harm_extent, harm_likelihood.

Takes a session; the caller owns the transaction.
"""
from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.protocol_scales import ATTRIBUTES, HARM_EXTENTS, HARM_LIKELIHOODS
from db.models import Case, Output, Rater, System
from db.protocol_models import ErrorCount, ErrorRating, GoldCase, Preference
from rating.analysis.load import system_order

ERROR_COLUMNS = ["rating_id", "case_id", "rater", "system", "category", "clinically_significant", "count",
                 "repeat_index", "calibration", "gold", "spans", "output_id"]
PREFERENCE_COLUMNS = ["case_id", "rater", "system_a", "system_b", "shown_first", "attribute", "preference",
                      "harm_extent", "harm_likelihood", "harm_system", "repeat_index", "calibration", "gold"]
HARM_COLUMNS = ["case_id", "rater", "system", "pair_with", "error_marked", "harm_extent", "harm_likelihood",
                "repeat_index", "calibration", "gold", "output_id"]


def _lookups(session: Session, study_id: int) -> tuple[dict, dict, dict, set]:
    outputs = dict((oid, (case_id, name)) for oid, case_id, name in session.execute(
        select(Output.id, Output.case_id, System.name).join(System, Output.system_id == System.id)
        .where(System.study_id == study_id)))
    raters = dict(session.execute(select(Rater.id, Rater.pseudonym).where(Rater.study_id == study_id)).all())
    calibration = dict(session.execute(select(Case.id, Case.calibration).where(Case.study_id == study_id)).all())
    gold = set(session.scalars(select(GoldCase.case_id).join(Case).where(Case.study_id == study_id)))
    return outputs, raters, calibration, gold


def load_errors(session: Session, study_id: int) -> pd.DataFrame:
    """The tidy errors table of one study (see the module docstring)."""
    outputs, raters, calibration, gold = _lookups(session, study_id)
    rows = session.execute(
        select(ErrorRating.id, ErrorRating.output_id, ErrorRating.rater_id, ErrorRating.repeat_index,
               ErrorCount.category, ErrorCount.clinically_significant, ErrorCount.count, ErrorCount.spans)
        .join(ErrorCount, ErrorCount.error_rating_id == ErrorRating.id)
        .where(ErrorRating.rater_id.in_(list(raters))).order_by(ErrorRating.id, ErrorCount.id)).all()
    records = []
    for rid, oid, rater_id, repeat, category, sig, count, spans in rows:
        case_id, system = outputs[oid]
        records.append([rid, case_id, raters[rater_id], system, category, bool(sig), int(count), int(repeat),
                        bool(calibration[case_id]), case_id in gold, json.dumps(spans or []), oid])
    return pd.DataFrame(records, columns=ERROR_COLUMNS)


_EXTENT_RANK = {e: i for i, e in enumerate(HARM_EXTENTS)}
_LIKELIHOOD_RANK = {v: i for i, v in enumerate(HARM_LIKELIHOODS)}


def _worse(a: tuple, b: tuple) -> tuple:
    """The more severe of two (extent, likelihood, system) harms; None parts lose."""
    def rank(h):
        return (-1, -1) if h[0] is None else (_EXTENT_RANK[h[0]], _LIKELIHOOD_RANK[h[1]])
    return a if rank(a) >= rank(b) else b


def load_preferences(session: Session, study_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy preferences and harm tables of one study (see the module docstring)."""
    outputs, raters, calibration, gold = _lookups(session, study_id)
    order = {name: i for i, name in enumerate(system_order(session, study_id))}
    prefs, harms = [], []
    for p in session.scalars(select(Preference).where(Preference.rater_id.in_(list(raters)))
                             .order_by(Preference.id)):
        case_id, left = outputs[p.left_output_id]
        _, right = outputs[p.right_output_id]
        rater = raters[p.rater_id]
        flags = dict(repeat_index=int(p.repeat_index), calibration=bool(calibration[case_id]), gold=case_id in gold)
        left_first = order[left] <= order[right]
        system_a, system_b = (left, right) if left_first else (right, left)
        sides = [(p.left_harm_extent, p.left_harm_likelihood, left if p.left_error else None),
                 (p.right_harm_extent, p.right_harm_likelihood, right if p.right_error else None)]
        harm = _worse(*(sides if left_first else sides[::-1]))  # a tie goes to system_a, whichever side it was on
        for attribute in ATTRIBUTES:
            value = int(getattr(p, attribute))
            prefs.append({"case_id": case_id, "rater": rater, "system_a": system_a, "system_b": system_b,
                          "shown_first": left, "attribute": attribute, "preference": value if left_first else -value,
                          "harm_extent": harm[0], "harm_likelihood": harm[1], "harm_system": harm[2], **flags})
        for side, system, other, oid in (("left", left, right, p.left_output_id),
                                         ("right", right, left, p.right_output_id)):
            harms.append({"case_id": case_id, "rater": rater, "system": system, "pair_with": other, "output_id": oid,
                          "error_marked": bool(getattr(p, f"{side}_error")),
                          "harm_extent": getattr(p, f"{side}_harm_extent"),
                          "harm_likelihood": getattr(p, f"{side}_harm_likelihood"), **flags})
    return pd.DataFrame(prefs, columns=PREFERENCE_COLUMNS), pd.DataFrame(harms, columns=HARM_COLUMNS)
