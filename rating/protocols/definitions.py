"""Names, scales and validation of the errors and pairwise protocols (pure: no database, no UI).

Form values arrive from the rater page or the API as JSON. Everything here either returns clean
values or raises ProtocolError with a message safe to show the rater; nothing is stored by it.

errors (ReXVal, Yu et al. 2023; GREEN, Ostmeier et al. 2024), per candidate label:
    {"counts": {"<category>.s": n, "<category>.i": n, ...},      # 6 categories x significance
     "spans":  {"<category>.s": [[start, end], ...], ...}}       # optional, at most n per cell
pairwise (clin-summ, Van Veen et al. 2024), per pair key "A-B" (A shown left, B right):
    {"completeness": -2..2, "correctness": -2..2, "conciseness": -2..2,
     "left_error": bool, "left_harm_extent": ..., "left_harm_likelihood": ..., "right_...": ...}
A preference of -2 means the left (shown first) text is much better, +2 the right one.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.protocol_scales import (
    ATTRIBUTES,
    ERROR_CELLS,
    ERROR_TITLES,
    HARM_EXTENTS,
    HARM_LIKELIHOODS,
    MAX_ERROR_COUNT,
    PAIR_FIELDS,
    PROTOCOLS,
    SIDES,
)
from rating.form_values import finite_number


class ProtocolError(ValueError):
    """Form values that cannot be stored; the message is safe to show the rater."""


def parse_protocols(value: object) -> tuple[str, ...]:
    """'likert,errors' (or a sequence) -> ('likert', 'errors') in canonical order; ProtocolError otherwise."""
    if isinstance(value, str):
        parts = [p.strip().lower() for p in value.split(",") if p.strip()]
    elif isinstance(value, Sequence):
        parts = [str(p).strip().lower() for p in value]
    else:
        raise ProtocolError("protocols must be text such as 'likert' or 'likert,errors'")
    if not parts:
        raise ProtocolError(f"choose at least one protocol ({', '.join(PROTOCOLS)})")
    unknown = [p for p in parts if p not in PROTOCOLS]
    if unknown:
        raise ProtocolError(f"unknown protocol {unknown[0][:30]!r}: choose from {', '.join(PROTOCOLS)}")
    return tuple(p for p in PROTOCOLS if p in parts)


def protocols_text(protocols: Sequence[str]) -> str:
    return ",".join(parse_protocols(list(protocols)))


def pair_keys(labels: Sequence[str]) -> list[tuple[str, str, str]]:
    """(key, left label, right label) for every pair of candidates, left = earlier in the label order.

    The label order itself is drawn from `secrets` per rater and case (rating/assignments.py), so
    which system is shown left is random, unpredictable and stored with the assignment.
    """
    return [(f"{a}-{b}", a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]


# --- errors ---------------------------------------------------------------------------------

def _count(value: object, where: str, allow_missing: bool) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_missing:
            return None
        raise ProtocolError(f"Please give the number of errors for {where} (0 if none).")
    number = finite_number(value)
    if isinstance(value, bool) or number is None or number != int(number) or not 0 <= number <= MAX_ERROR_COUNT:
        raise ProtocolError(f"The number of errors for {where} must be a whole number from 0 to {MAX_ERROR_COUNT}, "
                            f"not {str(value)[:20]!r}.")
    return int(number)


def cell_title(cell: str) -> str:
    category, sig = cell.split(".")
    return f"{ERROR_TITLES[category]}, {'clinically significant' if sig == 's' else 'not significant'}"


@dataclass(frozen=True)
class ErrorValues:
    """One candidate's error counts (cell -> n, or None in a draft) and highlighted spans (cell -> [[start, end]])."""

    counts: dict
    spans: dict


def parse_error_values(raw: object, label: str, text_length: int, draft: bool = False) -> ErrorValues:
    """Validate one candidate's error form; draft=True allows counts still missing (None)."""
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"The error counts of candidate {label} must be a mapping.")
    counts_raw = raw.get("counts") or {}
    spans_raw = raw.get("spans") or {}
    if not isinstance(counts_raw, Mapping) or not isinstance(spans_raw, Mapping):
        raise ProtocolError(f"The error counts of candidate {label} must be a mapping.")
    foreign = [k for k in (*counts_raw, *spans_raw) if k not in ERROR_CELLS]
    if foreign:
        raise ProtocolError(f"Unknown error category {str(foreign[0])[:30]!r} for candidate {label}.")
    counts = {cell: _count(counts_raw.get(cell), f"candidate {label}, {cell_title(cell).lower()}", draft)
              for cell in ERROR_CELLS}
    spans: dict[str, list[list[int]]] = {}
    for cell, items in spans_raw.items():
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise ProtocolError(f"The highlighted spans of candidate {label} must be a list of [start, end].")
        clean = []
        for item in items:
            ok = isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2
            start, end = (finite_number(item[0]), finite_number(item[1])) if ok else (None, None)
            if start is None or end is None or start != int(start) or end != int(end) \
                    or not 0 <= start < end <= text_length:
                raise ProtocolError(f"A highlighted span of candidate {label} does not lie inside its text.")
            clean.append([int(start), int(end)])
        if counts[cell] is not None and len(clean) > counts[cell]:
            raise ProtocolError(f"Candidate {label}: {len(clean)} highlighted spans for {cell_title(cell).lower()}, "
                                f"but {counts[cell]} error(s) counted; remove a highlight or raise the count.")
        if clean:
            spans[cell] = clean
    return ErrorValues(counts=counts, spans=spans)


# --- pairwise -------------------------------------------------------------------------------

def _preference(value: object, where: str, allow_missing: bool) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_missing:
            return None
        raise ProtocolError(f"Please give a preference for {where}.")
    number = finite_number(value)
    if isinstance(value, bool) or number is None or number != int(number) or not -2 <= number <= 2:
        raise ProtocolError(f"The preference for {where} must be a whole number from -2 to 2, "
                            f"not {str(value)[:20]!r}.")
    return int(number)


def _choice(value: object, allowed: Sequence[str], where: str, allow_missing: bool) -> str | None:
    if value is None or value == "":
        if allow_missing:
            return None
        raise ProtocolError(f"Please choose the {where}.")
    if value not in allowed:
        raise ProtocolError(f"The {where} must be one of {', '.join(allowed)}, not {str(value)[:20]!r}.")
    return str(value)


def parse_pair_values(raw: object, key: str, draft: bool = False) -> dict:
    """Validate one pair's form: three preferences and, per side marked as holding an error, its harm.

    Harm is asked only where an error was marked: harm given for a side without an error is refused.
    """
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"The preferences of pair {key} must be a mapping.")
    foreign = [k for k in raw if k not in PAIR_FIELDS]
    if foreign:
        raise ProtocolError(f"Unknown field {str(foreign[0])[:30]!r} in pair {key}.")
    out: dict = {a: _preference(raw.get(a), f"pair {key}, {a}", draft) for a in ATTRIBUTES}
    for side in SIDES:
        flag = raw.get(f"{side}_error", False)
        if flag not in (True, False, None, 0, 1):
            raise ProtocolError(f"The error mark of the {side} text in pair {key} must be true or false.")
        flag = bool(flag)
        out[f"{side}_error"] = flag
        extent = raw.get(f"{side}_harm_extent")
        likelihood = raw.get(f"{side}_harm_likelihood")
        if not flag:
            if extent not in (None, "") or likelihood not in (None, ""):
                raise ProtocolError(f"Pair {key}: harm can be given only for a text marked as holding an error "
                                    f"(the {side} text is not).")
            out[f"{side}_harm_extent"] = out[f"{side}_harm_likelihood"] = None
            continue
        out[f"{side}_harm_extent"] = _choice(extent, HARM_EXTENTS, f"extent of possible harm of the {side} text in "
                                             f"pair {key}", draft)
        out[f"{side}_harm_likelihood"] = _choice(likelihood, HARM_LIKELIHOODS, f"likelihood of harm of the {side} "
                                                 f"text in pair {key}", draft)
    return out
