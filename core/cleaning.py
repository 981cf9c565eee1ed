"""Text cleaning applied identically to findings, references and predictions.

The rules (documented in README "Cleaning"):
1. Unicode whitespace (newlines, tabs, runs of spaces) collapses to one space; ends are stripped.
2. List numbering at the start of an item ("1. ", "2) ") is removed, so "1. No acute disease."
   and "No acute disease." score the same; the sentences are kept in order.
3. Repeated sentence punctuation (". ." or "..") collapses to one period.
4. Optionally (remove_deid=True), the de-identification mark "XXXX" is dropped.
5. A section that is empty after cleaning counts as missing.
"""
from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")
_LIST_NUMBER = re.compile(r"(?:(?<=^)|(?<=[\s.;:]))\(?\d{1,2}[.)](?=\s|[A-Za-z])\s*")
_REPEATED_PERIOD = re.compile(r"\.(?:\s*\.)+")
_DEID = re.compile(r"\bX{2,}\b")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:])")


def clean_text(text: str | None, remove_deid: bool = False) -> str:
    """Return `text` cleaned by the module's rules; "" for None or blank input."""
    if not text:
        return ""
    text = _WHITESPACE.sub(" ", str(text)).strip()
    text = _LIST_NUMBER.sub("", text)
    if remove_deid:
        text = _DEID.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_PERIOD.sub(".", text)
    text = _WHITESPACE.sub(" ", text).strip()
    if text in {".", ",", ";", ":"}:
        return ""
    return text


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def split_sentences(text: str) -> list[str]:
    """Split cleaned text into sentences (used for ROUGE-Lsum and the lead baseline)."""
    text = text.strip()
    if not text:
        return []
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
