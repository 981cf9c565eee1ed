"""Bound the findings a user pastes, before any tokenizer or model sees them.

Two cuts, each with a notice for the person: a hard character cap (so a 100,000-character
paste costs nothing), then, for model-backed systems, a token cut to what fits the model's
context beside the prompt scaffold and the tokens still to be generated.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_FINDINGS_CHARS = 16_000
"""Hard cap on findings characters; far above any real report (OpenI median about 200)."""


class FindingsError(ValueError):
    """Findings that cannot be used at all (empty); the message is for the user."""


@dataclass
class PreparedFindings:
    text: str
    notices: list[str] = field(default_factory=list)


def prepare_findings(raw: object, max_chars: int = MAX_FINDINGS_CHARS) -> PreparedFindings:
    """Strip, reject empty, and cut to `max_chars` on a word boundary (with a notice)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise FindingsError("Please enter the findings of a report: the findings box is empty.")
    notices: list[str] = []
    if len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        if space > max_chars * 0.8:
            cut = cut[:space]
        notices.append(f"The findings were {len(text):,} characters long; only the first {len(cut):,} were used.")
        text = cut
    return PreparedFindings(text, notices)


def cut_to_tokens(text: str, tokenizer, max_tokens: int) -> tuple[str, int]:
    """(text cut to at most `max_tokens` tokens, its original token count)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, len(ids)
    return tokenizer.decode(ids[: max(1, max_tokens)], skip_special_tokens=True).strip(), len(ids)
