"""The generation service behind the Generate tab: which systems exist, and findings -> impression.

No gradio here. The tab (demo/generate_tab.py) calls `stream()` and shows what it yields; scripts
and the benchmark call `generate()`. Systems are built lazily from the registry
(training.generators) and each has its own lock, so concurrent requests for one model run one at a
time while other systems keep answering.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from core.generator import GenerationSettings, ImpressionGenerator
from core.prompt import build_prompt
from core.records import Report
from demo.examples import PAPER_STYLE_EXAMPLES, FindingsExample, pick_openi_examples
from demo.input_limits import MAX_FINDINGS_CHARS, cut_to_tokens, prepare_findings
from demo.model_builder import BuildStatus, ModelBuilder, checkpoint_exists, model_is_complete
from training.paths import DEFAULT_MODEL_DIR, default_model_dir

PROJECT = "default"
BASE = "base"
BASELINE_LABELS = {
    "retrieval": "Retrieval baseline (impression of the most similar training report)",
    "lead": "Lead baseline (first sentence of the findings)",
    "constant": "Constant baseline (always a normal impression)",
}
FALLBACK_ORDER = ("retrieval", "lead", "constant")
THREADS_ENV = "RADLLAMA_INFERENCE_THREADS"
SMALL_MODEL_PARAMETERS = 100_000_000


class GenerationError(RuntimeError):
    """A system could not answer; the message is for the user."""


@dataclass(frozen=True)
class SystemChoice:
    key: str
    """What the API and the picker pass: default, base, a baseline name, or model:PATH."""
    label: str
    """What people see in the picker."""


@dataclass
class GenerationUpdate:
    """One step of a streamed answer."""

    impression: str
    system: str
    elapsed_s: float
    done: bool = False
    notices: list[str] = field(default_factory=list)

    def details(self) -> str:
        """One Markdown line: who answered, how long it took, and any notice."""
        verb = "Generated" if self.done else "Generating"
        line = f"{verb} by **{self.system}** in {self.elapsed_s:.2f} s."
        return "\n\n".join([line, *(f"Note: {n}" for n in self.notices)])


def tune_inference_threads(generator) -> None:
    """One torch thread for small models (unless $RADLLAMA_INFERENCE_THREADS says otherwise).

    A small model answering one request spends its time in per-token overhead, not in large
    matrix products; with two or more OpenMP threads on a busy CPU the threads spin against
    each other. Measured on 2 shared cores: 0.05 s per impression with one thread, about 1.9 s
    with two. The setting is process-wide: large models keep torch's default.
    """
    model = getattr(generator, "model", None)
    if model is None or not hasattr(model, "parameters"):
        return
    import torch

    threads = os.environ.get(THREADS_ENV)
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    elif sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS:
        torch.set_num_threads(1)


class GenerationService:
    """Systems by key, lazily built, one lock each; the project model may still be building."""

    def __init__(self, train: Sequence[Report], examples: Sequence[FindingsExample], project_model_dir: Path,
                 project_registry_name: str, extra_models: Sequence[str] = (), builder: ModelBuilder | None = None,
                 max_chars: int = MAX_FINDINGS_CHARS, data_note: str | None = None):
        self.train = list(train)
        self.examples = list(examples)
        self.project_model_dir = Path(project_model_dir)
        self.project_registry_name = project_registry_name
        self.extra_models = [str(Path(m).expanduser()) for m in extra_models]
        self.builder = builder
        self.max_chars = max_chars
        self.data_note = data_note
        self._generators: dict[str, ImpressionGenerator] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._project_warmed = False

    @classmethod
    def from_config(cls, model_path: str | None = None, extra_models: Sequence[str] = (), data_path: str | None = None,
                    build_if_missing: bool = True) -> "GenerationService":
        """The service the app runs: data for retrieval and examples, the project model (built if missing)."""
        from training.dataset import load_split
        from training.paths import DataNotFound

        train: list[Report] = []
        examples = list(PAPER_STYLE_EXAMPLES)
        data_note = None
        try:
            split = load_split(data_path)
            train = split.train
            examples += pick_openi_examples(split.test, split.train)
        except (DataNotFound, ValueError, OSError) as exc:
            data_note = f"No report data ({exc}); the retrieval baseline and OpenI examples are unavailable."
        model_dir = default_model_dir(model_path)
        registry_name = PROJECT if model_path is None else f"model:{model_dir}"
        builder = None
        if model_dir.resolve() == DEFAULT_MODEL_DIR.resolve():
            builder = ModelBuilder(model_dir, data_path=data_path)
            if build_if_missing and not model_is_complete(model_dir):
                builder.start_if_missing()
        service = cls(train, examples, model_dir, registry_name, extra_models, builder, data_note=data_note)
        service.warm_up_in_background()
        return service

    # -- what exists --------------------------------------------------------------------------
    def choices(self) -> list[SystemChoice]:
        out = [SystemChoice(PROJECT, "Radiology-Llama: the project's fine-tuned model"),
               SystemChoice(BASE, "Base model (before instruction tuning)")]
        out += [SystemChoice(k, v) for k, v in BASELINE_LABELS.items() if k != "retrieval" or self.train]
        out += [SystemChoice(f"model:{p}", f"Model at {p}") for p in self.extra_models]
        return out

    def project_model_ready(self) -> bool:
        if self.builder is not None:
            return model_is_complete(self.project_model_dir)
        return checkpoint_exists(self.project_model_dir)

    def model_status(self) -> BuildStatus:
        if self.builder is not None:
            status = self.builder.status()
            if status.ready and not self._project_warmed:  # just built: load it before anyone waits for it
                self._project_warmed = True
                threading.Thread(target=self.warm_up, args=(PROJECT,), name="warm-up", daemon=True).start()
            return status
        if self.project_model_ready():
            return BuildStatus("ready", f"Project model ready: `{self.project_model_dir}`.")
        return BuildStatus("missing", f"No model at `{self.project_model_dir}`; the baselines serve. Build one with "
                           "`python -m training.train --recipe default` and pass its final folder with --model.")

    def status_markdown(self) -> str:
        parts = [self.model_status().message]
        if self.data_note:
            parts.append(self.data_note)
        return "\n\n".join(parts)

    def fallback_system(self) -> str:
        return next(k for k in FALLBACK_ORDER if k != "retrieval" or self.train)

    # -- building systems ------------------------------------------------------------------
    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _registry_name(self, key: str) -> str:
        if key == PROJECT:
            return self.project_registry_name
        if key == BASE and self.project_registry_name != PROJECT:
            # A model given by path: its own base (RUN/base), not the default model's.
            from training.lm_generator import base_model_dir

            return f"model:{base_model_dir(self.project_model_dir)}"
        return key

    def _get(self, key: str) -> ImpressionGenerator:
        """The generator for `key`; caller holds its lock."""
        if key not in self._generators:
            from training.generators import build

            try:
                self._generators[key] = build(self._registry_name(key), self.train)
            except (ImportError, OSError, KeyError, ValueError) as exc:
                raise GenerationError(f"System {key!r} is not available: {exc}") from exc
            tune_inference_threads(self._generators[key])
        return self._generators[key]

    def warm_up(self, key: str) -> None:
        """Load a system and answer once, ahead of its first request (errors surface on that request)."""
        try:
            with self._lock_for(key):
                self._get(key).generate(["The lungs are clear."], GenerationSettings(max_new_tokens=8))
        except Exception:  # noqa: BLE001 - a failed warm-up is retried, and reported, by the request
            pass

    def warm_up_in_background(self) -> None:
        """Load the fallback baseline (and the project model, when ready) so first requests are fast."""
        self._project_warmed = self.project_model_ready()
        keys = [self.fallback_system()] + ([PROJECT] if self._project_warmed else [])
        threading.Thread(target=lambda: [self.warm_up(k) for k in keys], name="warm-up", daemon=True).start()

    def resolve(self, key: str | None) -> tuple[str, list[str]]:
        """The system that will answer for `key`, and notices (e.g. the model is still being built)."""
        key = key or PROJECT
        known = {c.key for c in self.choices()}
        if key not in known:
            raise GenerationError(f"Unknown system {key!r}; choose one of: {', '.join(sorted(known))}.")
        if key == PROJECT and not self.project_model_ready():
            fallback = self.fallback_system()
            why = {"building": "is still being built", "building-elsewhere": "is still being built",
                   "failed": "failed to build"}.get(self.model_status().state, "is missing")
            return fallback, [f"The project model is not available yet (it {why}; see the model status), "
                              f"so the {fallback} baseline answered."]
        return key, []

    # -- generating ------------------------------------------------------------------------
    def _fit_to_model(self, generator, findings: str, settings: GenerationSettings) -> tuple[str, list[str]]:
        """Cut findings to the model's context (beside the prompt scaffold and the new tokens)."""
        tokenizer = getattr(generator, "tokenizer", None)
        context = getattr(generator, "max_input_tokens", None)
        if context is None:
            config = getattr(getattr(generator, "model", None), "config", None)
            context = getattr(config, "max_position_embeddings", None)
        if tokenizer is None or not context:
            return findings, []
        scaffold = len(tokenizer(build_prompt(""), add_special_tokens=True)["input_ids"])
        budget = max(16, int(context) - scaffold - settings.max_new_tokens)
        cut, n_tokens = cut_to_tokens(findings, tokenizer, budget)
        if cut == findings:
            return findings, []
        return cut, [f"The findings ({n_tokens:,} tokens) were cut to {budget:,} tokens to fit the model's context."]

    def stream(self, findings: object, system: str | None = None,
               settings: GenerationSettings = GenerationSettings()) -> Iterator[GenerationUpdate]:
        """Yield the impression as it grows; the last update has done=True and the total time.

        Raises FindingsError for unusable findings and GenerationError when the system cannot answer.
        """
        prepared = prepare_findings(findings, self.max_chars)
        key, notices = self.resolve(system)
        notices = prepared.notices + notices
        with self._lock_for(key):
            started = time.perf_counter()  # generation time: waiting for another request's turn excluded
            generator = self._get(key)
            text, more = self._fit_to_model(generator, prepared.text, settings)
            notices += more
            partial = ""
            # Beam search cannot stream token by token: its answer arrives whole.
            stream = getattr(generator, "stream", None) if settings.strategy == "greedy" else None
            try:
                pieces = stream(text, settings) if stream else iter(generator.generate([text], settings))
                for piece in pieces:
                    if piece != partial:  # streamers also report chunks that add nothing visible
                        partial = piece
                        yield GenerationUpdate(partial, key, time.perf_counter() - started, False, notices)
            except (RuntimeError, ValueError) as exc:
                raise GenerationError(f"{key} failed: {exc}") from exc
        if not partial.strip():
            notices = notices + [f"{key} wrote an empty impression; try another system or more new tokens."]
        yield GenerationUpdate(partial.strip(), key, time.perf_counter() - started, True, notices)

    def generate(self, findings: object, system: str | None = None,
                 settings: GenerationSettings = GenerationSettings()) -> GenerationUpdate:
        """The finished answer (scripts, the benchmark)."""
        last = None
        for last in self.stream(findings, system, settings):
            pass
        assert last is not None
        return last
