"""The generation service behind the Generate tab: which systems it offers, and findings -> impression.

No gradio here. The tab (demo/generate_tab.py) calls `stream()` and shows what it yields; scripts
and the benchmark call `generate()`. Systems come from the one cached, thread-safe
generation.service.SystemService (the same one study creation uses in the app); this class adds
what only the demo needs: the picker's choices, the project model's build status, and the
fallback to a baseline while that model is being built.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from core.paths import DEFAULT_MODEL_DIR, default_model_dir
from core.records import Report
from demo.examples import PAPER_STYLE_EXAMPLES, FindingsExample, pick_openi_examples
from demo.model_builder import (BUILD_TIME_TEXT, BuildStatus, ModelBuilder, checkpoint_exists, model_is_complete,
                                 summarize_metrics)
from generation.base import FindingsError, GenerationError, GenerationSettings, ImpressionGenerator
from generation.project_lm import LMGenerator, base_model_dir
from generation.service import SystemService

PROJECT = "default"
BASE = "base"
BASELINE_LABELS = {
    "retrieval": "Retrieval baseline (impression of the most similar training report)",
    "lead": "Lead baseline (first sentence of the findings)",
    "constant": "Constant baseline (always a normal impression)",
}
FALLBACK_ORDER = ("retrieval", "lead", "constant")


FOLLOW_UP_MAX_CHARS = 2_000
FOLLOW_UP_TURNS = 10
"""Earlier question/answer pairs kept in the model's context (older ones drop out)."""
FOLLOW_UP_TOKENS = 256
FOLLOW_UP_CONTEXT = ("You are assisting a radiologist with one chest X-ray report. Its findings and the impression "
                    "an AI system wrote for them follow. Answer questions about this report briefly and plainly; "
                    "say when the findings do not support an answer.\n\nFINDINGS:\n{findings}\n\nIMPRESSION:\n{impression}")


def message_text(content: object) -> str:
    """Plain text of a chat message's content (a string, or a list of {"type": "text", "text": ...} parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


@dataclass(frozen=True)
class SystemChoice:
    key: str
    """What the API and the picker pass: default, base, a baseline name, or a system spec."""
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
    instead: list[str] = field(default_factory=list)
    """Why this system answered rather than the one chosen (the project model not built yet)."""

    def details(self) -> str:
        """One Markdown line: who answered (and why, when it was not the system chosen), how long it took,
        then any notice."""
        verb = "Generated" if self.done else "Generating"
        why = f", {' '.join(self.instead)}" if self.instead else ""
        line = f"{verb} by **{self.system}** in {self.elapsed_s:.2f} s{why}"
        line = line if line.endswith(".") else line + "."
        return "\n\n".join([line, *(f"Note: {n}" for n in self.notices)])


def tune_for_interactive_use(generator: ImpressionGenerator) -> None:
    """Small in-process models answer single requests fastest on one thread (LMGenerator.tune_inference_threads)."""
    if isinstance(generator, LMGenerator):
        generator.tune_inference_threads()


def extra_choice(spec: str) -> SystemChoice:
    """A system given on the command line: `model:`, `hf:`, `openai:` specs, or a bare checkpoint path.

    The label names a checkpoint by its folder's name only: visitors never see a server path.
    """
    prefix, _, rest = spec.partition(":")
    if prefix == "hf":
        return SystemChoice(spec, f"Hugging Face model {rest}")
    if prefix == "openai":
        return SystemChoice(spec, "Endpoint model")
    if prefix == "model":
        return SystemChoice(spec, f"Checkpoint {Path(rest).name}")
    return SystemChoice(f"model:{Path(spec).expanduser()}", f"Checkpoint {Path(spec).expanduser().name}")


_PATH = re.compile(r"(?:~|\.{1,2})?(?:/[^/\s`'\"():;,]+)+/([^/\s`'\"():;,]+)")


def without_paths(text: str) -> str:
    """`text` with every file path cut to its last part (what a visitor may see of a server's files)."""
    return _PATH.sub(r"\1", text)


WHY_UNAVAILABLE = {"building": "it is being built on this server", "building-elsewhere": "it is being built on this "
                   "server", "failed": "it failed to build on this server"}
"""Why the project model cannot answer, by build state (anything else: it is not on this server)."""


class GenerationService:
    """The Generate tab's systems; the project model may still be building."""

    def __init__(self, train: Sequence[Report], examples: Sequence[FindingsExample], project_model_dir: Path,
                 project_registry_name: str, extra_systems: Sequence[str] = (), builder: ModelBuilder | None = None,
                 data_note: str | None = None, systems: SystemService | None = None):
        self.train = list(train)
        self.examples = list(examples)
        self.project_model_dir = Path(project_model_dir)
        self.project_registry_name = project_registry_name
        self.extra = [extra_choice(s) for s in extra_systems]
        self.builder = builder
        self.data_note = data_note
        self.systems = systems or SystemService(self.train, on_build=tune_for_interactive_use)
        self._project_warmed = False
        self.notices: list[str] = []
        """Lines the page shows under the model status (e.g. that nothing survives a Space restart)."""
        self.data_fetch = None
        """demo.data_source.ArchiveFetch while report data is being downloaded (or failed to be)."""
        self.build_if_missing = False

    @classmethod
    def from_config(cls, model_path: str | None = None, extra_systems: Sequence[str] = (),
                    data_path: str | None = None, build_if_missing: bool = True, fetch_data: bool = False,
                    notices: Sequence[str] = ()) -> "GenerationService":
        """The service the app runs: data for retrieval and examples, the project model (built if missing).

        fetch_data: when no report data is found, download the Open-i archive in the background
        (demo.data_source) and build the model once it is there. notices: lines shown in the page.
        """
        from core.paths import DataNotFound
        from reports.dataset import load_split

        split = None
        data_note = None
        try:
            split = load_split(data_path)
        except DataNotFound as exc:
            data_note = f"No report data ({exc}); the retrieval baseline and OpenI examples are unavailable."
        except (ValueError, OSError) as exc:
            data_note = f"No report data ({exc}); the retrieval baseline and OpenI examples are unavailable."
            fetch_data = False  # data was found but is unusable: that is for its owner to fix
        model_dir = default_model_dir(model_path)
        registry_name = PROJECT if model_path is None else f"model:{model_dir}"
        builder = None
        if model_dir.resolve() == DEFAULT_MODEL_DIR.resolve():
            builder = ModelBuilder(model_dir, data_path=data_path)
        service = cls(split.train if split else [], PAPER_STYLE_EXAMPLES, model_dir, registry_name, extra_systems,
                      builder, data_note=data_note)
        service.notices = list(notices)
        service.build_if_missing = build_if_missing
        if split is not None:
            service.use_data(split)
        elif fetch_data and data_path is None:
            from demo.data_source import ArchiveFetch

            service.data_note = None
            service.data_fetch = ArchiveFetch(lambda path: service.use_data(load_split(path))).start()
        service.warm_up_in_background()
        return service

    def use_data(self, split) -> None:
        """Report data is here (at start, or after a download): retrieval, OpenI examples, the model build."""
        self.train = list(split.train)
        self.examples = list(PAPER_STYLE_EXAMPLES) + pick_openi_examples(split.test, split.train)
        self.systems.replace_train(self.train)
        if self.builder is not None and self.build_if_missing and not model_is_complete(self.project_model_dir):
            self.builder.start_if_missing()

    # -- what exists --------------------------------------------------------------------------
    def choices(self) -> list[SystemChoice]:
        """The picker: while the project model cannot answer, its entry says so and names who answers instead."""
        project = "Radiology-Llama: the project's fine-tuned model"
        if not self.project_model_ready():
            fallback = self.fallback_system()
            project = (f"Radiology-Llama: not available yet ({self.why_unavailable()}); the "
                       f"{BASELINE_LABELS[fallback].split(' (')[0]} answers instead")
        out = [SystemChoice(PROJECT, project), SystemChoice(BASE, "Base model (before instruction tuning)")]
        # Retrieval is offered once there is data, or data is being downloaded (the picker is laid out at start).
        out += [SystemChoice(k, v) for k, v in BASELINE_LABELS.items()
                if k != "retrieval" or self.train or self.data_fetch is not None]
        return out + self.extra

    def project_model_ready(self) -> bool:
        if self.builder is not None:
            return model_is_complete(self.project_model_dir)
        return checkpoint_exists(self.project_model_dir)

    def model_status(self) -> BuildStatus:
        if self.data_fetch is not None and self.data_fetch.state == "fetching" and not self.project_model_ready():
            return BuildStatus("building", "The project model is built once the report data is downloaded.")
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

    def why_unavailable(self) -> str:
        """Why the project model cannot answer now, in a visitor's words."""
        return WHY_UNAVAILABLE.get(self.model_status().state, "it is not on this server")

    def status_markdown(self) -> str:
        """The model status line for visitors: the build state in words, never a server path (the
        operator's message, with the model folder and the build log, goes to the server's log)."""
        status = self.model_status()
        if status.state == "ready" or self.project_model_ready():
            parts = ["Radiology-Llama (the project's fine-tuned model) is ready."]
        else:
            fallback = BASELINE_LABELS[self.fallback_system()].split(" (")[0]
            progress = ""
            if status.state in ("building", "building-elsewhere") and self.builder is not None:
                progress = f" ({summarize_metrics(self.builder.metrics_path)}; {BUILD_TIME_TEXT})"
            parts = [f"Radiology-Llama is not available yet: {self.why_unavailable()}{progress}. "
                     f"Until it is, the {fallback} answers when it is chosen."]
        if self.data_fetch is not None and self.data_fetch.state != "ready":
            parts.append(without_paths(self.data_fetch.message))
        elif self.data_note:
            parts.append(without_paths(self.data_note))
        return "\n\n".join(parts + [without_paths(n) for n in self.notices])

    def fallback_system(self) -> str:
        return next(k for k in FALLBACK_ORDER if k != "retrieval" or self.train)

    # -- building systems ------------------------------------------------------------------
    def registry_spec(self, key: str) -> str:
        """The system spec behind a picker key (the project model may be a checkpoint given by path)."""
        if key == PROJECT:
            return self.project_registry_name
        if key == BASE and self.project_registry_name != PROJECT:
            return f"model:{base_model_dir(self.project_model_dir)}"  # that model's own base (RUN/base)
        return key

    def generator(self, key: str) -> ImpressionGenerator:
        return self.systems.get(self.registry_spec(key))

    def warm_up(self, key: str) -> None:
        """Load a system and answer once, ahead of its first request (errors surface on that request)."""
        try:
            self.systems.generate(self.registry_spec(key), ["The lungs are clear."],
                                  GenerationSettings(max_new_tokens=8))
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
            return fallback, [f"not by Radiology-Llama, which is not available yet ({self.why_unavailable()}): "
                              f"the {BASELINE_LABELS[fallback]} answered instead."]
        if key == "retrieval" and not self.train:  # offered while the report data downloads
            fallback = self.fallback_system()
            fetch = without_paths(self.data_fetch.message) if self.data_fetch else ""
            return fallback, [f"not by the retrieval baseline, which needs the report data ({fetch}): "
                              f"the {BASELINE_LABELS[fallback]} answered instead."]
        return key, []

    # -- generating ------------------------------------------------------------------------
    def stream(self, findings: object, system: str | None = None,
               settings: GenerationSettings = GenerationSettings()) -> Iterator[GenerationUpdate]:
        """Yield the impression as it grows; the last update has done=True and the total time.

        Raises FindingsError for unusable findings and GenerationError when the system cannot answer.
        """
        key, instead = self.resolve(system)
        notices: list[str] = []
        if key == PROJECT:
            try:
                self.generator(PROJECT)
            except GenerationError as exc:  # e.g. a model that retrieves examples, on a machine without the data
                fallback = self.fallback_system()
                instead = [f"not by Radiology-Llama, which cannot answer on this server ({without_paths(str(exc))}): "
                           f"the {BASELINE_LABELS[fallback]} answered instead."]
                key = fallback
        with self.systems.turn(self.registry_spec(key)) as generator:
            started = time.perf_counter()  # generation time: waiting for another request's turn excluded
            prepared = generator.prepare(findings, settings)
            notices = prepared.notices + notices
            partial = ""
            try:
                for piece in generator.stream(prepared.text, settings):
                    if piece != partial:  # streamers also report chunks that add nothing visible
                        partial = piece
                        yield GenerationUpdate(partial, key, time.perf_counter() - started, False, notices,
                                               instead)
            except GenerationError:
                raise
            except (RuntimeError, ValueError, OSError) as exc:
                raise GenerationError(f"{key} failed: {exc}") from exc
        if not partial.strip():
            notices = notices + [f"{key} wrote an empty impression; try another system or more new tokens."]
        elif (system or PROJECT) == PROJECT and key != PROJECT:
            partial, instead = self.repaired_stand_in(prepared.text, partial, instead)
        yield GenerationUpdate(partial.strip(), key, time.perf_counter() - started, True, notices, instead)

    @staticmethod
    def repaired_stand_in(findings: str, text: str, instead: list[str]) -> tuple[str, list[str]]:
        """A baseline standing in for Radiology-Llama is repaired as Radiology-Llama's answers are (the findings'
        omitted observations carried in, contradictions qualified or dropped, no XXXX: core.consistency.repair); chosen
        by name, a baseline answers as the evaluation measures it."""
        from core.consistency import repair

        fixed = repair(findings, text)
        if fixed == text:
            return text, instead
        return fixed, instead + ["Its text was repaired as Radiology-Llama's answers are: omitted findings carried "
                                 "in, contradictions and unsupported findings removed, no de-identification marks."]

    def omission_markdown(self, findings: object, impression: object) -> str:
        """The omission check shown under the impression: positive findings left out, and added (core.omissions)."""
        from core.omissions import check, markdown

        if not isinstance(findings, str) or not isinstance(impression, str) or not impression.strip():
            return ""
        return markdown(check(findings, impression))

    def consistency_markdown(self, findings: object, impression: object) -> str:
        """The consistency check shown under the impression: a finding beside an unqualified normal statement,
        or a denied finding (core.consistency)."""
        from core.consistency import check, markdown

        if not isinstance(findings, str) or not isinstance(impression, str) or not impression.strip():
            return ""
        return markdown(check(impression, findings))

    def generate(self, findings: object, system: str | None = None,
                 settings: GenerationSettings = GenerationSettings()) -> GenerationUpdate:
        """The finished answer (scripts, the benchmark)."""
        last = None
        for update in self.stream(findings, system, settings):
            last = update
        assert last is not None
        return last

    # -- follow-up questions -------------------------------------------------------------------
    def follow_up_status(self, system: str | None) -> tuple[bool, str]:
        """(available, Markdown line) for follow-up questions to the system that answered."""
        try:
            key, _ = self.resolve(system)
            generator = self.generator(key)
        except GenerationError as exc:
            return False, f"Follow-up questions are unavailable: {exc}"
        if generator.can_chat:
            return True, f"Ask **{key}** a follow-up question about this report (e.g. \"Why not pneumonia?\")."
        return False, f"Follow-up questions are unavailable: {generator.chat_unavailable_reason()}"

    def follow_up(self, findings: object, impression: str, history: Sequence[dict], question: str,
                  system: str | None = None) -> Iterator[list[dict]]:
        """Yield the conversation with the answer growing; findings and impression are in the model's context.

        Raises FindingsError for an empty question or no impression yet, GenerationError (or
        ChatUnavailable) when the system cannot answer.
        """
        question = (question or "").strip()
        if not question:
            raise FindingsError("Type a question about the report first.")
        if len(question) > FOLLOW_UP_MAX_CHARS:
            raise FindingsError(f"Questions are limited to {FOLLOW_UP_MAX_CHARS:,} characters.")
        if not (impression or "").strip():
            raise FindingsError("Generate an impression first; follow-up questions are about that report.")
        key, _ = self.resolve(system)
        turns = [{"role": m.get("role"), "content": message_text(m.get("content"))} for m in history or []
                 if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
        shown = turns + [{"role": "user", "content": question}]
        with self.systems.turn(self.registry_spec(key)) as generator:
            prepared = generator.prepare(findings)
            context = FOLLOW_UP_CONTEXT.format(findings=prepared.text, impression=impression.strip())
            messages = [*turns[-2 * FOLLOW_UP_TURNS:], {"role": "user", "content": question}]
            while messages[0]["role"] != "user":
                messages.pop(0)
            # The report goes into the first user turn: some chat templates refuse a system role.
            messages[0] = {"role": "user", "content": f"{context}\n\nQuestion: {messages[0]['content']}"}
            answer = ""
            yield shown + [{"role": "assistant", "content": "..."}]
            try:
                for answer in generator.chat(messages, GenerationSettings(max_new_tokens=FOLLOW_UP_TOKENS)):
                    yield shown + [{"role": "assistant", "content": answer}]
            except GenerationError:
                raise
            except (RuntimeError, ValueError, OSError) as exc:
                raise GenerationError(f"{key} failed to answer: {exc}") from exc
        if not answer.strip():
            yield shown + [{"role": "assistant", "content": f"({key} gave an empty answer.)"}]
