"""The scales of the study protocols (pure constants shared by db/, rating/ and the analysis).

See rating/protocols/definitions.py for what each protocol records and how form values are checked.
"""
from __future__ import annotations

PROTOCOLS = ("likert", "errors", "pairwise")
"""Every protocol a study can use, in the order the rater page shows them."""
ERROR_CATEGORIES = ("false_finding", "missed_finding", "wrong_location", "wrong_severity", "false_comparison",
                    "missed_comparison")
"""ReXVal's six error categories (a)-(f), under the names the export uses."""
CATEGORY_LETTERS = dict(zip("abcdef", ERROR_CATEGORIES, strict=True))
ERROR_TITLES = {
    "false_finding": "(a) False report of a finding",
    "missed_finding": "(b) Missing a finding",
    "wrong_location": "(c) Wrong location or position",
    "wrong_severity": "(d) Wrong severity",
    "false_comparison": "(e) Comparison that is not there",
    "missed_comparison": "(f) Omitted comparison or change",
}
SIGNIFICANCE = ("s", "i")
"""Cell suffixes: s = clinically significant, i = clinically insignificant."""
ERROR_CELLS = tuple(f"{c}.{s}" for c in ERROR_CATEGORIES for s in SIGNIFICANCE)
MAX_ERROR_COUNT = 50
"""More errors of one kind in one impression than this is a typing slip, not a rating."""
ATTRIBUTES = ("completeness", "correctness", "conciseness")
"""clin-summ's attributes, each rated -2 (left much better) .. 2 (right much better)."""
ATTRIBUTE_TITLES = {"completeness": "Completeness", "correctness": "Correctness", "conciseness": "Conciseness"}
PREFERENCE_LABELS = {-2: "Left much better", -1: "Left slightly better", 0: "Equal", 1: "Right slightly better",
                     2: "Right much better"}
HARM_EXTENTS = ("none", "mild_moderate", "severe_death")
"""AHRQ harm scale, extent of possible harm."""
HARM_LIKELIHOODS = ("low", "medium", "high")
"""AHRQ harm scale, likelihood of that harm."""
HARM_TITLES = {"none": "None", "mild_moderate": "Mild or moderate", "severe_death": "Severe or death",
               "low": "Low", "medium": "Medium", "high": "High"}
SIDES = ("left", "right")
PAIR_FIELDS = (*ATTRIBUTES, *(f"{s}_{f}" for s in SIDES for f in ("error", "harm_extent", "harm_likelihood")))
