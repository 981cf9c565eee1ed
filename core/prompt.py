"""The one prompt template, shared by training, inference and the demo.

It follows the Radiology-Llama2 paper's instruction format: the instruction, the findings,
then the impression. Optionally, reports retrieved from the training set are shown as
examples before the findings (ImpressionGPT-style dynamic prompt).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

INSTRUCTION = "Derive the impression from findings in the radiology report"

TEMPLATE_VERSION = "radllama-prompt-v1"


@dataclass(frozen=True)
class Example:
    """A solved report shown in the prompt (findings and its impression)."""

    findings: str
    impression: str


def build_prompt(findings: str, examples: Sequence[Example] = ()) -> str:
    """Everything the model sees before it writes the impression.

    The text ends with "Impression:" followed by one space; the target is appended after it.
    """
    parts = [f"### Instruction:\n{INSTRUCTION}\n"]
    for i, ex in enumerate(examples, 1):
        parts.append(f"### Similar report {i}:\nFindings: {ex.findings}\nImpression: {ex.impression}\n")
    parts.append(f"### Findings:\n{findings}\n")
    parts.append("### Impression:\n")
    return "\n".join(parts)


def extract_impression(generated: str) -> str:
    """Cut a continuation at the first section marker the model may start on its own."""
    for stop in ("\n###", "### ", "\n\n"):
        idx = generated.find(stop)
        if idx != -1:
            generated = generated[:idx]
    return generated.strip()


def template_description() -> dict:
    """What a checkpoint stores beside its weights so that inference rebuilds the same prompt."""
    return {
        "version": TEMPLATE_VERSION,
        "instruction": INSTRUCTION,
        "example": build_prompt("<findings>", [Example("<similar findings>", "<its impression>")]),
    }
