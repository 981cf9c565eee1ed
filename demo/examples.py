"""Example findings for the Generate tab: two in the style of the paper's figures, plus OpenI test reports."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from core.records import Report


@dataclass(frozen=True)
class FindingsExample:
    label: str
    findings: str


# The Radiology-Llama2 paper shows one MIMIC-CXR-like and one OpenI-like report in Figures 2 and 3.
# Their exact text is not reproduced here; these are written in the same style.
PAPER_STYLE_EXAMPLES = (
    FindingsExample(
        "In the style of the paper's Figure 2 example (MIMIC-CXR-like)",
        "PA and lateral views of the chest were obtained. There is a new patchy opacity in the left lower lobe, "
        "with a small left pleural effusion. The right lung is clear. The heart size is mildly enlarged, "
        "unchanged from the prior study. The mediastinal and hilar contours are normal. There is no pneumothorax. "
        "Median sternotomy wires are intact.",
    ),
    FindingsExample(
        "In the style of the paper's Figure 3 example (OpenI-like)",
        "The cardiomediastinal silhouette and pulmonary vasculature are within normal limits. The lungs are clear. "
        "There is no pneumothorax or pleural effusion. There is no focal airspace consolidation. "
        "Mild degenerative changes of the thoracic spine.",
    ),
)


def pick_openi_examples(test: Sequence[Report], train: Sequence[Report], n: int = 4) -> list[FindingsExample]:
    """Up to `n` test-split reports whose findings never occur in training, half normal, half not.

    Chosen deterministically (by id) among findings of a readable length, so they are never
    training examples and the list is the same on every start.
    """
    seen = {r.findings.strip().lower() for r in train}
    candidates = sorted((r for r in test if 120 <= len(r.findings) <= 600 and r.findings.strip().lower() not in seen),
                        key=lambda r: (len(r.id), r.id))
    normal_words = ("no acute", "normal", "negative")
    normal = [r for r in candidates if any(w in r.impression.lower() for w in normal_words)]
    abnormal = [r for r in candidates if r not in normal]
    chosen = abnormal[: n - n // 2] + normal[: n // 2]
    if len(chosen) < n:
        chosen += [r for r in candidates if r not in chosen][: n - len(chosen)]
    return [FindingsExample(f"OpenI test report {r.id}", r.findings) for r in chosen]
