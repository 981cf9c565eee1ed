"""Inherent tells: systems whose outputs a rater can recognise whatever the blinding.

Knowing the public OpenI CSV, a red team named constant, lead, retrieval and the reference in 34 of
34 cases: constant writes one text for every case, lead copies the findings' first sentence, and on
public data the reference (and retrieval, which copies another report's impression) can be looked
up. Study creation warns with these reasons; the warnings are stored in the study's config under
TELLS_KEY and the analysis shows them as notes (stored_warnings).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping

TELLS_KEY = "tell_warnings"
PUBLIC_SOURCES = frozenset({"openi"})
"""Report sources anyone can download (Report.source): a rater may know their impressions."""
ALWAYS = {
    "constant": "constant writes the same impression for every case: a rater recognises it after a few cases",
    "lead": "lead copies the first sentence of the findings: a rater who reads the findings spots it",
}
ON_PUBLIC_DATA = {
    "reference": "the reference is the report's own impression, published in the public data set: a rater who "
                 "knows it can recognise it",
    "retrieval": "retrieval copies the impression of another report of the public data set: a rater who knows it "
                 "can recognise it",
}


def tell_warnings(systems: Collection[str], sources: Collection[str]) -> tuple[str, ...]:
    """One warning (with its reason) per system of `systems` that a rater can recognise; sources: the
    cases' Report.source values."""
    public = bool(set(sources) & PUBLIC_SOURCES)
    found = [f"Inherent tell: {ALWAYS[s]}." for s in ALWAYS if s in systems]
    if public:
        found += [f"Inherent tell: {ON_PUBLIC_DATA[s]}." for s in ON_PUBLIC_DATA if s in systems]
    return tuple(found)


def stored_warnings(info: Mapping) -> list[str]:
    """The warnings stored with a study (info: rating.analysis.study_info's dict, or the study config)."""
    config = info.get("config", info) or {}
    return [str(w) for w in config.get(TELLS_KEY, [])]
