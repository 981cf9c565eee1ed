"""Registry of impression generators by name: the one place a new system is registered.

Names: constant, lead, retrieval, default (the project's fine-tuned model), base (its base
model, prompted without instruction tuning), and `model:PATH` for any checkpoint folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from core.generator import ImpressionGenerator
from core.records import Report

Factory = Callable[[Sequence[Report]], ImpressionGenerator]


def _constant(train: Sequence[Report]) -> ImpressionGenerator:
    from training.baselines import ConstantGenerator
    return ConstantGenerator()


def _lead(train: Sequence[Report]) -> ImpressionGenerator:
    from training.baselines import LeadGenerator
    return LeadGenerator()


def _retrieval(train: Sequence[Report]) -> ImpressionGenerator:
    from training.baselines import RetrievalGenerator
    return RetrievalGenerator(list(train))


REGISTRY: dict[str, Factory] = {
    "constant": _constant,
    "lead": _lead,
    "retrieval": _retrieval,
}
BASELINES = ("constant", "lead", "retrieval")


def register(name: str, factory: Factory) -> None:
    """Add a system under `name` (used by the model generators and by plug-ins)."""
    REGISTRY[name] = factory


def available() -> list[str]:
    _load_model_factories()
    return list(REGISTRY)


def build(name: str, train: Sequence[Report]) -> ImpressionGenerator:
    """Build generator `name`, given the training reports it may learn or retrieve from."""
    _load_model_factories()
    if name.startswith("model:"):
        from training.lm_generator import load_checkpoint_generator  # noqa: PLC0415
        return load_checkpoint_generator(Path(name.split(":", 1)[1]), train=train)
    if name not in REGISTRY:
        raise KeyError(f"unknown system {name!r}; known: {', '.join(REGISTRY)} or model:PATH")
    return REGISTRY[name](train)


def _load_model_factories() -> None:
    """Model-backed systems register themselves on import (keeps torch out of baseline-only runs)."""
    import training.lm_generator  # noqa: F401, PLC0415
