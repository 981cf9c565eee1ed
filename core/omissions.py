"""Omission check: which positive findings an impression leaves out, and which it adds.

`check(findings, impression)` labels both texts with `core.clinical` (the 14 CheXpert-style
observations) and compares the clinically significant positive ones, i.e. every observation
except "No Finding" and "Support Devices" (tubes and lines are rarely repeated in an impression).
Uncertain mentions ("possible effusion") count as positive, as in the clinical F1.

* omitted: positive in the findings, not positive in the impression (a more specific child in
  CheXpert's hierarchy counts: "pneumonia" keeps "airspace opacity"); also an observation whose
  side the findings state (left / right / bilateral) when the impression names it only with
  another side ("right effusion" in the findings, "left effusion" in the impression).
* added: positive in the impression, positive nowhere in the findings (pneumonia, consolidation,
  atelectasis or edema read from an opacity or consolidation of the findings are not "added").

`complete(findings, impression)` returns the impression with the findings sentences that carry
the omitted observations put in front of it, most important first, rewritten in impression style
(core.impression_style: "There is a large right pleural effusion, no pneumothorax." -> "A large
right pleural effusion."; XXXX removed or bracketed), and the impression's sentences that deny one
of them, or assert an observation the findings deny, dropped. Pure functions: no torch, no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.chexpert_rules import NO_FINDING, OBSERVATIONS, SUPPORT_DEVICES
from core.cleaning import clean_text, split_sentences
from core.clinical import is_positive, label_report
from core.impression_style import by_importance, impression_style, rewrite_sentence

SIGNIFICANT: tuple[str, ...] = tuple(o for o in OBSERVATIONS if o not in (NO_FINDING, SUPPORT_DEVICES))
"""Observations the check compares, in CheXpert order."""

_SIDE = re.compile(r"\b(left|right|bilateral(?:ly)?|both|bibasilar|bibasal)\b")


@dataclass(frozen=True)
class OmissionCheck:
    """The result of comparing one findings text with one impression."""

    omitted: tuple[str, ...]
    """Significant observations positive in the findings that the impression leaves out (or mis-sides)."""
    added: tuple[str, ...]
    """Significant observations positive in the impression and nowhere in the findings."""
    findings_positive: tuple[str, ...]
    """Every significant observation positive in the findings."""

    @property
    def complete(self) -> bool:
        return not self.omitted


_BENIGN: dict[str, re.Pattern[str]] = {"Lung Lesion": re.compile(r"(?<!non)(?<!non-)calcif|granulom"),
                                        "Pneumonia": re.compile(r"granulomatous")}
"""A sentence whose only reason for an observation is benign (calcified nodules: old granulomas; "prior
granulomatous infection": healed, not pneumonia) does not count."""


def positives(text: str) -> set[str]:
    """Significant observations positive (or uncertain) in `text`, sentence by sentence; calcified
    nodules and granulomas (healed, not reported as findings) do not count as Lung Lesion."""
    out: set[str] = set()
    for sentence in split_sentences(clean_text(text)) or [""]:
        labels = label_report(sentence)
        lowered = sentence.lower()
        out |= {o for o in SIGNIFICANT if is_positive(labels[o])
                and not (o in _BENIGN and _BENIGN[o].search(lowered))}
    return out


def negatives(text: str) -> set[str]:
    """Significant observations that `text` explicitly denies."""
    labels = label_report(clean_text(text))
    return {o for o in SIGNIFICANT if labels[o] == 0}


def _sides(text: str, observation: str) -> set[str]:
    """Sides (left/right/bilateral) stated in the sentences of `text` that are positive for `observation`."""
    out: set[str] = set()
    for sentence in split_sentences(clean_text(text)):
        if observation in positives(sentence):
            for side in _SIDE.findall(sentence.lower()):
                out.add("bilateral" if side.startswith(("bilateral", "bibas")) or side == "both" else side)
    return out


def _wrong_side(findings: str, impression: str, observation: str) -> bool:
    stated = _sides(findings, observation)
    written = _sides(impression, observation)
    return bool(stated and written and not (stated & written))


_COVERS: dict[str, frozenset[str]] = {
    "Lung Opacity": frozenset({"Edema", "Consolidation", "Pneumonia", "Lung Lesion", "Atelectasis"}),
    "Enlarged Cardiomediastinum": frozenset({"Cardiomegaly"}),
}
"""CheXpert's hierarchy: an impression naming a child ("pneumonia") keeps its parent ("airspace opacity")."""
_READ_FROM: dict[str, frozenset[str]] = {o: frozenset({"Lung Opacity", "Consolidation"}) - {o}
                                         for o in ("Pneumonia", "Consolidation", "Atelectasis", "Edema")}
"""What an impression may read from the findings: "pneumonia" from an opacity or consolidation is not added."""


def _misread(findings: str, impression: str, observation: str, found: set[str]) -> bool:
    """True when `observation`, read from other findings (pneumonia from a consolidation), is put on a side
    none of them has ("Bibasilar pneumonia." for "Right lower lobe consolidation.")."""
    sources = _READ_FROM.get(observation, frozenset()) & found
    stated = set().union(*(_sides(findings, o) for o in sources))
    written = _sides(impression, observation)
    return bool(stated and written and not (stated & written))


def check(findings: str, impression: str) -> OmissionCheck:
    """Omitted and added significant observations of `impression` against its `findings`."""
    found = positives(findings)
    said = positives(impression)
    covered = said | {parent for parent, children in _COVERS.items() if said & children}
    omitted = {o for o in found if o not in covered or (o in said and _wrong_side(findings, impression, o))}
    added = {o for o in said - found
             if not (_READ_FROM.get(o, frozenset()) & found) or _misread(findings, impression, o, found)}
    order = SIGNIFICANT.index
    return OmissionCheck(tuple(sorted(omitted, key=order)), tuple(sorted(added, key=order)),
                         tuple(sorted(found, key=order)))


def _carry(sentence: str, missing: set[str]) -> str:
    """A findings sentence carried into the impression: in impression style when the rewrite still states
    what it carries (removing XXXX can move a negation's window), else lightly rewritten."""
    styled = impression_style(sentence)
    return styled if positives(styled) >= positives(sentence) & missing else rewrite_sentence(sentence)


def _says_nothing(sentence: str) -> bool:
    """True when the sentence names no observation at all: a follow-up ("Correlate clinically.",
    "CT thorax for further characterization.") that only means something beside the sentence before it."""
    from core.consistency import normal_scope

    labels = label_report(sentence)
    return all(v is None for o, v in labels.items() if o != NO_FINDING) and normal_scope(sentence) is None


def complete(findings: str, impression: str) -> str:
    """`impression` with the findings sentences of its omitted observations in front (see module doc);
    its sentences that assert an observation the findings deny ("Stable cardiomegaly." for "Heart size
    normal.") or one they never describe and cannot be read from (a mass, a pneumothorax, a
    "multilobar consolidation" beside a pneumothorax) are dropped as well, and so are those that put an
    observation read from the findings on a side none of its sources has ("Bibasilar pneumonia." for a
    right lower lobe consolidation), unless nothing would be left. A follow-up right after a dropped sentence that names no observation of its own
    ("Correlate clinically.", "XXXX thorax for further characterization.") goes with it."""
    result = check(findings, impression)
    found = positives(findings)
    denied = negatives(findings) - found
    missing = set(result.omitted)
    carried = by_importance(_carry(s, missing) for s in split_sentences(clean_text(findings)) if positives(s) & missing)
    sentences = split_sentences(clean_text(impression))
    kept: list[str] = []
    dropped = False
    for s in sentences:
        said = positives(s)
        if (negatives(s) & missing) or (said & denied) or any(_wrong_side(findings, s, o) for o in said & missing) \
                or any(not (_READ_FROM.get(o, frozenset()) & found) or _misread(findings, s, o, found)
                       for o in said - found):  # what `check` counts as added
            dropped = True
        elif dropped and _says_nothing(s):
            continue  # "XXXX thorax for further characterization." after a dropped "Suspected hilar mass."
        else:
            kept.append(s)
            dropped = False
    if not carried and len(kept) == len(sentences):
        return impression
    return " ".join(carried + kept) or impression


def omission_rates(findings: list[str], impressions: list[str]) -> list[dict[str, float]]:
    """Per report: omitted (1 when any significant positive finding is left out), added, and their counts."""
    if len(findings) != len(impressions):
        raise ValueError(f"{len(impressions)} impressions for {len(findings)} findings")
    rows = []
    for f, i in zip(findings, impressions, strict=True):
        r = check(f, i)
        rows.append({"omission_rate": float(bool(r.omitted)), "addition_rate": float(bool(r.added)),
                     "omitted_observations": float(len(r.omitted)), "added_observations": float(len(r.added))})
    return rows


def markdown(result: OmissionCheck) -> str:
    """A short plain summary for the demo (no HTML)."""
    if not result.findings_positive and not result.added:
        return "**Omission check:** the findings state no positive observation the checker knows; nothing to compare."
    lines = ["**Omission check** (rule-based, CheXpert observations):"]
    if result.omitted:
        lines.append("- Missing from the impression: " + ", ".join(result.omitted))
    else:
        lines.append("- Every positive observation of the findings is in the impression: "
                     + (", ".join(result.findings_positive) or "none"))
    if result.added:
        lines.append("- Added by the impression (not in the findings): " + ", ".join(result.added))
    return "\n".join(lines)
