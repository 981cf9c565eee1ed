"""Systems by name: the one place a new system is registered.

A system spec is either a plain name or `prefix:argument`:

  constant, lead, retrieval     baselines
  default                       the project's fine-tuned model (models/default/final, or $RADLLAMA_MODEL)
  base                          its base model, same prompt, never instruction-tuned
  model:PATH                    a checkpoint folder written by training.train
  hf:PATH[?chat]                any local Hugging Face causal LM folder or PEFT adapter folder
  openai:MODEL@BASE_URL[?chat]  an OpenAI-compatible HTTP endpoint (vLLM, TGI, llama.cpp, Ollama, ...)

Factories are named as "module:function" strings and imported only when a system is built,
so importing this module loads no torch and makes no import cycle. Every factory has the
signature `factory(spec: str, train: Sequence[Report]) -> ImpressionGenerator`.
"""
from __future__ import annotations

from importlib import import_module
from typing import Sequence

from core.records import Report
from generation.base import ImpressionGenerator

NAMED: dict[str, str] = {
    "constant": "generation.baselines:constant",
    "lead": "generation.baselines:lead",
    "retrieval": "generation.baselines:retrieval",
    "default": "generation.project_lm:default_system",
    "base": "generation.project_lm:base_system",
}
PREFIXED: dict[str, str] = {
    "model": "generation.project_lm:checkpoint_system",
    "hf": "generation.hf_local:hf_system",
    "openai": "generation.openai_endpoint:openai_system",
}
BASELINES = ("constant", "lead", "retrieval")


class UnknownSystem(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; this one is for people
        return str(self.args[0])


def register(name: str, factory: str) -> None:
    """Add a system under `name` ("module:function"), e.g. from a plug-in's set-up code."""
    NAMED[name] = factory


def available() -> list[str]:
    """Plain names, then the prefixes that take an argument."""
    return list(NAMED) + [f"{p}:..." for p in PREFIXED]


def factory_path(spec: str) -> str:
    """The "module:function" that builds `spec`; UnknownSystem when nothing does."""
    spec = spec.strip()
    if spec in NAMED:
        return NAMED[spec]
    prefix, sep, argument = spec.partition(":")
    if sep and prefix in PREFIXED and argument.strip():
        return PREFIXED[prefix]
    raise UnknownSystem(f"unknown system {spec!r}; known: {', '.join(NAMED)}, "
                        "model:PATH, hf:PATH, openai:MODEL@BASE_URL")


def build(spec: str, train: Sequence[Report] = ()) -> ImpressionGenerator:
    """Build system `spec`, given the training reports it may retrieve from."""
    module_name, function = factory_path(spec).split(":")
    return getattr(import_module(module_name), function)(spec.strip(), train)
