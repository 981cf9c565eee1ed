"""How a candidate impression is shown to a rater, so that formatting habits give no system away.

    display_text("No  acute disease") == "No acute disease."

Whitespace is collapsed to single spaces and the text ends with exactly one final period (or its
own "?" / "!"). Two outputs of one case whose display texts are equal are the same candidate:
the rater sees it once and the rating counts for every system that wrote it (rating/study_setup,
rating/service). Pure: no gradio, torch or SQL here.
"""
from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s.]+$")


def display_text(text: str) -> str:
    """The text with whitespace collapsed and one final period."""
    flat = _SPACES.sub(" ", str(text)).strip()
    if not flat:
        return ""
    if flat[-1] in "?!":
        return flat
    body = _TRAILING.sub("", flat)
    return f"{body}." if body else ""


def same_text_groups(texts: dict) -> list[list]:
    """Keys of `texts` grouped by equal display text, each group in input order, groups by first key."""
    groups: dict[str, list] = {}
    for key, text in texts.items():
        groups.setdefault(display_text(text), []).append(key)
    return list(groups.values())
