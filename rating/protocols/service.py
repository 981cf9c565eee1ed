"""Storing and reading what raters record under the errors and pairwise protocols.

RatingService (rating/service.py) calls these inside its own transactions, so sign-in, drafts,
resume, progress, missing-value marks and blinding work exactly as for 1-5 scores: the rater sees
labels (A, B, ...) and pair keys ("A-B": A shown left), never an output id or a system. Output ids
are reached only through the assignment's stored, secrets-drawn label order. Functions take a
session; the caller owns the transaction.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, selectinload

from core.protocol_scales import ERROR_CELLS, PAIR_FIELDS
from db.models import Assignment, Rating, Study
from db.protocol_models import ErrorCount, ErrorRating, Preference
from rating.protocols.definitions import (ProtocolError, pair_keys, parse_error_values, parse_pair_values,
                                          parse_protocols)

EXTRA = ("errors", "pairwise")
"""The protocols this module stores (likert stays in rating/service.py)."""


def study_protocols(session: Session, study_id: int) -> tuple[str, ...]:
    return parse_protocols(session.get(Study, study_id).protocols or "likert")


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).isoformat()


# --- progress ---------------------------------------------------------------------------------

def unrated_positions(session: Session, rater_id: int, study_id: int) -> list[int]:
    """Positions of a rater's cases without a complete rating under every protocol of the study, in queue
    order (the rater page's progress, `rating.study list` and the admin's rater list all count with it)."""
    protocols = study_protocols(session, study_id)
    missing = incomplete_positions(session, rater_id, protocols)
    if "likert" in protocols:
        own = and_(Rating.assignment_id == Assignment.id, Rating.rater_id == Assignment.rater_id)
        rows = session.execute(select(Assignment.position, Assignment.label_order, func.count(Rating.id))
                               .outerjoin(Rating, own).where(Assignment.rater_id == rater_id)
                               .group_by(Assignment.id)).all()
        missing |= {pos for pos, order, n in rows if n < len(order)}
    return sorted(missing)


def incomplete_positions(session: Session, rater_id: int, protocols: Sequence[str]) -> set[int]:
    """Queue positions where the errors or pairwise part of the case is not complete (one query each)."""
    missing: set[int] = set()
    if "errors" in protocols:
        own = and_(ErrorRating.assignment_id == Assignment.id, ErrorRating.rater_id == Assignment.rater_id)
        rows = session.execute(select(Assignment.position, Assignment.label_order,
                                      func.count(func.distinct(ErrorRating.label)))
                               .outerjoin(ErrorRating, own).where(Assignment.rater_id == rater_id)
                               .group_by(Assignment.id)).all()
        missing |= {pos for pos, order, n in rows if n < len(order)}
    if "pairwise" in protocols:
        own = and_(Preference.assignment_id == Assignment.id, Preference.rater_id == Assignment.rater_id)
        rows = session.execute(select(Assignment.position, Assignment.label_order,
                                      func.count(func.distinct(Preference.pair_key)))
                               .outerjoin(Preference, own).where(Assignment.rater_id == rater_id)
                               .group_by(Assignment.id)).all()
        missing |= {pos for pos, order, n in rows if n < len(order) * (len(order) - 1) // 2}
    return missing


# --- the view -----------------------------------------------------------------------------------

def _error_state(er: ErrorRating) -> dict:
    counts = {cell: 0 for cell in ERROR_CELLS}
    spans = {}
    for c in er.counts:
        cell = f"{c.category}.{'s' if c.clinically_significant else 'i'}"
        counts[cell] = c.count
        if c.spans:
            spans[cell] = [list(s) for s in c.spans]
    return {"counts": counts, "spans": spans}


def _pair_state(p: Preference) -> dict:
    return {f: getattr(p, f) for f in PAIR_FIELDS}


def protocol_view(session: Session, assignment: Assignment, protocols: Sequence[str], labels: Sequence[str]) -> dict:
    """What the page needs beyond the candidates: the protocols, the pairs and the rater's own saved values."""
    view: dict = {"protocols": list(protocols)}
    by_output = dict(zip(assignment.label_order, labels, strict=False))
    if "errors" in protocols:
        rows = session.scalars(select(ErrorRating).options(selectinload(ErrorRating.counts))
                               .where(ErrorRating.assignment_id == assignment.id,
                                      ErrorRating.rater_id == assignment.rater_id))
        view["errors"] = {by_output[r.output_id]: _error_state(r) for r in rows if r.output_id in by_output}
    if "pairwise" in protocols:
        rows = session.scalars(select(Preference).where(Preference.assignment_id == assignment.id,
                                                        Preference.rater_id == assignment.rater_id))
        saved = {r.pair_key: _pair_state(r) for r in rows}
        view["pairs"] = [{"key": key, "left": left, "right": right, "values": saved.get(key)}
                         for key, left, right in pair_keys(labels)]
    return view


# --- parsing form values ------------------------------------------------------------------------

def parse_protocol_values(raw: object, protocols: Sequence[str], texts: Mapping[str, str],
                          draft: bool = False) -> dict:
    """Validate the errors/pairwise part of a submission (or a draft) for a case with these labelled texts.

    A submission must hold every candidate (errors) and every pair (pairwise); a draft may hold
    some, with values missing. Raises ProtocolError.
    """
    wanted = [p for p in protocols if p in EXTRA]
    if not wanted:
        if raw not in (None, {}):
            raise ProtocolError("This study records only 1-5 scores.")
        return {}
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ProtocolError("The protocol values must be a mapping of 'errors' and 'pairs'.")
    foreign = [k for k in raw if k not in ("errors", "pairs")]
    if foreign:
        raise ProtocolError(f"Unknown part {str(foreign[0])[:30]!r} of the protocol values.")
    labels = list(texts)
    out: dict = {}
    if "errors" in wanted:
        errors = raw.get("errors") or {}
        if not isinstance(errors, Mapping):
            raise ProtocolError("The error counts must map candidate labels to their counts.")
        unknown = [str(k)[:5] for k in errors if k not in texts]
        if unknown:
            raise ProtocolError(f"Candidate {unknown[0]} is not part of this case.")
        missing = [lab for lab in labels if lab not in errors]
        if missing and not draft:
            raise ProtocolError(f"Please count the errors of every candidate (missing: {', '.join(missing)}).")
        out["errors"] = {lab: parse_error_values(errors[lab], lab, len(texts[lab]), draft) for lab in labels
                         if lab in errors}
    elif raw.get("errors"):
        raise ProtocolError("This study does not record error counts.")
    if "pairwise" in wanted:
        pairs = raw.get("pairs") or {}
        if not isinstance(pairs, Mapping):
            raise ProtocolError("The preferences must map pair keys (A-B) to their values.")
        keys = [key for key, _, _ in pair_keys(labels)]
        unknown = [str(k)[:7] for k in pairs if k not in keys]
        if unknown:
            raise ProtocolError(f"Pair {unknown[0]} is not part of this case.")
        missing = [k for k in keys if k not in pairs]
        if missing and not draft:
            raise ProtocolError(f"Please compare every pair (missing: {', '.join(missing)}).")
        out["pairs"] = {k: parse_pair_values(pairs[k], k, draft) for k in keys if k in pairs}
    elif raw.get("pairs"):
        raise ProtocolError("This study does not record preferences.")
    return out


# --- storing ------------------------------------------------------------------------------------

def save_protocol_values(session: Session, assignment: Assignment, values: Mapping, by_label: Mapping[str, int],
                         same_text: Mapping[int, list[int]], started: datetime, now: datetime,
                         time_on_task: float) -> None:
    """Store a validated submission; a changed earlier rating keeps its old state in `history`.

    A candidate standing for several outputs with the same text (rating/shared_texts.py) gets the
    rating for each of them, as 1-5 scores do; a pair then stands for each combination.
    """
    shown = set(by_label.values())

    def group(output_id: int) -> list[int]:
        return [output_id, *(o for o in same_text.get(output_id, []) if o not in shown)]

    positions = {label: i for i, label in enumerate(by_label)}
    common = dict(assignment_id=assignment.id, rater_id=assignment.rater_id, repeat_index=assignment.repeat_index)
    existing = {r.output_id: r for r in session.scalars(
        select(ErrorRating).options(selectinload(ErrorRating.counts))
        .where(ErrorRating.rater_id == assignment.rater_id, ErrorRating.repeat_index == assignment.repeat_index,
               ErrorRating.output_id.in_([o for lab in values.get("errors", {}) for o in group(by_label[lab])])))}
    for label, ev in values.get("errors", {}).items():
        for oid in group(by_label[label]):
            current = existing.get(oid)
            if current is None:
                current = ErrorRating(output_id=oid, label=label, display_position=positions[label],
                                      started_at=started, submitted_at=now, updated_at=now,
                                      time_on_task_s=time_on_task, revision=1, history=[], **common)
                session.add(current)
            else:
                before = _error_state(current)
                if assignment.active_ms:
                    current.time_on_task_s = time_on_task
                if before == {"counts": ev.counts, "spans": ev.spans}:
                    continue
                current.history = [*current.history, {"revision": current.revision, **before,
                                                      "updated_at": _iso(current.updated_at)}]
                current.revision += 1
                current.updated_at = now
                current.counts.clear()
                session.flush()
            for cell in ERROR_CELLS:
                category, sig = cell.split(".")
                current.counts.append(ErrorCount(category=category, clinically_significant=sig == "s",
                                                 count=ev.counts[cell], spans=ev.spans.get(cell, [])))
    for key, pv in values.get("pairs", {}).items():
        left_label, right_label = key.split("-")
        for left in group(by_label[left_label]):
            for right in group(by_label[right_label]):
                current = session.scalar(select(Preference).where(
                    Preference.rater_id == assignment.rater_id, Preference.left_output_id == left,
                    Preference.right_output_id == right, Preference.repeat_index == assignment.repeat_index))
                if current is None:
                    session.add(Preference(pair_key=key, left_output_id=left, right_output_id=right,
                                           started_at=started, submitted_at=now, updated_at=now,
                                           time_on_task_s=time_on_task, revision=1, history=[], **common, **pv))
                    continue
                before = _pair_state(current)
                if assignment.active_ms:
                    current.time_on_task_s = time_on_task
                if before == pv:
                    continue
                current.history = [*current.history, {"revision": current.revision, **before,
                                                      "updated_at": _iso(current.updated_at)}]
                for f, v in pv.items():
                    setattr(current, f, v)
                current.revision += 1
                current.updated_at = now
    session.flush()


def as_json(values: Mapping) -> dict:
    """Parsed draft values as stored in RatingDraft.data["protocol"] (plain JSON)."""
    out = dict(values)
    if "errors" in out:
        out["errors"] = {lab: {"counts": ev.counts, "spans": ev.spans} for lab, ev in out["errors"].items()}
    return out
