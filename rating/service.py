"""What a rater may do: sign in with their token, see one case at a time, rate, move, edit.

Blinding: nothing returned from here names a system, its kind or an output id. A rater
sees findings, candidate texts under per-rater labels A, B, C..., and only their own
ratings. Output ids are reached server-side only through (assignment, label).
Every public method takes the rater's token and checks it first.
"""
from __future__ import annotations

import hmac
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.display_text import display_text
from db.engine import read_only_session, unit_of_work
from db.models import (CRITERIA, CRITERION_TITLES, MAX_COMMENT_CHARS, Assignment, Output, Rater, RaterSession,
                       Rating, RatingDraft, RatingEdit, Study)
from rating.assignments import label_for
from rating.form_values import finite_number, has_control_characters
from rating.protocols import service as protocol_service
from rating.protocols.definitions import ProtocolError
from rating.shared_texts import same_text_outputs
from rating.throttle import FailureThrottle, Throttled
from rating.tokens import hash_token, new_token

MAX_TOKEN_CHARS = 200
SESSION_TTL = timedelta(days=7)
"""How long a browser stays signed in after exchanging its token (never past the rater's or study's expiry)."""
MAX_ACTIVE_MS_PER_REPORT = 30 * 60 * 1000
"""Active time one report from the page can add to a case (the page reports at least every few minutes).
A case's summed active time never exceeds the server's own time since the case was first opened."""
MAX_SESSIONS_PER_RATER = 10
"""Signed-in browsers per rater (a desk, a laptop, a tablet, with room to spare); a new sign-in beyond
this ends the rater's oldest session."""


class SessionKey(str):
    """A browser session secret (the HttpOnly cookie's value), as opposed to an invitation token.

    Every public method that takes a `token` accepts either: a plain str is looked up as an
    invitation token, a SessionKey as a signed-in browser session.
    """


RATER_MAX_WRONG_CODES = 10
"""Wrong access codes from one client (IP address; behind RADLLAMA_TRUSTED_PROXIES the forwarded one)
in 10 minutes before it is refused for 15 minutes.
Higher than the admin's 5: raters behind one proxy share an address, and 192-bit tokens need no
tighter limit; it stops a guesser, and a stolen-link prober, from trying codes at full speed."""


class RatingError(ValueError):
    """A request a rater made that cannot be done; the message is safe to show them."""


class AccessDenied(RatingError):
    """Missing, wrong, expired or revoked token; reason is one of invalid, expired, withdrawn, closed, signed_out,
    too_many (this client address is locked out after wrong codes)."""

    def __init__(self, message: str, reason: str = "invalid"):
        super().__init__(message)
        self.reason = reason


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
    unrated: tuple[int, ...] = ()  # 0-based positions of the cases not completely rated yet
    draft: dict | None = None  # label -> unsubmitted values saved as the rater worked
    instructions: str = ""  # the study's instructions (Markdown written by the admin)
    protocols: tuple[str, ...] = ("likert",)  # what the rater records (rating/protocols)
    protocol: dict | None = None  # errors/pairwise: pairs and the rater's own saved values (labels only)

    @property
    def finished(self) -> bool:
        return self.position >= self.total

    @property
    def progress(self) -> str:
        if self.finished:
            return f"Finished: {self.n_completed} of {self.total} cases rated"
        return f"Case {self.position + 1} of {self.total} ({self.n_completed} rated)"

    def as_dict(self) -> dict:
        """JSON-ready view (what the page and the API get): findings, labelled texts, own scores, no system."""
        return {**asdict(self), "candidates": [asdict(c) for c in self.candidates], "unrated": list(self.unrated),
                "protocols": list(self.protocols), "finished": self.finished, "progress": self.progress}


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


def parse_comment(value: object, label: str) -> str:
    """A candidate's comment, checked the same way for drafts and submits: text, no control characters
    (NUL, ESC...; tab and newlines are fine), at most MAX_COMMENT_CHARS."""
    comment = value or ""
    if not isinstance(comment, str):
        raise RatingError(f"The comment for candidate {label} must be text.")
    if has_control_characters(comment):
        raise RatingError(f"The comment for candidate {label} holds a character that is not allowed (NUL or "
                          f"another control character).")
    if len(comment) > MAX_COMMENT_CHARS:
        raise RatingError(f"The comment for candidate {label} has {len(comment)} characters; "
                          f"at most {MAX_COMMENT_CHARS} are allowed.")
    return comment


def parse_candidate_rating(raw: Mapping) -> CandidateRating:
    """Validate one candidate's form values: {label, <criterion>: 1..5, comment, significant_error}."""
    label = str(raw.get("label", "")).strip().upper()
    if not label:
        raise RatingError("Each rating needs the candidate's label (A, B, ...).")
    scores = {c: _parse_score(raw.get(c), label, c) for c in CRITERIA}
    comment = parse_comment(raw.get("comment"), label)
    flag = raw.get("significant_error", False)
    if flag not in (True, False, None, 0, 1):
        raise RatingError(f"The 'clinically significant error' flag for candidate {label} must be true or false.")
    return CandidateRating(label=label, scores=scores, comment=comment.strip(), significant_error=bool(flag))


def _parse_draft_score(value: object, label: str, criterion: str) -> int | None:
    if value is None or value == "":
        return None
    return _parse_score(value, label, criterion)


def parse_draft(raw: object, labels: Sequence[str]) -> dict:
    """Validate unsubmitted form values: {label: {criterion: 1..5 or None, comment, significant_error}}."""
    if not isinstance(raw, Mapping):
        raise RatingError("A draft must map candidate labels to their values.")
    draft = {}
    for label, values in raw.items():
        label = str(label).strip().upper()
        if label not in labels:
            raise RatingError(f"Candidate {label[:5]} is not part of this case.")
        if not isinstance(values, Mapping):
            raise RatingError(f"The draft values of candidate {label} must be a mapping.")
        comment = parse_comment(values.get("comment"), label)
        flag = values.get("significant_error", False)
        if flag not in (True, False, None, 0, 1):
            raise RatingError(f"The 'clinically significant error' flag for candidate {label} must be true or false.")
        draft[label] = {**{c: _parse_draft_score(values.get(c), label, c) for c in CRITERIA},
                        "comment": comment, "significant_error": bool(flag)}
    return draft


def parse_active_ms(value: object) -> int:
    """Milliseconds of active time the page reports; capped at MAX_ACTIVE_MS_PER_REPORT."""
    if value is None or value == "":
        return 0
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RatingError("The active time must be a number of milliseconds.") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise RatingError("The active time must be a number of milliseconds.")
    return int(min(number, MAX_ACTIVE_MS_PER_REPORT))


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
    def _rater(self, session: Session, token: object, lock: bool = False, client: str | None = None) -> Rater:
        """The rater for `token` (or a session key); lock=True also takes their row lock until the
        transaction ends (PostgreSQL: a rater's concurrent submits, on any app process, run one after the
        other; SQLite transactions are serialised anyway and ignore it)."""
        if isinstance(token, SessionKey):
            return self._rater_for_session(session, token, lock=lock)
        if not isinstance(token, str) or not token.strip():
            raise AccessDenied("Please sign in with the access code from your invitation link.")
        client = client if client is not None else self.client()
        try:
            self.throttle.check(client)
        except Throttled as exc:
            raise AccessDenied(str(exc), "too_many") from None
        if len(token) > MAX_TOKEN_CHARS:
            self.throttle.failed(client)
            raise AccessDenied("This access code is not valid.")
        query = select(Rater).where(Rater.token_hash == hash_token(token))
        rater = session.scalar(query.with_for_update() if lock else query)
        if rater is None:
            self.throttle.failed(client)
            raise AccessDenied("This access code is not valid. Check the link in your invitation.")
        self._check_active(session, rater)
        return rater

    def _check_active(self, session: Session, rater: Rater) -> None:
        if rater.revoked:
            raise AccessDenied("This invitation has been withdrawn. Please contact the study coordinator.", "withdrawn")
        now = self.clock()
        expires = _utc(rater.expires_at)
        if expires is not None and expires <= now:
            raise AccessDenied("This invitation has expired. Please contact the study coordinator.", "expired")
        study_expires = _utc(session.get(Study, rater.study_id).expires_at)  # one SELECT per transaction
        if study_expires is not None and study_expires <= now:
            raise AccessDenied("This study has closed: its invitations have expired. "
                               "Please contact the study coordinator.", "closed")

    def _rater_for_session(self, session: Session, key: str, lock: bool = False) -> Rater:
        ended = AccessDenied("You are signed out. Please open your invitation link again or enter your access code.",
                             "signed_out")
        if not key or len(key) > MAX_TOKEN_CHARS:
            raise ended
        row = session.scalar(select(RaterSession).where(RaterSession.secret_hash == hash_token(key)))
        if row is None:
            raise ended
        if _utc(row.expires_at) <= self.clock():
            session.delete(row)
            raise ended
        rater = session.get(Rater, row.rater_id, with_for_update=lock)
        if row.token_hash is None or not hmac.compare_digest(row.token_hash, rater.token_hash):
            raise ended  # opened with a token that has since been reissued: a leaked link's session ends
        self._check_active(session, rater)
        return rater

    def start_session(self, token: str, client: str | None = None) -> tuple[SessionKey, datetime, str]:
        """Exchange an invitation token for a browser session: (session secret, expiry, rater name).

        The secret goes into an HttpOnly cookie; only its hash is stored, with the token it was opened
        with (a reissued token ends it). Beyond MAX_SESSIONS_PER_RATER the rater's oldest session ends.
        client: the caller's address for the lockout (the HTTP sign-in routes run outside a Gradio event
        and pass it; default self.client()). Raises AccessDenied.
        """
        if isinstance(token, SessionKey):
            raise AccessDenied("Please sign in with the access code from your invitation link.")
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token, client=client)
            now = self.clock()
            limits = [now + SESSION_TTL, _utc(rater.expires_at), _utc(session.get(Study, rater.study_id).expires_at)]
            expires = min(t for t in limits if t is not None)
            secret = new_token()
            keep = session.scalars(select(RaterSession.id).where(RaterSession.rater_id == rater.id)
                                   .order_by(RaterSession.created_at.desc(), RaterSession.id.desc())
                                   .limit(MAX_SESSIONS_PER_RATER - 1)).all()
            session.execute(delete(RaterSession).where(RaterSession.rater_id == rater.id,
                                                       RaterSession.id.not_in(keep)))
            session.add(RaterSession(rater_id=rater.id, secret_hash=hash_token(secret), created_at=now,
                                     expires_at=expires, token_hash=rater.token_hash))
            return SessionKey(secret), expires, rater.name

    def end_session(self, key: str) -> None:
        """Sign out: the session secret stops working at once (unknown secrets are ignored)."""
        if not key or len(key) > MAX_TOKEN_CHARS:
            return
        with unit_of_work(self.session_factory) as session:
            session.execute(delete(RaterSession).where(RaterSession.secret_hash == hash_token(key)))

    # --- reading --------------------------------------------------------------------------
    def resume(self, token: str) -> CaseView:
        """Sign in: the case the rater last viewed, else their first case without a complete rating.

        A rater coming back to the case they last viewed changes nothing, so that sign-in reads in a
        read-only transaction and never waits for (or takes) the write lock; only a first visit writes.
        """
        with read_only_session(self.session_factory) as session:
            rater = self._rater(session, token)
            total = self._total(session, rater)
            if rater.last_position is not None and self._opened_before(session, rater, rater.last_position, total):
                return self._open(session, rater, min(max(rater.last_position, 0), total), total)
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token)
            total = self._total(session, rater)
            position = rater.last_position
            if position is None:
                unrated = self._unrated(session, rater)
                position = unrated[0] if unrated else total
            return self._open(session, rater, min(max(position, 0), total), total)

    def _opened_before(self, session: Session, rater: Rater, position: int, total: int) -> bool:
        """True when opening `position` again would write nothing (the end, or a case opened before)."""
        if not 0 <= position < total:
            return position >= total
        return self._assignment(session, rater, position).first_opened_at is not None

    def open_case(self, token: str, position: object, active_ms: object = 0, from_position: object = None) -> CaseView:
        """Show the case at `position` (0-based) of the rater's own queue; `total` shows the end.

        active_ms (with from_position, the case the page is leaving) adds the page's active time.
        """
        active = parse_active_ms(active_ms)
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token)
            total = self._total(session, rater)
            target = self._position(position, total)
            if active and from_position is not None:
                leaving = self._position(from_position, total)
                if leaving < total:
                    self._add_active(self._assignment(session, rater, leaving), active)
            return self._open(session, rater, target, total)

    def _add_active(self, assignment: Assignment, active_ms: int) -> datetime:
        """Add the page's active time to a case, bounded by the server's own time since the case was
        first opened (a page cannot claim 3 hours for 2 s of work). Returns now."""
        now = self.clock()
        opened = _utc(assignment.first_opened_at)
        elapsed_ms = max(0, int((now - opened).total_seconds() * 1000)) if opened is not None else 0
        assignment.active_ms = min((assignment.active_ms or 0) + active_ms, max(elapsed_ms, assignment.active_ms or 0))
        return now

    def _total(self, session: Session, rater: Rater) -> int:
        return session.scalar(select(func.count(Assignment.id)).where(Assignment.rater_id == rater.id)) or 0

    def _position(self, position: object, total: int) -> int:
        value = finite_number(position)
        if value is None:
            raise RatingError("Unknown case position.")
        if value != int(value) or not 0 <= value <= total:
            raise RatingError(f"There is no case {str(position)[:20]} in your list.")
        return int(value)

    def _unrated(self, session: Session, rater: Rater) -> list[int]:
        """Positions of this rater's cases without a complete rating, in queue order (one query per protocol)."""
        return protocol_service.unrated_positions(session, rater.id, rater.study_id)

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
        unrated = tuple(self._unrated(session, rater))
        n_done = total - len(unrated)
        instructions = session.get(Study, rater.study_id).instructions or ""  # loaded by _check_active
        protocols = protocol_service.study_protocols(session, rater.study_id)
        common = dict(rater_name=rater.name, total=total, n_completed=n_done, unrated=unrated,
                      instructions=instructions, protocols=protocols)
        if position >= total:
            end = "You have reached the end of the study. Thank you! "
            if unrated:
                listed = ", ".join(str(p + 1) for p in unrated)
                end = (f"You have reached the end of your list, but {len(unrated)} of {total} cases are not "
                       f"rated yet: case {listed}. ")
            end += "You can still go back to review or edit your ratings."
            return CaseView(position=total, message=f"{message} {end}".strip(), **common)
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
        draft = session.scalar(select(RatingDraft.data).where(RatingDraft.assignment_id == assignment.id))
        protocol = protocol_service.protocol_view(session, assignment, protocols, [c.label for c in candidates])
        return CaseView(position=position, findings=assignment.case.findings, candidates=tuple(candidates),
                        rated=position not in unrated, message=message, draft=draft or None, protocol=protocol,
                        **common)

    # --- writing --------------------------------------------------------------------------
    def save_draft(self, token: str, position: object, draft: object, active_ms: object = 0,
                   protocol: object = None) -> datetime:
        """Keep the unsubmitted values of the case at `position` (replacing the previous draft) and add
        the page's active time. draft None only adds the time. protocol: the errors/pairwise values
        (rating/protocols), kept under the draft's "protocol" key. Returns when it was saved."""
        active = parse_active_ms(active_ms)
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token)
            total = self._total(session, rater)
            pos = self._position(position, total)
            if pos >= total:
                raise RatingError("There is no case to rate here: you have reached the end of the study.")
            assignment = self._assignment(session, rater, pos)
            now = self._add_active(assignment, active)
            if draft is not None:
                values = parse_draft(draft, [label_for(i) for i in range(len(assignment.label_order))])
                if protocol is not None:
                    values["protocol"] = self._protocol_values(session, rater, assignment, protocol, draft=True)
                row = session.scalar(select(RatingDraft).where(RatingDraft.assignment_id == assignment.id))
                if row is None:
                    session.add(RatingDraft(assignment_id=assignment.id, data=values, updated_at=now))
                else:
                    row.data, row.updated_at = values, now
            return now

    def _protocol_values(self, session: Session, rater: Rater, assignment: Assignment, raw: object,
                         draft: bool) -> dict:
        """The errors/pairwise values of a submission or draft, checked against the case's labelled texts."""
        texts = dict(session.execute(select(Output.id, Output.text).where(Output.id.in_(assignment.label_order)))
                     .all())
        labelled = {label_for(i): display_text(texts[oid]) for i, oid in enumerate(assignment.label_order)}
        try:
            values = protocol_service.parse_protocol_values(
                raw, protocol_service.study_protocols(session, rater.study_id), labelled, draft=draft)
        except ProtocolError as exc:
            raise RatingError(str(exc)) from None
        return protocol_service.as_json(values) if draft else values

    def submit(self, token: str, position: object, ratings: Sequence[Mapping], active_ms: object = 0,
               protocol: object = None, then: object = None) -> CaseView:
        """Save the ratings of every candidate of the case at `position`, then open the next case, or
        `then` when given and later than `position` (the case the rater was working on before going back
        to edit an earlier one).

        All or nothing: one transaction, committed before this returns. Resubmitting a case
        updates the existing ratings (idempotent); a changed rating keeps its old values in
        RatingEdit (errors/pairwise: in its history) and its revision goes up. `protocol` holds the
        errors/pairwise values of a study with those protocols; `ratings` is empty without likert.
        The case's draft is deleted. Raises RatingError
        (nothing stored) on bad input.
        """
        if not isinstance(ratings, Sequence) or isinstance(ratings, (str, bytes)):
            raise RatingError("Ratings must be a list with one entry per candidate.")
        parsed = [parse_candidate_rating(r) if isinstance(r, Mapping) else _not_a_mapping() for r in ratings]
        active = parse_active_ms(active_ms)
        with unit_of_work(self.session_factory) as session:
            rater = self._rater(session, token, lock=True)
            total = self._total(session, rater)
            pos = self._position(position, total)
            if pos >= total:
                raise RatingError("There is no case to rate here: you have reached the end of the study.")
            resume = None if then is None or then == "" else self._position(then, total)
            assignment = self._assignment(session, rater, pos)
            by_label = {label_for(i): oid for i, oid in enumerate(assignment.label_order)}
            likert = "likert" in protocol_service.study_protocols(session, rater.study_id)
            seen = [p.label for p in parsed]
            if seen and not likert:
                raise RatingError("This study does not ask for 1-5 scores; send the protocol's values only.")
            foreign = [lab for lab in seen if lab not in by_label]
            if foreign:
                raise RatingError(f"Candidate {foreign[0]} is not part of this case.")
            if len(set(seen)) != len(seen):
                raise RatingError("Each candidate can be rated only once per submission.")
            missing = [lab for lab in by_label if lab not in seen] if likert else []
            if missing:
                raise RatingError(f"Please rate every candidate before submitting (missing: {', '.join(missing)}).")
            extra = self._protocol_values(session, rater, assignment, protocol, draft=False)
            now = self._add_active(assignment, active)
            started = _utc(assignment.first_opened_at) or now
            # Time on task: the page's active time (visible and focused, summed over visits); a client
            # without a page (the API) reports none, and then the time since the case was first opened counts.
            time_on_task = assignment.active_ms / 1000 if assignment.active_ms else max(0.0, (now - started)
                                                                                          .total_seconds())
            existing = self._own_ratings(session, assignment)
            shown = set(by_label.values())
            same_text = same_text_outputs(session, assignment.case_id)
            for display_position, (label, output_id) in enumerate(by_label.items() if likert else ()):
                new = next(p for p in parsed if p.label == label)
                # the candidate stands for every output of the case with the same text: each gets the rating
                same = [o for o in same_text.get(output_id, []) if o not in shown]
                for oid in (output_id, *same):
                    self._save(session, rater, assignment, oid, label, display_position, new, existing, started,
                               now, time_on_task)
            protocol_service.save_protocol_values(session, assignment, extra, by_label, same_text, started, now,
                                                  time_on_task)
            session.execute(delete(RatingDraft).where(RatingDraft.assignment_id == assignment.id))
            session.flush()
            nxt = min(pos + 1, total)
            if resume is not None:
                nxt = max(nxt, resume)
            return self._open(session, rater, nxt, total, message=f"Saved your ratings of case {pos + 1}.")

    def _save(self, session: Session, rater: Rater, assignment: Assignment, output_id: int, label: str,
              display_position: int, new: CandidateRating, existing: dict[int, Rating], started: datetime,
              now: datetime, time_on_task: float) -> None:
        current = existing.get(output_id)
        values = {**new.scores, "comment": new.comment, "significant_error": new.significant_error}
        if current is None:
            session.add(Rating(assignment_id=assignment.id, rater_id=rater.id, output_id=output_id,
                               repeat_index=assignment.repeat_index, label=label, display_position=display_position,
                               started_at=started, submitted_at=now, updated_at=now,
                               time_on_task_s=time_on_task, revision=1, **values))
            return
        if assignment.active_ms:
            current.time_on_task_s = time_on_task  # summed over visits, edits included
        before = {k: getattr(current, k) for k in values}
        if before == values:
            return  # the same submission again: nothing changes
        session.add(RatingEdit(rating_id=current.id, revision=current.revision, edited_at=now,
                               previous={**before, "updated_at": _utc(current.updated_at).isoformat()}))
        for k, v in values.items():
            setattr(current, k, v)
        current.revision += 1
        current.updated_at = now


def _not_a_mapping() -> CandidateRating:
    raise RatingError("Each rating must be a mapping of a candidate's label, scores, comment and flag.")
