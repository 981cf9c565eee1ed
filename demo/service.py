"""STUB (to be replaced by the demo engineer): generation service behind the Generate tab."""
from __future__ import annotations


class GenerationService:
    def __init__(self, **cfg):
        self.cfg = cfg

    @classmethod
    def from_config(cls, **cfg) -> "GenerationService":
        return cls(**cfg)
