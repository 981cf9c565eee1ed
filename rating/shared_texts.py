"""Outputs of one case whose display texts are identical: one candidate on the rater's page.

Two systems that write the same impression (OpenI's normal cases often get the same words from
several systems) would otherwise show the rater two identical candidates and so reveal that they
are different systems that agree. Each group is shown once; the rating of it is stored for every
output of the group, and exports name the systems that shared the text (`shared_with`).
Functions take a session; the caller owns the transaction.
"""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.display_text import display_text, same_text_groups
from db.models import Case, Output


def _texts_by_case(session: Session, where) -> dict[int, dict[int, str]]:
    texts: dict[int, dict[int, str]] = {}
    for case_id, output_id, text in session.execute(
            select(Output.case_id, Output.id, Output.text).join(Case).where(where).order_by(Output.id)):
        texts.setdefault(case_id, {})[output_id] = text
    return texts


def candidates_by_case(session: Session, study_id: int) -> dict[int, list[int]]:
    """Per case, one output id per distinct display text (which one stands for a group: at random)."""
    pick = secrets.SystemRandom().choice
    return {case_id: [pick(group) for group in same_text_groups(texts)]
            for case_id, texts in _texts_by_case(session, Case.study_id == study_id).items()}


def same_text_outputs(session: Session, case_id: int) -> dict[int, list[int]]:
    """Per output of the case, the other outputs of the case with the same display text (one query)."""
    texts = _texts_by_case(session, Case.id == case_id).get(case_id, {})
    groups = same_text_groups(texts)
    return {oid: [o for o in group if o != oid] for group in groups for oid in group}


def shared_with(case_ids: list, systems: list, texts: list) -> list[str]:
    """Per output, the other systems of its case that wrote the same display text ("; "-joined, "" if none)."""
    groups: dict[tuple, list[str]] = {}
    keys = [(case_id, display_text(text)) for case_id, text in zip(case_ids, texts, strict=True)]
    for key, system in zip(keys, systems, strict=True):
        groups.setdefault(key, []).append(system)
    return ["; ".join(sorted(s for s in groups[key] if s != system)) for key, system in zip(keys, systems, strict=True)]
