"""Creating a blinded rating study: the service API the admin tab, the CLI and simulations call.

    from rating.study_setup import StudySpec, SystemOutputs, RaterSpec, create_study
    with unit_of_work(factory) as session:
        created = create_study(session, StudySpec(name="pilot", seed=0, k=2, n_calibration=2, n_repeats=2),
                               cases, {"retrieval": SystemOutputs(kind="baseline", texts_by_case={...})},
                               [RaterSpec("Dr A"), RaterSpec("Dr B")])
    created.rater_tokens  # {"Dr A": "<secret>", ...}: shown once, stored only as hashes

Every function takes a session; the caller owns the transaction.
"""
from __future__ import annotations

import hashlib
import random
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.records import Report
from db.models import Assignment, Case, Output, Rater, RaterSession, Study, System
from generation.base import FindingsError, GenerationError, GenerationSettings
from generation.registry import UnknownSystem
from generation.service import SystemService
from rating.assignments import allocate_cases, build_queue
from rating.protocols.definitions import ProtocolError, parse_protocols, protocols_text
from rating.shared_texts import candidates_by_case
from rating.output_cache import OutputCache, findings_key
from rating.tokens import hash_token, new_token

MAX_DISPLAY_NAME_CHARS = 200
REFERENCE_SYSTEM = "reference"
"""System name under which the radiologist's original impression is rated (blinded like any other)."""


class StudySetupError(ValueError):
    """The study cannot be created as asked; the message says why. Nothing was stored."""


@dataclass(frozen=True)
class StudySpec:
    """What kind of study to create."""

    name: str
    """Unique study name."""
    description: str = ""
    """Free text shown to the admin only."""
    seed: int = 0
    """Seed of the case choices (calibration cases, allocation, case order, repeats). Label orders are
    drawn from `secrets` instead, so that nobody can recompute them from the seed."""
    k: int | None = None
    """Raters per (non-calibration) case; None means every rater rates every case."""
    n_calibration: int = 0
    """How many of the cases are calibration cases, rated by all raters, first."""
    n_repeats: int = 0
    """How many of each rater's own cases are shown again, hidden, at the end of the queue."""
    simulated: bool = False
    """True for simulated studies (analysis tests); they are flagged in every export."""
    config: dict = field(default_factory=dict)
    """Anything else worth recording (data path, sampling options, generation settings)."""
    instructions: str = ""
    """Markdown shown to every rater in a collapsible panel (what to look for, how to use the scale)."""
    expires_at: datetime | None = None
    """After this moment no rater of the study can sign in (None: no study-wide expiry)."""
    protocols: str = "likert"
    """What raters record: likert, errors, pairwise, or a combination such as "likert,errors"."""
    gold_cases: tuple[str, ...] = ()
    """Case ids (Report.id) of gold cases: in every rater's queue, never calibration cases (rating/protocols/gold.py)."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise StudySetupError("a study needs a name")
        try:
            object.__setattr__(self, "protocols", protocols_text(parse_protocols(self.protocols)))
        except ProtocolError as exc:
            raise StudySetupError(str(exc)) from None
        if self.k is not None and self.k < 1:
            raise StudySetupError(f"k (raters per case) must be at least 1, not {self.k}")
        if self.n_calibration < 0 or self.n_repeats < 0:
            raise StudySetupError("calibration and repeat counts cannot be negative")


@dataclass(frozen=True)
class SystemOutputs:
    """One system's outputs for the study's cases."""

    kind: str
    """baseline / model / imported / reference / simulated: stored, never shown to raters."""
    texts_by_case: Mapping[str, str]
    """Impression text per case source id (Report.id)."""
    config: dict = field(default_factory=dict)
    """The system's configuration (ImpressionGenerator.describe())."""
    version: str = ""
    """Version string (checkpoint hash, package version, ...)."""
    settings: dict = field(default_factory=dict)
    """Generation settings the outputs were made with."""
    display_name: str = ""
    """Name shown in figures and tables (e.g. "Radiology-Llama (ours)"); empty: the system's name.
    Admin and analysis only: like the name, it never reaches a rater."""


@dataclass(frozen=True)
class RaterSpec:
    """A rater to invite."""

    name: str
    """Real name; exports show the pseudonym instead."""
    role: str = "radiologist"
    """radiologist, resident, ..."""
    experience_years: int | None = None
    """Optional years of experience."""
    subspecialty: str | None = None
    """Optional subspecialty."""
    expires_at: datetime | None = None
    """When the invitation stops working (None: never)."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise StudySetupError("a rater needs a name")
        if self.experience_years is not None and self.experience_years < 0:
            raise StudySetupError("experience cannot be negative")


@dataclass(frozen=True)
class CreatedStudy:
    """What create_study made. rater_tokens are the only copy of the secrets: show them once."""

    study_id: int
    rater_tokens: dict[str, str]
    rater_ids: dict[str, int]
    n_cases: int
    n_systems: int
    n_outputs: int
    n_assignments: int
    warnings: tuple[str, ...] = ()
    """Inherent tells of the study's systems, with reasons (rating.tells); stored in its config too."""


# --- choosing cases -----------------------------------------------------------------------

_NORMAL_IMPRESSION = re.compile(
    r"^(no (acute|active|evidence)|normal (chest|exam|study)|negative|unremarkable|"
    r"no acute cardiopulmonary|no radiographic evidence|clear lungs)", re.I)


def classify_stratum(report: Report) -> str:
    """'normal' or 'abnormal': OpenI's Problems column when present, else the impression's wording."""
    problems = str(report.meta.get("Problems", "")).strip().lower() if report.meta else ""
    if problems:
        return "normal" if problems == "normal" else "abnormal"
    return "normal" if _NORMAL_IMPRESSION.search(report.impression.strip()) else "abnormal"


def sample_cases(reports: Sequence[Report], n: int, seed: int, stratify: bool = False) -> list[Report]:
    """N reports drawn without replacement, seeded; stratified gives half normal, half abnormal.

    With stratify, the normal stratum gets floor(n/2) and the abnormal the rest (when a
    stratum is short, the other fills in). Reports with identical findings are drawn once.
    """
    unique: dict[str, Report] = {}
    for r in sorted(reports, key=lambda r: (r.source, r.id)):
        unique.setdefault(" ".join(r.findings.lower().split()), r)
    pool = list(unique.values())
    if not 1 <= n <= len(pool):
        raise StudySetupError(f"cannot sample {n} cases from {len(pool)} distinct reports")
    rng = random.Random(f"{seed}|sample")
    if not stratify:
        return rng.sample(pool, n)
    normal = [r for r in pool if classify_stratum(r) == "normal"]
    abnormal = [r for r in pool if classify_stratum(r) == "abnormal"]
    n_normal = min(n // 2, len(normal))
    n_abnormal = min(n - n_normal, len(abnormal))
    n_normal = n - n_abnormal
    chosen = rng.sample(normal, n_normal) + rng.sample(abnormal, n_abnormal)
    rng.shuffle(chosen)
    return chosen


# --- producing outputs ---------------------------------------------------------------------

def reference_outputs(cases: Sequence[Report]) -> SystemOutputs:
    """The radiologist's original impressions, as one more blinded system."""
    return SystemOutputs(kind="reference", texts_by_case={c.id: c.impression for c in cases},
                         config={"description": "original report impression"})


def generate_outputs(cases: Sequence[Report], system_names: Sequence[str], systems: SystemService,
                     settings: GenerationSettings | None = None, progress: Callable[[float, str], None] | None = None,
                     batch_size: int = 8, cache: OutputCache | None = None) -> dict[str, SystemOutputs]:
    """Outputs of each named system (generation.registry specs) for the cases, from `systems`.

    progress(fraction, message) is called as batches finish (for a progress bar). With a cache,
    finished outputs are written to it as batches finish and outputs already in it are not asked
    for again (an interrupted creation resumes); the caller discards it once the study is stored.
    """
    settings = settings or GenerationSettings()
    result: dict[str, SystemOutputs] = {}
    total = max(1, len(system_names) * len(cases))
    done = 0
    for name in system_names:
        try:
            generator = systems.get(name)
        except (UnknownSystem, GenerationError) as exc:
            raise StudySetupError(str(exc)) from None
        kept = cache.load(name, settings.as_dict()) if cache else {}
        by_findings = {c.findings: kept[findings_key(c.findings)] for c in cases if findings_key(c.findings) in kept}
        missing = list(dict.fromkeys(c.findings for c in cases if c.findings not in by_findings))
        done += sum(1 for c in cases if c.findings in by_findings)
        if progress and by_findings:
            progress(done / total, f"{name}: {len(cases) - len(missing)}/{len(cases)} kept from an interrupted run")
        for start in range(0, len(missing), batch_size):
            batch = missing[start:start + batch_size]
            try:
                texts = systems.generate(name, batch, settings)
            except (GenerationError, FindingsError) as exc:
                raise StudySetupError(f"{name}: {exc}") from None
            by_findings.update(zip(batch, texts, strict=True))
            if cache:
                cache.add(name, settings.as_dict(), batch, texts)
            asked = set(batch)
            done += sum(1 for c in cases if c.findings in asked)
            if progress:
                progress(done / total, f"{name}: {sum(1 for c in cases if c.findings in by_findings)}/{len(cases)}")
        described = generator.describe()
        result[name] = SystemOutputs(kind=generator.kind, texts_by_case={c.id: by_findings[c.findings] for c in cases},
                                     config=dict(described), version=str(described.get("version", "")),
                                     settings=settings.as_dict())
    return result


# --- storing the study ---------------------------------------------------------------------

def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_study(session: Session, spec: StudySpec, cases: Sequence[Report],
                 outputs: Mapping[str, SystemOutputs], raters: Sequence[RaterSpec]) -> CreatedStudy:
    """Store a study: cases, systems, outputs, raters (hashed tokens) and every rater's queue.

    Raises StudySetupError (before anything is added to the session) when the inputs
    do not fit together: a system missing a case, duplicate rater names, too many
    calibration cases or repeats, k larger than the number of raters.
    """
    _check_inputs(session, spec, cases, outputs, raters)
    study = Study(name=spec.name.strip(), description=spec.description, seed=spec.seed, simulated=spec.simulated,
                  instructions=spec.instructions, expires_at=spec.expires_at, protocols=spec.protocols,
                  config={**spec.config, "k": spec.k, "n_calibration": spec.n_calibration,
                          "n_repeats": spec.n_repeats, "n_cases": len(cases)})
    session.add(study)
    session.flush()
    gold = set(spec.gold_cases)
    calibration_ids = set(c.id for c in random.Random(f"{spec.seed}|calibration-cases").sample(
        [c for c in cases if c.id not in gold], spec.n_calibration))
    case_rows: dict[str, Case] = {}
    for c in cases:
        row = Case(study_id=study.id, findings=c.findings, reference_impression=c.impression,
                   source_dataset=c.source, source_id=c.id, stratum=classify_stratum(c),
                   calibration=c.id in calibration_ids)
        session.add(row)
        case_rows[c.id] = row
    positions = {name: i for i, name in enumerate(outputs)}  # the order the systems were given in
    systems: dict[str, System] = {}
    for name in sorted(outputs):
        so = outputs[name]
        systems[name] = System(study_id=study.id, name=name, kind=so.kind, config=dict(so.config),
                               version=so.version, display_name=so.display_name.strip() or None,
                               position=positions[name])
        session.add(systems[name])
    session.flush()
    # Outputs go in in an unpredictable order, so their ids say nothing about their system.
    pairs = [(name, cid) for name in outputs for cid in case_rows]
    secrets.SystemRandom().shuffle(pairs)
    for name, cid in pairs:
        so, text = outputs[name], outputs[name].texts_by_case[cid]
        session.add(Output(case_id=case_rows[cid].id, system_id=systems[name].id, text=text,
                           settings=dict(so.settings), text_hash=_text_hash(text)))
        session.flush()  # one INSERT at a time: ids follow the shuffled order
    n_outputs = len(pairs)
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    rater_rows = []
    for i, spec_r in enumerate(raters):
        token = new_token()
        rater = Rater(study_id=study.id, name=spec_r.name.strip(), pseudonym=f"R{i + 1:02d}", role=spec_r.role,
                      experience_years=spec_r.experience_years, subspecialty=spec_r.subspecialty,
                      token_hash=hash_token(token), expires_at=spec_r.expires_at)
        session.add(rater)
        rater_rows.append(rater)
        tokens[rater.name] = token
    session.flush()
    ids = {r.name: r.id for r in rater_rows}
    gold_keys = sorted(case_rows[cid].id for cid in gold)  # every rater gets every gold case
    own_keys = sorted(row.id for cid, row in case_rows.items() if not row.calibration and cid not in gold)
    allocation = allocate_cases(own_keys, len(rater_rows), spec.k, spec.seed)
    n_assign = sum(_write_queue(session, study, r, [*own, *gold_keys]) for r, own in zip(rater_rows, allocation, strict=True))
    return CreatedStudy(study_id=study.id, rater_tokens=tokens, rater_ids=ids, n_cases=len(cases),
                        n_systems=len(outputs), n_outputs=n_outputs, n_assignments=n_assign)


def _check_inputs(session: Session, spec: StudySpec, cases: Sequence[Report],
                  outputs: Mapping[str, SystemOutputs], raters: Sequence[RaterSpec]) -> None:
    if session.scalar(select(Study.id).where(Study.name == spec.name.strip())) is not None:
        raise StudySetupError(f"a study named {spec.name!r} already exists")
    if not cases:
        raise StudySetupError("a study needs at least one case")
    ids = [c.id for c in cases]
    if len(set((c.source, c.id) for c in cases)) != len(cases):
        raise StudySetupError("case ids must be unique")
    if not outputs:
        raise StudySetupError("a study needs at least one system")
    if len(outputs) > 26:
        raise StudySetupError("at most 26 systems (labels A-Z) per study")
    if "pairwise" in spec.protocols.split(",") and len(outputs) < 2:
        raise StudySetupError("a pairwise study compares systems: it needs at least two")
    for name, so in outputs.items():
        if not name.strip():
            raise StudySetupError("system names cannot be empty")
        if len(so.display_name.strip()) > MAX_DISPLAY_NAME_CHARS:
            raise StudySetupError(f"display name of {name!r} is longer than {MAX_DISPLAY_NAME_CHARS} characters")
        missing = [i for i in ids if not str(so.texts_by_case.get(i, "")).strip()]
        if missing:
            raise StudySetupError(f"system {name!r} has no output for {len(missing)} case(s), e.g. {missing[:3]}")
    shown = [so.display_name.strip() or name for name, so in outputs.items()]
    if len({d.casefold() for d in shown}) != len(shown):
        raise StudySetupError(f"two systems would be shown under the same name: {', '.join(shown)}")
    names = [r.name.strip() for r in raters]
    if not names:
        raise StudySetupError("a study needs at least one rater")
    if len(set(names)) != len(names):
        raise StudySetupError("rater names must be unique within a study")
    if spec.k is not None and spec.k > len(names):
        raise StudySetupError(f"k={spec.k} raters per case, but only {len(names)} raters")
    unknown_gold = set(spec.gold_cases) - set(ids)
    if unknown_gold:
        raise StudySetupError(f"gold case(s) not among the cases: {', '.join(sorted(unknown_gold)[:3])}")
    if spec.n_calibration > len(cases) - len(spec.gold_cases):
        raise StudySetupError(f"{spec.n_calibration} calibration cases, but only {len(cases)} cases")
    n_own = len(cases) - spec.n_calibration
    k = len(names) if spec.k is None else spec.k
    min_load = (n_own * k) // len(names)
    if spec.n_repeats > min_load:
        raise StudySetupError(f"{spec.n_repeats} hidden repeats, but some raters have only {min_load} own cases")


def _write_queue(session: Session, study: Study, rater: Rater, own_case_ids: Sequence[int],
                 first_position: int = 0) -> int:
    case_rows = session.scalars(select(Case).where(Case.study_id == study.id)).all()
    calibration = [c.id for c in case_rows if c.calibration]
    queue = build_queue(seed=study.seed, rater_name=rater.name, calibration_keys=calibration, own_keys=own_case_ids,
                        outputs_by_case=candidates_by_case(session, study.id),
                        n_repeats=int(study.config.get("n_repeats", 0)))
    for pos, item in enumerate(queue, start=first_position):
        session.add(Assignment(rater_id=rater.id, case_id=item.case_key, position=pos,
                               repeat_index=item.repeat_index, label_order=list(item.output_order)))
    session.flush()
    return len(queue)


# --- managing raters -----------------------------------------------------------------------

def find_rater(session: Session, study_id: int, rater_name: str) -> Rater:
    rater = session.scalar(select(Rater).where(Rater.study_id == study_id, Rater.name == rater_name.strip()))
    if rater is None:
        raise StudySetupError(f"no rater named {rater_name!r} in study {study_id}")
    return rater


def add_rater(session: Session, study_id: int, spec: RaterSpec) -> str:
    """Invite one more rater; returns their token (shown once).

    They get the calibration cases, then the own cases that currently have the fewest raters,
    as many as the largest existing load (all cases when k is unset), then hidden repeats.
    """
    study = session.get(Study, study_id)
    if study is None:
        raise StudySetupError(f"no study with id {study_id}")
    if session.scalar(select(Rater.id).where(Rater.study_id == study_id, Rater.name == spec.name.strip())):
        raise StudySetupError(f"rater {spec.name!r} already exists in this study")
    own_ids = session.scalars(select(Case.id).where(Case.study_id == study_id, Case.calibration.is_(False))
                              .order_by(Case.id)).all()
    counts = dict(session.execute(
        select(Assignment.case_id, func.count(func.distinct(Assignment.rater_id))).join(Rater)
        .where(Rater.study_id == study_id, Assignment.repeat_index == 0).group_by(Assignment.case_id)).all())
    if study.config.get("k") is None:
        own = list(own_ids)
    else:
        load = session.scalar(select(func.max(select(func.count(Assignment.id)).join(Case)
                                              .where(Assignment.rater_id == Rater.id, Case.calibration.is_(False),
                                                     Assignment.repeat_index == 0)
                                              .scalar_subquery()))
                              .where(Rater.study_id == study_id)) or len(own_ids)
        rng = random.Random(f"{study.seed}|{spec.name}|extra")
        own = sorted(own_ids, key=lambda cid: (counts.get(cid, 0), rng.random()))[:load]
    n_existing = session.scalar(select(func.count(Rater.id)).where(Rater.study_id == study_id)) or 0
    token = new_token()
    rater = Rater(study_id=study_id, name=spec.name.strip(), pseudonym=f"R{n_existing + 1:02d}", role=spec.role,
                  experience_years=spec.experience_years, subspecialty=spec.subspecialty,
                  token_hash=hash_token(token), expires_at=spec.expires_at)
    session.add(rater)
    session.flush()
    _write_queue(session, study, rater, own)
    return token


def end_sessions(session: Session, rater: Rater) -> None:
    """Sign out every browser of the rater (a leaked link's session included)."""
    session.execute(delete(RaterSession).where(RaterSession.rater_id == rater.id))


def revoke_rater(session: Session, study_id: int, rater_name: str) -> None:
    """The rater's token and every session opened with it stop working at once; their ratings stay."""
    rater = find_rater(session, study_id, rater_name)
    rater.revoked = True
    end_sessions(session, rater)


def set_instructions(session: Session, study_id: int, markdown: str) -> None:
    """Replace the study's rater instructions (Markdown; raw HTML in it is shown as text)."""
    study = session.get(Study, study_id)
    if study is None:
        raise StudySetupError(f"there is no study {study_id}")
    study.instructions = markdown


def set_expiry(session: Session, study_id: int, when: datetime | None, rater_name: str | None = None) -> None:
    """Invitations stop working at `when` (None: never): the whole study's, or one rater's."""
    if rater_name:
        find_rater(session, study_id, rater_name).expires_at = when
        return
    study = session.get(Study, study_id)
    if study is None:
        raise StudySetupError(f"there is no study {study_id}")
    study.expires_at = when


def reissue_token(session: Session, study_id: int, rater_name: str) -> str:
    """A new secret for a rater (the old link and every session opened with it stop working); also lifts
    a revocation."""
    rater = find_rater(session, study_id, rater_name)
    token = new_token()
    rater.token_hash = hash_token(token)
    rater.revoked = False
    end_sessions(session, rater)
    return token
