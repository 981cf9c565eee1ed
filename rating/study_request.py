"""From an admin's request (data file, N, systems, raters...) to a stored study.

Shared by the CLI (rating/study.py) and the admin tab (rating/admin.py); both reach it only
after their own access check.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from db.engine import unit_of_work
from generation.service import SystemService
from rating.importer import load_outputs
from rating.output_cache import OutputCache
from rating.tells import TELLS_KEY, tell_warnings
from rating.protocols.definitions import ProtocolError, parse_protocols, protocols_text
from rating.protocols.gold import gold_cases_from, plant_gold, read_gold_file, store_gold
from rating.study_setup import (REFERENCE_SYSTEM, CreatedStudy, RaterSpec, StudySetupError, StudySpec, SystemOutputs,
                                create_study, generate_outputs, reference_outputs, sample_cases)


@dataclass(frozen=True)
class StudyRequest:
    """Everything needed to set up a study from a report file."""

    name: str
    """Unique study name."""
    raters: tuple[str, ...]
    """Rater names (one invitation each)."""
    data_path: str | None = None
    """Report file (default: $RADLLAMA_DATA or the shared OpenI CSV)."""
    n: int = 20
    """Number of cases, sampled from the test split."""
    seed: int = 0
    """Seed for sampling, allocation and label orders."""
    stratify: bool = False
    """Half normal, half abnormal cases."""
    systems: tuple[str, ...] = ()
    """Generator names from generation.registry (constant, lead, retrieval, default, ...)."""
    import_path: str | None = None
    """CSV/JSONL of outside outputs (case_id, system, text)."""
    include_reference: bool = False
    """Add the original impression as one more blinded system."""
    k: int | None = None
    """Raters per case (None: all)."""
    n_calibration: int = 0
    """Calibration cases rated by everyone, first."""
    n_repeats: int = 0
    """Hidden repeats per rater."""
    description: str = ""
    """Free text for the admin."""
    split: str = "test"
    """Split to sample cases from (test keeps training cases out of the study)."""
    display_names: Mapping[str, str] = field(default_factory=dict)
    """System name -> name shown in figures and tables, e.g. {"default": "Radiology-Llama (ours)"}."""
    protocols: str = "likert"
    """What raters record: likert, errors, pairwise, or a combination such as "likert,errors"."""
    gold_path: str | None = None
    """CSV of gold (attention) cases: case_id, planted_text, expected (rating/protocols/gold.py)."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise StudySetupError("the study needs a name")
        if not self.raters or any(not r.strip() for r in self.raters):
            raise StudySetupError("give at least one rater name (comma-separated, none empty)")
        if self.n < 1:
            raise StudySetupError("N must be at least 1")
        if not (self.systems or self.import_path or self.include_reference):
            raise StudySetupError("choose at least one system, an import file or the reference impression")
        if self.split not in ("train", "validate", "test"):
            raise StudySetupError("split must be train, validate or test")
        try:
            object.__setattr__(self, "protocols", protocols_text(parse_protocols(self.protocols)))
        except ProtocolError as exc:
            raise StudySetupError(str(exc)) from None


def parse_display_names(text: str | None) -> dict[str, str]:
    """'default=Radiology-Llama (ours), retrieval=Retrieval' -> {system: display name}.

    Pairs are comma-separated, system and display name split at the first '='; so a display
    name may contain '=' but not ','. Raises StudySetupError naming the bad part.
    """
    names: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        system, sep, shown = part.partition("=")
        if not sep or not system.strip() or not shown.strip():
            raise StudySetupError(f"display names are system=Name pairs, comma-separated; cannot read {part.strip()!r}")
        if system.strip() in names:
            raise StudySetupError(f"two display names for system {system.strip()!r}")
        names[system.strip()] = shown.strip()
    return names


def _check_display_names(display_names: Mapping[str, str], systems: list[str]) -> None:
    unknown = sorted(set(display_names) - set(systems))
    if unknown:
        raise StudySetupError(f"display name given for a system not in the study: {', '.join(unknown)} "
                              f"(systems: {', '.join(systems)})")


def build_study(session_factory, request: StudyRequest,
                progress: Callable[[float, str], None] | None = None,
                systems: SystemService | None = None, cache: OutputCache | None = None) -> CreatedStudy:
    """Load data, sample cases, generate/import outputs, then store everything in one transaction.

    systems: the process's SystemService (the app passes the demo's, so a loaded model is reused).
    cache: where finished outputs wait until the study is stored (default: rating.output_cache's
    folder), so that running the same request again after an interruption asks no system twice.
    """
    from reports.dataset import load_split

    imported = load_outputs(request.import_path) if request.import_path else {}
    clash = set(imported) & (set(request.systems) | ({REFERENCE_SYSTEM} if request.include_reference else set()))
    if clash:
        raise StudySetupError(f"imported system name(s) clash with chosen systems: {', '.join(sorted(clash))}")
    _check_display_names(request.display_names, [*request.systems, *imported,
                                                 *([REFERENCE_SYSTEM] if request.include_reference else [])])
    if progress:
        progress(0.0, "loading reports")
    splits = load_split(request.data_path)
    pool = getattr(splits, request.split)
    if imported:
        pool = [r for r in pool if all(r.id in texts for texts in imported.values())]
        if not pool:
            raise StudySetupError("no report of the chosen split has an imported output from every imported system")
    gold_specs = read_gold_file(request.gold_path) if request.gold_path else []
    gold_reports = gold_cases_from(splits, gold_specs)
    if gold_specs:
        pool = [r for r in pool if r.id not in {g.case_id for g in gold_specs}]
    cases = sample_cases(pool, request.n, request.seed, request.stratify) + gold_reports
    outputs: dict[str, SystemOutputs] = {}
    if request.systems:
        systems = systems or SystemService(splits.train)
        cache = cache or OutputCache()
        outputs.update(generate_outputs(cases, request.systems, systems, progress=progress, cache=cache))
    for name, texts in imported.items():
        outputs[name] = SystemOutputs(kind="imported", texts_by_case={c.id: texts[c.id] for c in cases},
                                      config={"imported_from": str(request.import_path)})
    if request.include_reference:
        outputs[REFERENCE_SYSTEM] = reference_outputs(cases)
    outputs = {name: replace(so, display_name=request.display_names.get(name, so.display_name))
               for name, so in outputs.items()}
    warnings = tell_warnings(outputs, {c.source for c in cases})
    outputs, planted = plant_gold(gold_specs, outputs)
    spec = StudySpec(name=request.name, description=request.description, seed=request.seed, k=request.k,
                     n_calibration=request.n_calibration, n_repeats=request.n_repeats, protocols=request.protocols,
                     gold_cases=tuple(g.case_id for g in gold_specs),
                     config={"data_path": str(splits.path), "split": request.split, "n": request.n,
                             "stratify": request.stratify, "systems": list(request.systems),
                             "import_path": request.import_path, "include_reference": request.include_reference,
                             "display_names": dict(request.display_names), TELLS_KEY: list(warnings)})
    with unit_of_work(session_factory) as session:
        created = create_study(session, spec, cases, outputs, [RaterSpec(name=r.strip()) for r in request.raters])
        store_gold(session, created.study_id, gold_specs, planted)
    for name in request.systems:
        cache.discard(name, outputs[name].settings)
    if progress:
        progress(1.0, "study stored")
    return replace(created, warnings=warnings)
