"""Simulated studies of the errors and pairwise protocols, with known effects.

    python -m rating.simulate --db PATH --protocol errors|pairwise [--seed 0] [--n-cases 40] ...

makes a study named "SIMULATED ..." (Study.simulated = True, flagged in every export) through the
ordinary create_study, with the same simulated cases and systems as the 1-5 simulation
(rating/simulate.py), and writes the answers of the completed share of every queue:

errors: for rater r, output of system s and category c, the count is Poisson(ERROR_RATE[s] *
    CATEGORY_WEIGHT[c] * leniency[r]) with leniency ~ LogNormal(0, 0.2); each counted error is
    clinically significant with probability SIGNIFICANT_SHARE. So the expected total errors per
    report are 6 x ERROR_RATE[s] x mean weight (1): radiology-llama 0.6, reference 0.3, retrieval 1.2,
    lead 1.8; and 40% of them significant.
pairwise: for a pair (left, right) and attribute a, the preference is
    clip(round(QUALITY[right] - QUALITY[left] + N(0, PREFERENCE_SD)), -2, 2),
    so -2 means left much better; radiology-llama (quality 1.0) is preferred over every other system.
    A text is marked as holding an error with probability TEXT_ERROR[s]; its harm extent is drawn from
    HARM_EXTENT_P and its likelihood from HARM_LIKELIHOOD_P.
"""
from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.protocol_scales import ATTRIBUTES, ERROR_CATEGORIES, HARM_EXTENTS, HARM_LIKELIHOODS
from db.models import Output, Rater, Study, System
from db.protocol_models import ErrorCount, ErrorRating, Preference
from rating.shared_texts import same_text_outputs
from rating.simulate import (BOOSTED_SYSTEM, SimulationConfig, SimulationResult, simulated_cases,
                             simulated_outputs)
from rating.study_setup import RaterSpec, StudySpec, create_study

ERROR_RATE = {"radiology-llama": 0.1, "reference": 0.05, "retrieval": 0.2, "lead": 0.3}
"""Mean errors per category per report, per system (times the category weight)."""
CATEGORY_WEIGHT = {"false_finding": 1.2, "missed_finding": 2.0, "wrong_location": 0.8, "wrong_severity": 1.0,
                   "false_comparison": 0.4, "missed_comparison": 0.6}
"""Relative frequency of the categories (mean 1): missed findings are the commonest."""
SIGNIFICANT_SHARE = 0.4
LENIENCY_SD = 0.2
QUALITY = {"radiology-llama": 1.0, "reference": 0.8, "retrieval": 0.0, "lead": -0.3}
"""Latent quality per system: a preference is the difference of the two qualities plus noise."""
PREFERENCE_SD = 0.7
TEXT_ERROR = {"radiology-llama": 0.1, "reference": 0.05, "retrieval": 0.3, "lead": 0.4}
HARM_EXTENT_P = (0.5, 0.4, 0.1)
HARM_LIKELIHOOD_P = (0.6, 0.3, 0.1)


def _effects(protocol: str) -> dict:
    if protocol == "errors":
        return {"protocol": "errors", "error_rate": ERROR_RATE, "category_weight": CATEGORY_WEIGHT,
                "significant_share": SIGNIFICANT_SHARE, "leniency_sd": LENIENCY_SD, "boosted_system": BOOSTED_SYSTEM}
    return {"protocol": "pairwise", "quality": QUALITY, "preference_sd": PREFERENCE_SD, "text_error": TEXT_ERROR,
            "harm_extent_p": dict(zip(HARM_EXTENTS, HARM_EXTENT_P, strict=True)),
            "harm_likelihood_p": dict(zip(HARM_LIKELIHOODS, HARM_LIKELIHOOD_P, strict=True)),
            "boosted_system": BOOSTED_SYSTEM}


def _queues(session: Session, study_id: int, cfg: SimulationConfig):
    raters = session.scalars(select(Rater).where(Rater.study_id == study_id).order_by(Rater.id)).all()
    system_of = dict(session.execute(select(Output.id, System.name).join(System, Output.system_id == System.id)
                                     .where(System.study_id == study_id)).all())
    for rater in raters:
        queue = sorted(rater.assignments, key=lambda a: a.position)
        n_done = math.ceil(cfg.complete * len(queue)) if cfg.complete < 1 else len(queue)
        yield rater, queue[:n_done], system_of


def _write_errors(session: Session, study_id: int, cfg: SimulationConfig, rng: np.random.Generator) -> int:
    clock = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
    weights = np.array([CATEGORY_WEIGHT[c] for c in ERROR_CATEGORIES])
    n = 0
    for rater, done, system_of in _queues(session, study_id, cfg):
        leniency = float(rng.lognormal(0, LENIENCY_SD))
        for assignment in done:
            # drawn in system-name order, so the answers follow from the seed alone (label orders come
            # from `secrets`)
            shown = _positions(session, assignment)
            for oid in sorted(shown, key=lambda o: system_of[o]):
                position = shown[oid]
                counts = rng.poisson(ERROR_RATE[system_of[oid]] * weights * leniency)
                significant = rng.binomial(counts, SIGNIFICANT_SHARE)
                clock += timedelta(seconds=float(rng.lognormal(math.log(40), 0.4)))
                er = ErrorRating(assignment_id=assignment.id, rater_id=rater.id, output_id=oid,
                                 repeat_index=assignment.repeat_index, label=chr(ord("A") + position),
                                 display_position=position, started_at=clock, submitted_at=clock, updated_at=clock,
                                 time_on_task_s=40.0, revision=1, history=[])
                for category, total, sig in zip(ERROR_CATEGORIES, counts, significant, strict=True):
                    er.counts.append(ErrorCount(category=category, clinically_significant=True, count=int(sig),
                                                spans=[]))
                    er.counts.append(ErrorCount(category=category, clinically_significant=False,
                                                count=int(total - sig), spans=[]))
                session.add(er)
                n += 1
    session.flush()
    return n


def _write_preferences(session: Session, study_id: int, cfg: SimulationConfig, rng: np.random.Generator) -> int:
    clock = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
    n = 0
    for rater, done, system_of in _queues(session, study_id, cfg):
        for assignment in done:
            # drawn per pair of systems in name order (the answers follow from the seed alone), then turned
            # to the sides this rater was shown (label orders come from `secrets`)
            shown = _positions(session, assignment)
            ordered = sorted(shown, key=lambda o: system_of[o])
            for i, first in enumerate(ordered):
                for second in ordered[i + 1:]:
                    if shown[first] == shown[second]:
                        continue  # the same text: one candidate, no pair
                    left, right = (first, second) if shown[first] < shown[second] else (second, first)
                    key = f"{chr(ord('A') + shown[left])}-{chr(ord('A') + shown[right])}"
                    n += _add_pair(session, rng, assignment, rater, system_of, key, left, right, first, second,
                                   clock)
                    clock += timedelta(seconds=float(rng.lognormal(math.log(45), 0.4)))
    session.flush()
    return n


def _add_pair(session: Session, rng: np.random.Generator, assignment, rater, system_of: dict, key: str,
              left: int, right: int, first: int, second: int, clock: datetime) -> int:
    """One simulated comparison; first/second: the pair in system-name order (the draws' order)."""
    diff = QUALITY[system_of[second]] - QUALITY[system_of[first]]
    canonical = np.clip(np.rint(diff + rng.normal(0, PREFERENCE_SD, len(ATTRIBUTES))), -2, 2).astype(int)
    prefs = canonical if first == left else -canonical  # -2: the left text much better
    harm = {}
    for oid in (first, second):
        side = "left" if oid == left else "right"
        err = bool(rng.random() < TEXT_ERROR[system_of[oid]])
        harm[f"{side}_error"] = err
        harm[f"{side}_harm_extent"] = str(rng.choice(HARM_EXTENTS, p=HARM_EXTENT_P)) if err else None
        harm[f"{side}_harm_likelihood"] = str(rng.choice(HARM_LIKELIHOODS, p=HARM_LIKELIHOOD_P)) if err else None
    session.add(Preference(assignment_id=assignment.id, rater_id=rater.id, repeat_index=assignment.repeat_index,
                           pair_key=key, left_output_id=left, right_output_id=right, started_at=clock,
                           submitted_at=clock, updated_at=clock, time_on_task_s=45.0, revision=1, history=[],
                           **dict(zip(ATTRIBUTES, map(int, prefs), strict=True)), **harm))
    return 1


def _positions(session: Session, assignment) -> dict[int, int]:
    """Every output of the case -> the display position of the candidate that stands for it (outputs
    with the same text share one candidate, rating/shared_texts.py)."""
    same = same_text_outputs(session, assignment.case_id)
    shown = {oid: i for i, oid in enumerate(assignment.label_order)}
    for oid, i in list(shown.items()):
        for other in same.get(oid, []):
            shown.setdefault(other, i)
    return shown


def simulate_protocol_study(session: Session, cfg: SimulationConfig, protocol: str) -> SimulationResult:
    """Create a simulated errors or pairwise study and its answers in the caller's transaction."""
    if protocol not in ("errors", "pairwise"):
        raise ValueError(f"protocol must be errors or pairwise, not {protocol!r}")
    rng = np.random.default_rng(cfg.seed)
    cases = simulated_cases(cfg.n_cases, rng)
    outputs = simulated_outputs(cases, rng)
    rater_specs = [RaterSpec(name=f"Simulated Rater {i + 1}", role="simulated", experience_years=int(3 + 2 * i))
                   for i in range(cfg.n_raters)]
    spec = StudySpec(name=f"{cfg.study_name} ({protocol})", seed=cfg.seed, protocols=protocol, simulated=True,
                     description=f"Simulated {protocol} answers with known effects (rating.simulate).",
                     k=cfg.k if cfg.k is None or cfg.k <= cfg.n_raters else cfg.n_raters,
                     n_calibration=cfg.n_calibration, n_repeats=cfg.n_repeats, config={"simulation": asdict(cfg)})
    created = create_study(session, spec, cases, outputs, rater_specs)
    writer = _write_errors if protocol == "errors" else _write_preferences
    n_answers = writer(session, created.study_id, cfg, rng)
    study = session.get(Study, created.study_id)
    effects = _effects(protocol)
    study.config = {**study.config, "simulation_effects": effects}
    pseudonyms = dict(session.execute(select(Rater.name, Rater.pseudonym).where(Rater.study_id == study.id)).all())
    return SimulationResult(study_id=created.study_id, study_name=study.name, systems=list(outputs),
                            boosted_system=BOOSTED_SYSTEM,
                            raters=[{"name": n, "pseudonym": pseudonyms[n], "token": t}
                                    for n, t in created.rater_tokens.items()],
                            n_cases=created.n_cases, n_ratings=n_answers, effects=effects)
