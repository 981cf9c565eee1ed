"""One cached, thread-safe way to get and run systems: used by the demo, study creation and evaluation.

`SystemService.get(spec)` builds a system once (later callers wait for that build, and a failed
build is retried by the next call). Calls run under a per-system semaphore sized by the
system's `max_concurrency`: an in-process model answers one request at a time while other
systems keep answering, and an HTTP endpoint keeps several requests in flight.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator, Sequence

from core.records import Report
from generation import registry
from generation.base import GenerationError, GenerationSettings, ImpressionGenerator

TrainProvider = Callable[[], Sequence[Report]]


class SystemService:
    """Systems by spec, built lazily from the registry and cached for the life of the process.

    train: the training reports systems may retrieve from, or a function that loads them on
    first need (so a service that never builds a retrieval system never loads data).
    on_build: called with each newly built generator (e.g. to tune inference threads).
    """

    def __init__(self, train: Sequence[Report] | TrainProvider = (),
                 on_build: Callable[[ImpressionGenerator], None] | None = None):
        self._train_source = train
        self._train: list[Report] | None = None if callable(train) else list(train)
        self._on_build = on_build
        self._generators: dict[str, ImpressionGenerator] = {}
        self._build_locks: dict[str, threading.Lock] = {}
        self._run_slots: dict[str, threading.BoundedSemaphore] = {}
        self._guard = threading.Lock()

    def train(self) -> list[Report]:
        with self._guard:
            if self._train is None:
                self._train = list(self._train_source())  # type: ignore[operator]
            return self._train

    def replace_train(self, train: Sequence[Report]) -> None:
        """Use these training reports from now on (data that arrived after start, e.g. a download).
        Systems already built keep theirs until rebuilt; retrieval, which is nothing but its
        training reports, is dropped so that its next call builds it on the new ones."""
        with self._guard:
            self._train = list(train)
            self._generators.pop("retrieval", None)

    def _build_lock(self, spec: str) -> threading.Lock:
        with self._guard:
            return self._build_locks.setdefault(spec, threading.Lock())

    def get(self, spec: str) -> ImpressionGenerator:
        """The generator for `spec`, built on first use; GenerationError names the system and the cause."""
        spec = spec.strip()
        if spec in self._generators:
            return self._generators[spec]
        registry.factory_path(spec)  # unknown names fail here, before any data is loaded
        with self._build_lock(spec):
            if spec not in self._generators:
                try:
                    generator = registry.build(spec, self.train())
                except GenerationError:
                    raise
                except (ImportError, OSError, KeyError, ValueError, RuntimeError) as exc:
                    raise GenerationError(f"System {spec!r} is not available: {exc}") from exc
                if self._on_build is not None:
                    self._on_build(generator)
                with self._guard:
                    self._run_slots[spec] = threading.BoundedSemaphore(max(1, generator.max_concurrency))
                    self._generators[spec] = generator
        return self._generators[spec]

    @contextlib.contextmanager
    def turn(self, spec: str) -> Iterator[ImpressionGenerator]:
        """Hold one of the system's call slots while using it."""
        generator = self.get(spec)
        slot = self._run_slots[spec.strip()]
        with slot:
            yield generator

    def generate(self, spec: str, findings: Sequence[str],
                 settings: GenerationSettings = GenerationSettings()) -> list[str]:
        with self.turn(spec) as generator:
            out = generator.generate(list(findings), settings)
        if len(out) != len(findings):
            raise GenerationError(f"system {spec!r} returned {len(out)} impressions for {len(findings)} findings")
        return out

    def describe(self, spec: str) -> dict:
        return self.get(spec).describe()
