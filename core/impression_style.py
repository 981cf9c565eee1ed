"""Findings sentences rewritten in impression style, for the sentences completion carries over.

A findings sentence reads "There is mild, XXXX opacity projected over the left lung base, no
effusion."; in an impression the same finding reads "Mild opacity projected over the left lung
base." `impression_style` does this:

* no leading "There is/are" (also the typo "There extremely low lung volumes."), no trailing
  "is seen" / "are noted";
* the de-identification mark XXXX removed where it modifies the next word ("XXXX bilateral lower
  lobe opacities") and bracketed as "[redacted]" where a word is missing ("at the left
  costophrenic XXXX.");
* one finding per clause: comma/semicolon clauses that only deny or say "normal" ("no effusion",
  "lungs are clear") are dropped;
* sentence case (first letter upper case, the rest as written), one final period.

`without_deid_marks` does the XXXX part alone for a whole impression (the text the demo shows, which
may be a radiologist's impression of a training report that kept the mark): each sentence with XXXX
gets `remove_deid` when that leaves the clinical labels unchanged and more than one word, else every
mark becomes "[redacted]".

`by_importance` orders carried sentences with the most important observation first (IMPORTANCE:
what a clinician must act on first: pneumothorax before consolidation before a nodule before
cardiomegaly). Pure functions (CheXpert-style labels from core.clinical): no torch, no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from core.chexpert_rules import NO_FINDING, OBSERVATIONS, SUPPORT_DEVICES
from core.cleaning import clean_text
from core.clinical import is_positive, label_report

IMPORTANCE: tuple[str, ...] = (
    "Pneumothorax", "Consolidation", "Pneumonia", "Edema", "Pleural Effusion", "Lung Lesion", "Fracture",
    "Lung Opacity", "Atelectasis", "Cardiomegaly", "Enlarged Cardiomediastinum", "Pleural Other",
)
"""Significant observations, most urgent first (the order of carried sentences)."""
if set(IMPORTANCE) != set(OBSERVATIONS) - {NO_FINDING, SUPPORT_DEVICES}:
    raise ValueError("IMPORTANCE must list every significant observation once")

_LEADING = re.compile(r"^(?:there\s+(?:is|are|has been|have been|was|were)\s+(?:again\s+|now\s+|also\s+|still\s+)?"
                      r"|there\s+(?=[a-z0-9])(?!(?:is|are|has|have|was|were)\b)"
                      r"|again\s+(?:seen|noted|demonstrated)\s+(?:is|are)\s+|redemonstrat(?:ed|ion of)\s+|also\s+)",
                      re.IGNORECASE)
_SEEN = re.compile(r"\s+(?:is|are)\s+(?:again\s+|also\s+)?(?:seen|noted|identified|present|demonstrated|visualized)"
                   r"(?=\s*[.,;]|\s*$)", re.IGNORECASE)
_DEGREE_COMMA = re.compile(r"\b(mild|mildly|minimal|small|moderate|subtle|faint|patchy|streaky),\s*(?=X{2,}\b)",
                           re.IGNORECASE)
_DEID_MODIFIER = re.compile(r"\bX{2,}(?:\s*,)?\s+(?=[A-Za-z0-9(])")
_DEID_WORD = re.compile(r"\bX{2,}\b")
_CLAUSE = re.compile(r"\s*[;,]\s*")


def rewrite_sentence(sentence: str) -> str:
    """The light rewrite: no leading "There is", no trailing "is seen"; sentence case."""
    text = _SEEN.sub("", _LEADING.sub("", sentence.strip()))
    return text[:1].upper() + text[1:] if text else sentence.strip()


def remove_deid(sentence: str) -> str:
    """XXXX removed where it modifies the next word, "[redacted]" where it stands for a word."""
    text = _DEID_MODIFIER.sub("", _DEGREE_COMMA.sub(r"\1 ", sentence))
    text = _DEID_WORD.sub("[redacted]", text)
    text = re.sub(r"\s+([,.;:])", r"\1", re.sub(r",\s*,", ",", text))
    return re.sub(r"\s+", " ", text).strip(" ,")


def without_deid_marks(text: str) -> str:
    """`text` with no XXXX left (see module doc); unchanged when it has none."""
    if not _DEID_WORD.search(text):
        return text
    from core.cleaning import split_sentences

    out = []
    for sentence in split_sentences(clean_text(text)):
        if not _DEID_WORD.search(sentence):
            out.append(sentence)
            continue
        styled = remove_deid(sentence)
        if label_report(styled) != label_report(sentence) or len(styled.split()) < 2:
            styled = re.sub(r"\s+", " ", _DEID_WORD.sub("[redacted]", sentence)).strip()
        out.append(styled[:1].upper() + styled[1:])
    return " ".join(out)


def _significant(labels: dict) -> list[str]:
    return [o for o in IMPORTANCE if is_positive(labels[o])]


def finding_clauses(sentence: str) -> str:
    """`sentence` without its comma/semicolon clauses that only deny or state normal anatomy; the whole
    sentence when no clause states a finding (or nothing would be dropped)."""
    body = sentence.strip().rstrip(".")
    parts = [p for p in _CLAUSE.split(body) if p]
    if len(parts) < 2:
        return sentence.strip()
    keep = []
    for part in parts:
        labels = label_report(part)
        denies = any(labels[o] == 0 for o in OBSERVATIONS if o not in (NO_FINDING, SUPPORT_DEVICES))
        if denies and not _significant(labels):
            continue
        keep.append(part)
    if not keep or len(keep) == len(parts) or not _significant(label_report(" ".join(keep))):
        return sentence.strip()
    return ", ".join(keep) + "."


def impression_style(sentence: str) -> str:
    """A findings sentence in impression style (see module doc)."""
    text = finding_clauses(remove_deid(clean_text(sentence)))
    text = rewrite_sentence(text).strip()
    if not text:
        return clean_text(sentence)
    if text[-1] not in ".!?":
        text += "."
    return text[:1].upper() + text[1:]


def importance(sentence: str) -> int:
    """Rank of the most important significant observation the sentence states (len(IMPORTANCE) if none)."""
    found = _significant(label_report(sentence))
    return IMPORTANCE.index(found[0]) if found else len(IMPORTANCE)


def by_importance(sentences: Iterable[str]) -> list[str]:
    """The sentences, most important observation first (stable for ties)."""
    items: Sequence[str] = list(sentences)
    return sorted(items, key=importance)
