"""A simulated rating study with known effects, for demos and for testing the analysis.

    python -m rating.simulate --db PATH [--seed 0] [--n-cases 40] [--n-raters 4] [--k 2]
                              [--n-repeats 3] [--complete 1.0] [--protocol likert|errors|pairwise]

creates a study named "SIMULATED ..." with Study.simulated = True through the ordinary
`rating.study_setup.create_study` (so the raters' tokens log in to the rater app), writes
ratings for the completed share of every rater's queue, and prints ONE JSON object: study id
and name, system names, the boosted system, rater names, pseudonyms and tokens, number of
cases and ratings, and the injected effects.

The ratings follow a known model. For rater r, case c, system s and criterion k:

    latent = base + boost[s] + criterion_offset[k] + leniency[r] - difficulty[c] + opinion + occasion
    score  = clip(round(latent), 1, 5)

boost is BOOST (1.0) for the boosted system and 0 otherwise; leniency ~ N(0, 0.3) per rater,
difficulty ~ N(0, 0.3) per case, opinion ~ N(0, 0.5) per (rater, output, criterion) and kept
for the hidden repeat, occasion ~ N(0, 0.35) per rating. So the boosted system's mean is about
one point above every other system on every criterion (a little less where scores hit 5).
--protocol errors or pairwise simulates those protocols instead (rating/protocols/simulate.py).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.records import Report
from db.models import CRITERIA, Output, Rater, Rating, Study, System
from rating.study_setup import RaterSpec, StudySpec, SystemOutputs, create_study

BOOSTED_SYSTEM = "radiology-llama"
BASE_SCORE = 3.0
BOOST = 1.0
CRITERION_OFFSETS = {"understandability": 0.2, "coherence": 0.1, "relevance": 0.0, "conciseness": -0.1,
                     "clinical_utility": -0.2}
LENIENCY_SD = 0.3
DIFFICULTY_SD = 0.3
OPINION_SD = 0.5
OCCASION_SD = 0.35
# Share of each reference impression's words a system drops (so ROUGE differs by system).
SYSTEM_WORD_DROP = {"radiology-llama": 0.15, "retrieval": 0.4, "lead": 0.55}
DISPLAY_NAMES = {"radiology-llama": "Radiology-Llama (ours)", "retrieval": "Retrieval (TF-IDF)",
                 "lead": "Lead sentence", "reference": "Reference (radiologist)"}
"""What the figures and tables call each simulated system (stored as System.display_name)."""

_FINDINGS = [
    ("The heart is normal in size. The lungs are clear.", "No acute cardiopulmonary abnormality."),
    ("Large right pleural effusion with adjacent atelectasis.", "Large right pleural effusion."),
    ("Left lower lobe airspace opacity.", "Left lower lobe pneumonia."),
    ("Cardiomegaly with pulmonary vascular congestion.", "Congestive heart failure."),
    ("Right upper lobe nodule measuring 1 cm.", "Right upper lobe pulmonary nodule, CT recommended."),
    ("Sternotomy wires are intact. Lungs clear.", "Prior sternotomy. No acute disease."),
    ("Hyperexpanded lungs with flattened diaphragms.", "Emphysema without acute process."),
    ("Small left apical pneumothorax.", "Small left pneumothorax."),
    ("Calcified granuloma in the right midlung.", "Old granulomatous disease."),
    ("Degenerative changes of the thoracic spine.", "No acute findings. Thoracic spondylosis."),
]
_FILLER = ["stable", "unchanged", "appearance", "otherwise", "noted", "mild", "chest", "findings"]


@dataclass(frozen=True)
class SimulationConfig:
    """Size and randomness of a simulated study."""

    seed: int = 0
    """Seed of the cases, texts, raters' effects and scores (and of the study's assignments)."""
    n_cases: int = 40
    """Number of cases."""
    n_raters: int = 4
    """Number of simulated raters."""
    k: int | None = 2
    """Raters per non-calibration case (None: everyone rates everything)."""
    n_calibration: int = 2
    """Calibration cases, rated by every rater."""
    n_repeats: int = 3
    """Hidden repeats per rater (for self-consistency)."""
    complete: float = 1.0
    """Share of each rater's queue already rated (below 1 simulates a running study)."""
    name: str | None = None
    """Study name; 'SIMULATED' is prefixed when missing. Default: 'SIMULATED study seed=<seed>'."""

    def __post_init__(self) -> None:
        if self.n_cases < 2:
            raise ValueError("a simulated study needs at least 2 cases")
        if self.n_raters < 1:
            raise ValueError("a simulated study needs at least 1 rater")
        if not 0 <= self.complete <= 1:
            raise ValueError(f"complete must lie in [0, 1], not {self.complete}")
        if self.n_calibration >= self.n_cases:
            raise ValueError("calibration cases must be fewer than cases")

    @property
    def study_name(self) -> str:
        name = self.name or f"study seed={self.seed}"
        return name if name.upper().startswith("SIMULATED") else f"SIMULATED {name}"


def simulated_cases(n: int, rng: np.random.Generator) -> list[Report]:
    """Reports built from a few templated findings (no real data needed)."""
    cases = []
    for i in range(n):
        picks = rng.choice(len(_FINDINGS), size=int(rng.integers(1, 4)), replace=False)
        findings = " ".join(_FINDINGS[p][0] for p in picks) + f" Examination {i + 1}."
        impression = " ".join(_FINDINGS[p][1] for p in picks)
        cases.append(Report(id=f"sim-{i + 1:04d}", findings=findings, impression=impression, source="simulated"))
    return cases


def _degrade(text: str, drop: float, rng: np.random.Generator) -> str:
    words = text.split()
    kept = [w for w in words if rng.random() >= drop] or words[:1]
    n_filler = int(rng.integers(0, 3))
    return " ".join(kept + list(rng.choice(_FILLER, size=n_filler))).strip()


def simulated_outputs(cases: list[Report], rng: np.random.Generator) -> dict[str, SystemOutputs]:
    # Texts are drawn in name order (the random stream of earlier versions), then listed in study order.
    texts = {name: {c.id: _degrade(c.impression, SYSTEM_WORD_DROP[name], rng) for c in cases}
             for name in sorted(SYSTEM_WORD_DROP)}
    outputs = {name: SystemOutputs(kind="simulated", texts_by_case=texts[name], config={"simulated_word_drop": drop},
                                   display_name=DISPLAY_NAMES[name])
               for name, drop in SYSTEM_WORD_DROP.items()}
    outputs["reference"] = SystemOutputs(kind="reference", texts_by_case={c.id: c.impression for c in cases},
                                         display_name=DISPLAY_NAMES["reference"])
    return outputs


@dataclass(frozen=True)
class SimulationResult:
    study_id: int
    study_name: str
    systems: list[str]
    """System names in the study's order (System.position): the legend order."""
    boosted_system: str
    raters: list[dict]
    n_cases: int
    n_ratings: int
    effects: dict


def _write_ratings(session: Session, study_id: int, cfg: SimulationConfig, rng: np.random.Generator) -> int:
    raters = session.scalars(select(Rater).where(Rater.study_id == study_id).order_by(Rater.id)).all()
    system_of_output = dict(session.execute(
        select(Output.id, System.name).join(System, Output.system_id == System.id)
        .where(System.study_id == study_id)).all())
    # Every output of a case is rated (identical texts count for each system that wrote them), in
    # system-name order so the scores follow from the seed alone (label orders come from `secrets`).
    outputs_of_case: dict[int, list[int]] = {}
    for case_id, output_id in session.execute(
            select(Output.case_id, Output.id).join(System, Output.system_id == System.id)
            .where(System.study_id == study_id).order_by(System.name)):
        outputs_of_case.setdefault(case_id, []).append(output_id)
    case_ids = sorted({a.case_id for r in raters for a in r.assignments})
    difficulty = dict(zip(case_ids, rng.normal(0, DIFFICULTY_SD, len(case_ids)), strict=True))
    offsets = np.array([CRITERION_OFFSETS[c] for c in CRITERIA])
    start = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
    rows = []
    for rater in raters:
        leniency = rng.normal(0, LENIENCY_SD)
        opinion: dict[int, np.ndarray] = {}
        clock = start + timedelta(hours=float(rng.uniform(0, 48)))
        queue = sorted(rater.assignments, key=lambda a: a.position)
        n_done = math.ceil(cfg.complete * len(queue)) if cfg.complete < 1 else len(queue)
        for assignment in queue[:n_done]:
            for position, output_id in enumerate(outputs_of_case[assignment.case_id]):
                system = system_of_output[output_id]
                if output_id not in opinion:
                    opinion[output_id] = rng.normal(0, OPINION_SD, len(CRITERIA))
                latent = (BASE_SCORE + (BOOST if system == BOOSTED_SYSTEM else 0.0) + offsets + leniency
                          - difficulty[assignment.case_id] + opinion[output_id]
                          + rng.normal(0, OCCASION_SD, len(CRITERIA)))
                scores = np.clip(np.rint(latent), 1, 5).astype(int)
                seconds = float(rng.lognormal(math.log(35), 0.4))
                started = clock
                clock = clock + timedelta(seconds=seconds)
                flagged = bool(scores[-1] <= 2 and rng.random() < 0.3)
                rows.append({"assignment_id": assignment.id, "rater_id": rater.id, "output_id": output_id,
                             "repeat_index": assignment.repeat_index, "label": chr(ord("A") + position),
                             "display_position": position, **dict(zip(CRITERIA, map(int, scores), strict=True)),
                             "comment": "Misses a key finding." if flagged else "",
                             "significant_error": flagged, "started_at": started, "submitted_at": clock,
                             "updated_at": clock, "time_on_task_s": round(seconds, 1), "revision": 1})
            clock += timedelta(seconds=float(rng.uniform(5, 60)))
    if rows:
        session.execute(insert(Rating), rows)
    return len(rows)


def simulate_study(session: Session, cfg: SimulationConfig) -> SimulationResult:
    """Create the simulated study and its ratings in the caller's transaction."""
    rng = np.random.default_rng(cfg.seed)
    cases = simulated_cases(cfg.n_cases, rng)
    outputs = simulated_outputs(cases, rng)
    rater_specs = [RaterSpec(name=f"Simulated Rater {i + 1}", role="simulated", experience_years=int(3 + 2 * i))
                   for i in range(cfg.n_raters)]
    spec = StudySpec(name=cfg.study_name, description="Simulated ratings with known effects (rating.simulate).",
                     seed=cfg.seed, k=cfg.k if cfg.k is None or cfg.k <= cfg.n_raters else cfg.n_raters,
                     n_calibration=cfg.n_calibration, n_repeats=cfg.n_repeats, simulated=True,
                     config={"simulation": asdict(cfg)})
    created = create_study(session, spec, cases, outputs, rater_specs)
    n_ratings = _write_ratings(session, created.study_id, cfg, rng)
    study = session.get(Study, created.study_id)
    effects = {"base_score": BASE_SCORE, "boost": BOOST, "boosted_system": BOOSTED_SYSTEM,
               "criterion_offsets": CRITERION_OFFSETS, "leniency_sd": LENIENCY_SD, "difficulty_sd": DIFFICULTY_SD,
               "opinion_sd": OPINION_SD, "occasion_sd": OCCASION_SD, "word_drop": SYSTEM_WORD_DROP}
    study.config = {**study.config, "simulation_effects": effects}
    pseudonyms = dict(session.execute(select(Rater.name, Rater.pseudonym).where(Rater.study_id == study.id)).all())
    return SimulationResult(study_id=created.study_id, study_name=study.name, systems=list(outputs),
                            boosted_system=BOOSTED_SYSTEM,
                            raters=[{"name": n, "pseudonym": pseudonyms[n], "token": t}
                                    for n, t in created.rater_tokens.items()],
                            n_cases=created.n_cases, n_ratings=n_ratings, effects=effects)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Create a SIMULATED rating study with known effects.")
    p.add_argument("--db", required=True, help="SQLite file path or SQLAlchemy URL")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-cases", type=int, default=SimulationConfig.n_cases)
    p.add_argument("--n-raters", type=int, default=SimulationConfig.n_raters)
    p.add_argument("--k", type=int, default=SimulationConfig.k, help="raters per case (0: every rater)")
    p.add_argument("--n-calibration", type=int, default=SimulationConfig.n_calibration)
    p.add_argument("--n-repeats", type=int, default=SimulationConfig.n_repeats)
    p.add_argument("--complete", type=float, default=1.0, help="share of every queue already rated")
    p.add_argument("--name", default=None, help="study name ('SIMULATED' is prefixed)")
    p.add_argument("--protocol", default="likert", choices=("likert", "errors", "pairwise"),
                   help="what the simulated raters record (default: five 1-5 scores)")
    a = p.parse_args(argv)
    from db.engine import DatabaseRefused, DatabaseUnavailable, make_session_factory, prepare_database, unit_of_work
    from rating.study_setup import StudySetupError

    try:
        cfg = SimulationConfig(seed=a.seed, n_cases=a.n_cases, n_raters=a.n_raters, k=a.k or None,
                               n_calibration=a.n_calibration, n_repeats=a.n_repeats, complete=a.complete,
                               name=a.name)
        factory = make_session_factory(prepare_database(a.db))
        with unit_of_work(factory) as session:
            if a.protocol == "likert":
                result = simulate_study(session, cfg)
            else:
                from rating.protocols.simulate import simulate_protocol_study
                result = simulate_protocol_study(session, cfg, a.protocol)
    except (ValueError, StudySetupError, DatabaseRefused, DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
