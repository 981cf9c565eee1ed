"""What a rater may do: sign in with their token, see one case at a time, rate, move, edit.

Blinding: nothing returned from here names a system, its kind or an output id. A rater
sees findings, candidate texts under per-rater labels A, B, C..., and only their own
ratings. Output ids are reached server-side only through (assignment, label).
Every public method takes the rater's token and checks it first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.display_text import display_text
from db.engine import unit_of_work
from db.models import CRITERIA, MAX_COMMENT_CHARS, Assignment, Output, Rater, Rating, RatingEdit
from rating.assignments import label_for
from rating.form_values import finite_number, has_control_characters
from rating.shared_texts import same_text_outputs
from rating.throttle import FailureThrottle, Throttled
from rating.tokens import hash_token

CRITERION_TITLES = {
    "understandability": "Understandability",
    "coherence": "Coherence",
    "relevance": "Relevance",
    "conciseness": "Conciseness",
    "clinical_utility": "Clinical utility",
}
ANCHORS = {
    "understandability": ("hard to understand, ambiguous wording", "immediately clear to a referring clinician"),
    "coherence": ("disjointed or self-contradictory", "logically organised and consistent"),
    "relevance": ("misses or misstates the key findings", "captures every clinically important finding"),
    "conciseness": ("verbose or padded with irrelevant detail", "as short as possible without losing content"),
    "clinical_utility": ("would mislead or not help patient care", "could be signed and acted on as written"),
}
"""What a score of 1 and a score of 5 mean, per criterion (shown next to each input)."""

MAX_TOKEN_CHARS = 200
RATER_MAX_WRONG_CODES = 10
"""Wrong access codes from one client (IP address) in 10 minutes before it is refused for 15 minutes.
Higher than the admin's 5: raters behind one proxy share an address, and 192-bit tokens need no
tighter limit; it stops a guesser, and a stolen-link prober, from trying codes at full speed."""


class RatingError(ValueError):
    """A request a rater made that cannot be done; the message is safe to show them."""


class AccessDenied(RatingError):
    """Missing, wrong, expired or revoked token."""


@dataclass(frozen=True)
class CandidateView:
    """One candidate impression as this rater sees it, with their own current rating if any."""

    label: str
    text: str
    scores: dict = field(default_factory=dict)  # criterion -> int, empty when not rated yet
    comment: str = ""
    significant_error: bool = False


@dataclass(frozen=True)
class CaseView:
    """What the rater page shows. position is 0-based; position == total means 'finished'."""

    rater_name: str
    position: int
    total: int
    n_completed: int
    findings: str = ""
    candidates: tuple[CandidateView, ...] = ()
    rated: bool = False
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.position >= self.total

    @property
    def progress(self) -> str:
        if self.finished:
            return f"Finished: {self.n_completed} of {self.total} cases rated"
        return f"Case {self.position + 1} of {self.total} ({self.n_completed} rated)"


@dataclass(frozen=True)
class CandidateRating:
    """A validated rating of one labelled candidate."""

    label: str
    scores: dict
    comment: str = ""
    significant_error: bool = False


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _parse_score(value: object, label: str, criterion: str) -> int:
    where = f"candidate {label}, {CRITERION_TITLES[criterion].lower()}"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RatingError(f"Please give a score for {where}.")
    if isinstance(value, bool):
        raise RatingError(f"The score for {where} must be a whole number from 1 to 5.")
    number = finite_number(value)  # None for nan, inf, text
    if number is None or number != int(number) or not 1 <= number <= 5:
        raise RatingError(f"The score for {where} must be a whole number from 1 to 5, not {str(value)[:20]!r}.")
    return int(number)


def parse_candidate_rating(raw: Mapping) -> CandidateRating:
    """Validate one candidate's form values: {label, <criterion>: 1..5, comment, significant_error}."""
    label = str(raw.get("label", "")).strip().upper()
    if not label:
        raise RatingError("Each rating needs the candidate's label (A, B, ...).")
    scores = {c: _parse_score(raw.get(c), label, c) for c in CRITERIA}
    comment = raw.get("comment") or ""
    if not isinstance(comment, str):
        raise RatingError(f"The comment for candidate {label} must be text.")
    if has_control_characters(comment):
        raise RatingError(f"The comment for candidate {label} holds a character that is not allowed (NUL or "
                          f"another control character).")
    if len(comment) > MAX_COMMENT_CHARS:
        raise RatingError(f"The comment for candidate {label} has {len(comment)} characters; "
                          f"at most {MAX_COMMENT_CHARS} are allowed.")
    flag = raw.get("significant_error", False)
    if flag not in (True, False, None, 0, 1):
        raise RatingError(f"The 'clinically significant error' flag for candidate {label} must be true or false.")
    return CandidateRating(label=label, scores=scores, comment=comment.strip(), significant_error=bool(flag))


class RatingService:
    """Rater-facing operations; each call is one short transaction."""

    def __init__(self, session_factory, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 throttle: FailureThrottle | None = None, client: Callable[[], str | None] = lambda: None):
        """throttle: refuses a client after repeated wrong tokens; client: who is calling now (app.py wires it)."""
        self.session_factory = session_factory
        self.clock = clock
        self.throttle = throttle or FailureThrottle(max_failures=RATER_MAX_WRONG_CODES)
        self.client = client

    # --- access ---------------------------------------------------------------------------
    def _rater(self, session: Session, token: object) -> Rater:
        if not isinstance(token, str) or not token.strip():
            raise AccessDenied("Please sign in with the access code from your invitation link.")
        client = self.client()
        try:
            self.throttle.check(client)
        except Throttled as exc:
            raise AccessDenied(str(exc)) from None
        if len(token) > MAX_TOKEN_CHARS:
            self.throttle.failed(client)
            raise AccessDenied("This access code is not valid.")
        rater = session.scalar(select(Rater).where(Rater.token_hash == hash_token(token)))
        if rater is None:
            self.throttle.failed(client)
            raise AccessDenied("This access code is not valid. Check the link in your invitation.")
        if rater.revoked:
            raise AccessDenied("This invitation has been withdrawn. Please contact the study coordinator.")
        expires = _utc(rater.expires_at)
        if expires is not None and expires <= self.clock():
            raise AccessDenied("This invitation has expired. Please contact the study coordinator.")
        return rater

    # --- reading --------------------------------------------------------------------------
    def resume(self, token: str) -> CaseView:
        """Sign in: the case the rater last viewed, else their first case without a complete rating."""
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token)
            total = self._total(session, rater)
            position = rater.last_position
            if position is None:
                position = self._first_incomplete(session, rater, total)
            return self._open(session, rater, min(max(position, 0), total), total)

    def open_case(self, token: str, position: object) -> CaseView:
        """Show the case at `position` (0-based) of the rater's own queue; `total` shows the end."""
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token)
            total = self._total(session, rater)
            return self._open(session, rater, self._position(position, total), total)

    def _total(self, session: Session, rater: Rater) -> int:
        return session.scalar(select(func.count(Assignment.id)).where(Assignment.rater_id == rater.id)) or 0

    def _position(self, position: object, total: int) -> int:
        value = finite_number(position)
        if value is None:
            raise RatingError("Unknown case position.")
        if value != int(value) or not 0 <= value <= total:
            raise RatingError(f"There is no case {position} in your list.")
        return int(value)

    def _first_incomplete(self, session: Session, rater: Rater, total: int) -> int:
        for assignment in session.scalars(select(Assignment).where(Assignment.rater_id == rater.id)
                                          .order_by(Assignment.position)):
            if len(self._own_ratings(session, assignment)) < len(assignment.label_order):
                return assignment.position
        return total

    def _n_completed(self, session: Session, rater: Rater) -> int:
        per_assignment = (select(Rating.assignment_id, func.count(Rating.id).label("n"))
                          .where(Rating.rater_id == rater.id).group_by(Rating.assignment_id).subquery())
        rows = session.execute(select(Assignment.label_order, per_assignment.c.n)
                               .join(per_assignment, per_assignment.c.assignment_id == Assignment.id)).all()
        return sum(1 for order, n in rows if n >= len(order))

    def _own_ratings(self, session: Session, assignment: Assignment) -> dict[int, Rating]:
        """This rater's ratings for this assignment, by output id (never anyone else's)."""
        rows = session.scalars(select(Rating).where(Rating.assignment_id == assignment.id,
                                                    Rating.rater_id == assignment.rater_id))
        return {r.output_id: r for r in rows}

    def _assignment(self, session: Session, rater: Rater, position: int) -> Assignment:
        assignment = session.scalar(select(Assignment).where(Assignment.rater_id == rater.id,
                                                             Assignment.position == position))
        if assignment is None:
            raise RatingError(f"There is no case {position + 1} in your list.")
        return assignment

    def _open(self, session: Session, rater: Rater, position: int, total: int, message: str = "") -> CaseView:
        rater.last_position = position
        n_done = self._n_completed(session, rater)
        if position >= total:
            done_msg = message or ("You have reached the end of the study. Thank you! "
                                   "You can still go back to review or edit your ratings.")
            return CaseView(rater_name=rater.name, position=total, total=total, n_completed=n_done, message=done_msg)
        assignment = self._assignment(session, rater, position)
        if assignment.first_opened_at is None:
            assignment.first_opened_at = self.clock()
        outputs = {o.id: o for o in session.scalars(select(Output).where(Output.id.in_(assignment.label_order)))}
        mine = self._own_ratings(session, assignment)
        candidates = []
        for i, output_id in enumerate(assignment.label_order):
            r = mine.get(output_id)
            candidates.append(CandidateView(
                label=label_for(i), text=display_text(outputs[output_id].text),
                scores={c: getattr(r, c) for c in CRITERIA} if r else {},
                comment=r.comment if r else "", significant_error=bool(r.significant_error) if r else False))
        return CaseView(rater_name=rater.name, position=position, total=total, n_completed=n_done,
                        findings=assignment.case.findings, candidates=tuple(candidates),
                        rated=len(mine) >= len(assignment.label_order), message=message)

    # --- writing --------------------------------------------------------------------------
    def submit(self, token: str, position: object, ratings: Sequence[Mapping]) -> CaseView:
        """Save the ratings of every candidate of the case at `position`, then open the next case.

        All or nothing: one transaction, committed before this returns. Resubmitting a case
        updates the existing ratings (idempotent); a changed rating keeps its old values in
        RatingEdit and its revision goes up. Raises RatingError (nothing stored) on bad input.
        """
        parsed = [parse_candidate_rating(r) for r in ratings]
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token)
            total = self._total(session, rater)
            pos = self._position(position, total)
            if pos >= total:
                raise RatingError("There is no case to rate here: you have reached the end of the study.")
            assignment = self._assignment(session, rater, pos)
            by_label = {label_for(i): oid for i, oid in enumerate(assignment.label_order)}
            seen = [p.label for p in parsed]
            foreign = [lab for lab in seen if lab not in by_label]
            if foreign:
                raise RatingError(f"Candidate {foreign[0]} is not part of this case.")
            if len(set(seen)) != len(seen):
                raise RatingError("Each candidate can be rated only once per submission.")
            missing = [lab for lab in by_label if lab not in seen]
            if missing:
                raise RatingError(f"Please rate every candidate before submitting (missing: {', '.join(missing)}).")
            now = self.clock()
            started = _utc(assignment.first_opened_at) or now
            existing = self._own_ratings(session, assignment)
            shown = set(by_label.values())
            same_text = same_text_outputs(session, assignment.case_id)
            for display_position, (label, output_id) in enumerate(by_label.items()):
                new = next(p for p in parsed if p.label == label)
                # the candidate stands for every output of the case with the same text: each gets the rating
                same = [o for o in same_text.get(output_id, []) if o not in shown]
                for oid in (output_id, *same):
                    self._save(session, rater, assignment, oid, label, display_position, new, existing, started,
                               now)
            session.flush()
            nxt = min(pos + 1, total)
            return self._open(session, rater, nxt, total, message=f"Saved your ratings of case {pos + 1}.")

    def _save(self, session: Session, rater: Rater, assignment: Assignment, output_id: int, label: str,
              display_position: int, new: CandidateRating, existing: dict[int, Rating], started: datetime,
              now: datetime) -> None:
        current = existing.get(output_id)
        values = {**new.scores, "comment": new.comment, "significant_error": new.significant_error}
        if current is None:
            session.add(Rating(assignment_id=assignment.id, rater_id=rater.id, output_id=output_id,
                               repeat_index=assignment.repeat_index, label=label, display_position=display_position,
                               started_at=started, submitted_at=now, updated_at=now,
                               time_on_task_s=max(0.0, (now - started).total_seconds()), revision=1, **values))
            return
        before = {k: getattr(current, k) for k in values}
        if before == values:
            return  # the same submission again: nothing changes
        session.add(RatingEdit(rating_id=current.id, revision=current.revision, edited_at=now,
                               previous={**before, "updated_at": _utc(current.updated_at).isoformat()}))
        for k, v in values.items():
            setattr(current, k, v)
        current.revision += 1
        current.updated_at = now
