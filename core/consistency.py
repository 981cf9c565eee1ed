"""Consistency check: does an impression contradict itself, or deny what its findings state?

`check(impression, findings)` reads the impression sentence by sentence with the CheXpert-style
labels of `core.clinical` (through `core.omissions.positives`, so calcified granulomas are not
lesions) and reports three kinds of contradiction:

* normal statement: the impression asserts a clinically significant observation (core.omissions.
  SIGNIFICANT; uncertain counts, as everywhere in the project) in one sentence and, in another, a
  whole-study normal statement that is not qualified ("No acute cardiopulmonary abnormality.",
  "Negative chest.", "Normal chest.", "No active disease."). A lung-scoped normal statement ("Clear
  lungs.", "Lungs are clear.", "No acute pulmonary disease.") contradicts only a parenchymal
  observation (opacity, lesion, edema, consolidation, pneumonia, atelectasis): "Cardiomegaly. Clear
  lungs." is fine, "Right lower lobe consolidation. Clear lungs." is not. A statement is qualified,
  and so never flagged, when it says "otherwise", "other", "else", "additional", "further",
  "remaining", "elsewhere" or "new" ("Otherwise, no acute cardiopulmonary abnormality.", "Lungs are
  otherwise clear.", "No new acute abnormality."), or when it shares its sentence with the finding
  ("Stable cardiomegaly without acute cardiopulmonary abnormality.") or with anything else it
  qualifies ("Chronic changes with no acute cardiopulmonary disease.", "Postsurgical changes of
  CABG without acute cardiopulmonary abnormality."; not "Heart normal, lungs clear.").
* denies its own finding: one sentence asserts an observation and another denies it ("Large left
  pneumothorax. ... No pneumothorax.").
* denies the findings: a sentence denies an observation that a findings sentence states
  definitely (label 1, not merely "possible"), e.g. "No pneumothorax." for "Large left
  pneumothorax."; a findings text that itself denies it ("No pneumothorax.") never makes a conflict.

For both denials, a denial is not a contradiction when it names only another side ("Small right
effusion. No left effusion."), when it is qualified as above ("No other effusion.") or limited in
size or kind ("No large effusion.", "No focal consolidation." after "Patchy bibasilar opacity.").

Where this check is deliberately narrow (a radiologist might still object): an impression that
states nothing abnormal while the findings do is an omission (core.omissions), not a contradiction;
"No acute ..." after a chronic finding ("Stable cardiomegaly. No acute cardiopulmonary disease.")
is flagged, as the project's measure counts it (the unqualified form reads "normal" to a clinician
who reads only the last sentence); "Otherwise, ..." is the fix.

`make_consistent(impression, findings)` is the repair used by rerank and completion: a flagged
normal statement moves after the findings and is qualified ("No acute disease." -> "Otherwise, no
acute disease."; "Negative chest." -> "Otherwise negative chest."; "Normal chest." -> "Otherwise
normal chest."; anything else -> "Otherwise, no acute cardiopulmonary abnormality."; "Clear lungs."
-> "Lungs otherwise clear.", dropped when a whole-study statement follows), and a sentence
that denies a stated finding is dropped (unless nothing would be left).

Pure functions: no torch, no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.cleaning import clean_text, split_sentences
from core.clinical import label_report
from core.omissions import SIGNIFICANT, positives

PARENCHYMAL: frozenset[str] = frozenset({"Lung Lesion", "Lung Opacity", "Edema", "Consolidation", "Pneumonia",
                                         "Atelectasis"})
"""Observations a lung-scoped normal statement ("Clear lungs.") contradicts."""

NORMAL_STUDY = "normal statement"
DENIES_OWN = "denies its own finding"
DENIES_FINDINGS = "denies the findings"
KINDS: tuple[str, ...] = (NORMAL_STUDY, DENIES_OWN, DENIES_FINDINGS)
"""The kinds of contradiction, in display order."""

OTHERWISE_NORMAL = "Otherwise, no acute cardiopulmonary abnormality."
"""The qualified whole-study normal statement `make_consistent` writes after the findings."""
CHRONIC_BESIDE: frozenset[str] = frozenset({"Cardiomegaly", "Enlarged Cardiomediastinum"})
"""Findings beside which a normal statement with a subject of its own ("Chronic changes with no acute disease.",
"Stable cardiomegaly without acute disease.") is no contradiction. Beside any other finding stated elsewhere
("... effusion suggestive of infection. Stable cardiomegaly without acute cardiopulmonary abnormality.") the
statement still reads "normal" for the rest, and is flagged."""

_QUALIFIED = re.compile(r"\b(?:otherwise|other|else|additional|further|remaining|remainder|elsewhere|new|newly)\b")
_LIMITED = re.compile(r"\b(?:large|larger|significant|sizable|sizeable|substantial|focal|lobar|confluent|gross"
                      r"|overt|frank|displaced|acute|tension|definite|definitive|convincing|moderate|dense)\b")
_SIDE = re.compile(r"\b(left|right|bilateral(?:ly)?|both|bibasilar|bibasal)\b")

_NEG = r"(?:no|not|without|negative\s+for|free\s+of|absence\s+of)"
_EVIDENCE = (r"(?:(?:radiographic|visible|visualized|x-xxxx|xxxx|definite|convincing|apparent|obvious|evidence|signs?"
             r"|of|for|an?|any|findings?\s+of)\s+)*")
_ACUTE = r"(?:acute|active|acute\s+or\s+active|active\s+or\s+acute|acute/active|active/acute|acute,\s+active)"
_REGION = (r"(?:(?:radiographic|cardiopulmonary|cardiothoracic|intrathoracic|thoracic|chest|cardiac|pulmonary"
           r"|pleural|lung|or|and|,|/|x-xxxx|xxxx)\s*)*")
_NOUN = r"(?:abnormalit(?:y|ies)|disease|findings?|process(?:es)?|patholog(?:y|ies)|changes?|issues?)\b"
_STUDY_PATTERNS = (
    re.compile(rf"\b{_NEG}\s+{_EVIDENCE}{_ACUTE}\s+(?P<region>{_REGION}){_NOUN}"),
    re.compile(rf"\b{_NEG}\s+{_EVIDENCE}(?P<region>(?:cardiopulmonary|cardiothoracic|intrathoracic)\s+){_NOUN}"),
    re.compile(r"^(?:the\s+)?(?:chest\s+(?:x-xxxx\s+|radiograph\s+|film\s+)?(?:is\s+)?)?negative"
               r"(?:\s+(?:chest|preoperative|exam|examination|study|x-xxxx|radiographs?|films?|two-view|pa|and|lateral))*\W*$"),
    re.compile(r"^(?:the\s+)?(?:a\s+)?normal\s+(?:\w+\s+)?(?:chest|study|exam|examination|radiographs?|films?)\b"),
    re.compile(r"^(?:an?\s+)?unremarkable\s+(?:\w+\s+){0,3}(?:chest|study|exam|examination|radiographs?|films?)\b"),
    re.compile(r"^(?:chest|study|exam|examination|radiographs?|films?)(?:\s+\w+){0,2}\s+(?:is\s+|are\s+)?"
               r"(?:normal|unremarkable|negative)\W*$"),
)
_LUNG_PATTERNS = (
    re.compile(r"\bclear\s+lungs?\b"),
    re.compile(r"\blungs?\s+(?:fields?\s+)?(?:are\s+|is\s+|remain\s+|appear\s+)?(?:[\w-]+\s+){0,3}clear\b"),
    re.compile(r"\blungs?\s+(?:are\s+)?(?:grossly\s+)?(?:normal|unremarkable)\b"),
)
_NOT_WHOLE = re.compile(r"\b(?:osseous|bony|bone|skeletal|traumatic|fractures?|abdominal|spine|spinal|soft\s+tissue)\b")


@dataclass(frozen=True)
class Contradiction:
    """One contradiction found in an impression."""

    kind: str
    """NORMAL_STUDY, DENIES_OWN or DENIES_FINDINGS."""
    observations: tuple[str, ...]
    """The significant observations concerned (CheXpert order): those a normal statement contradicts,
    or the one a denial denies."""
    sentence: str
    """The impression sentence at fault: the normal statement, or the denial."""


@dataclass(frozen=True)
class ConsistencyCheck:
    """The result of checking one impression (and optionally its findings)."""

    contradictions: tuple[Contradiction, ...]
    """Every contradiction, in sentence order."""
    asserted: tuple[str, ...]
    """Significant observations the impression asserts (CheXpert order)."""

    @property
    def consistent(self) -> bool:
        return not self.contradictions

    @property
    def sentences(self) -> tuple[str, ...]:
        """The impression sentences at fault, each once, in order."""
        return tuple(dict.fromkeys(c.sentence for c in self.contradictions))


_LEAD_IN = re.compile(r"^(?:(?:impression|chest|conclusion|findings)\s*:\s*|there\s+(?:is|are)\s+|the\s+"
                      r"|(?:again|still|specifically|currently|overall|stable)\s*,?\s+)+")
_NOT_A_SUBJECT = re.compile(r"\b(?:no|not|normal|clear|negative|unremarkable|without|within)\b")


def _normal_match(sentence: str) -> tuple[str | None, str]:
    """(scope, subject): the scope of the sentence's normal statement ("study", "lungs" or None) and the
    words before it when they name something else ("Chronic changes" in "Chronic changes with no acute
    disease."), which qualify the statement as "otherwise"."""
    low = " ".join(clean_text(sentence).lower().split())
    low = _LEAD_IN.sub("", low)
    for pattern in _STUDY_PATTERNS:
        m = pattern.search(low)
        if m is None:
            continue
        region = m.groupdict().get("region") or ""
        if _NOT_WHOLE.search(low[: m.end()]):
            return None, ""
        words = set(re.findall(r"[a-z]+", region)) - {"or", "and", "radiographic", "xxxx", "x"}
        if words and words <= {"cardiac"}:
            return None, ""
        return ("lungs" if words and words <= {"pulmonary", "lung"} else "study"), _subject(low[: m.start()])
    for pattern in _LUNG_PATTERNS:
        m = pattern.search(low)
        if m is not None:
            return "lungs", _subject(low[: m.start()])
    return None, ""


def _subject(leading: str) -> str:
    leading = leading.strip(" ,;:-")
    return "" if not leading or _NOT_A_SUBJECT.search(leading) else leading


def normal_scope(sentence: str) -> str | None:
    """"study" for a whole-study normal statement, "lungs" for a lung-scoped one, else None.

    Qualification and shared findings are not looked at here (see `check`)."""
    return _normal_match(sentence)[0]


def _sentences(text: str) -> list[str]:
    return split_sentences(clean_text(text))


def _sides(sentence: str) -> set[str]:
    out = set()
    for side in _SIDE.findall(sentence.lower()):
        out.add("bilateral" if side.startswith(("bilateral", "both", "bibas")) else side)
    return out


def _definite(sentence: str) -> set[str]:
    labels = label_report(sentence)
    return {o for o in positives(sentence) if labels[o] == 1}


def _denied(sentence: str) -> set[str]:
    """Significant observations the sentence denies without qualifying or limiting the denial."""
    low = sentence.lower()
    if _QUALIFIED.search(low) or _LIMITED.search(low):
        return set()
    labels = label_report(sentence)
    return {o for o in SIGNIFICANT if labels[o] == 0}


def _other_side(denial: str, assertions: list[str]) -> bool:
    """True when the denial names sides and every asserting sentence names only other sides."""
    denied_sides = _sides(denial)
    if not denied_sides or "bilateral" in denied_sides:
        return False
    stated = [_sides(s) for s in assertions]
    return all(sides and not (sides & denied_sides) and "bilateral" not in sides for sides in stated)


def check(impression: str, findings: str | None = None) -> ConsistencyCheck:
    """Contradictions of `impression` (see module doc); `findings` adds the denials of stated findings."""
    sentences = _sentences(impression)
    asserting = [positives(s) for s in sentences]
    asserted = set().union(*asserting) if asserting else set()
    out: list[Contradiction] = []
    finding_sentences = _sentences(findings) if findings else []
    stated = [_definite(s) for s in finding_sentences]
    order = SIGNIFICANT.index
    for i, sentence in enumerate(sentences):
        others = set().union(*(a for j, a in enumerate(asserting) if j != i)) - asserting[i]
        scope, subject = _normal_match(sentence)
        if scope and not _QUALIFIED.search(sentence.lower()):
            hit = others if scope == "study" else others & PARENCHYMAL
            if (subject or asserting[i]) and hit <= CHRONIC_BESIDE:
                hit = set()  # "Stable cardiomegaly. Chronic changes with no acute disease." speaks for its subject
            if hit:
                out.append(Contradiction(NORMAL_STUDY, tuple(sorted(hit, key=order)), sentence))
                continue
        for o in sorted(_denied(sentence), key=order):
            own = [s for j, s in enumerate(sentences) if j != i and o in asserting[j]]
            if own and not _other_side(sentence, own):
                out.append(Contradiction(DENIES_OWN, (o,), sentence))
                break
            theirs = [s for s, definite in zip(finding_sentences, stated, strict=True) if o in definite]
            if theirs and not _other_side(sentence, theirs):
                out.append(Contradiction(DENIES_FINDINGS, (o,), sentence))
                break
    return ConsistencyCheck(tuple(out), tuple(sorted(asserted, key=order)))


def contradiction_rates(findings: list[str], impressions: list[str]) -> list[dict[str, float]]:
    """Per report: contradiction_rate (1 when the impression has any contradiction) and the count."""
    if len(findings) != len(impressions):
        raise ValueError(f"{len(impressions)} impressions for {len(findings)} findings")
    rows = []
    for f, i in zip(findings, impressions, strict=True):
        r = check(i, f)
        rows.append({"contradiction_rate": float(not r.consistent), "contradictions": float(len(r.contradictions))})
    return rows


def qualify(sentence: str) -> str:
    """A normal statement qualified by "otherwise" (see `make_consistent`)."""
    text = clean_text(sentence).rstrip(" .")
    low = text.lower()
    if normal_scope(text) == "lungs" and re.search(r"\bclear\b", low):
        return "Lungs otherwise clear."
    m = re.match(r"(?:there\s+is\s+)?(no|negative\s+for)\b", low)
    if m:
        return f"Otherwise, {low[m.start(1):m.start(1) + 1]}{text[m.start(1) + 1:]}."
    if re.match(r"(?:negative|normal|unremarkable)\b", low):
        return f"Otherwise {low[:1]}{text[1:]}."
    return OTHERWISE_NORMAL


_CONNECTOR = re.compile(r"(?:[\s,;:-]+|\s+(?:with|but|and|yet|though|however))+$", re.IGNORECASE)


def split_normal(sentence: str) -> tuple[str, str]:
    """(the words before the sentence's normal statement as a sentence of their own, or "";
    the normal statement): "Stable cardiomegaly without acute disease." -> ("Stable cardiomegaly.",
    "without acute disease")."""
    text = " ".join(clean_text(sentence).split()).rstrip(" .")
    low = text.lower()
    for pattern in (*_STUDY_PATTERNS, *_LUNG_PATTERNS):
        m = pattern.search(low)
        if m is not None and m.start() > 0:
            leading = _CONNECTOR.sub("", text[: m.start()])
            if leading:
                return f"{leading[:1].upper()}{leading[1:]}.", text[m.start():]
    return "", sentence


def make_consistent(impression: str, findings: str | None = None) -> str:
    """`impression` without its contradictions (see module doc); unchanged when it has none."""
    result = check(impression, findings)
    if result.consistent:
        return impression
    at_fault = {c.sentence: c for c in result.contradictions}
    kept: list[str] = []
    normal: list[str] = []
    for sentence in _sentences(impression):
        c = at_fault.get(sentence)
        if c is None:
            kept.append(sentence)
        elif c.kind == NORMAL_STUDY:
            leading, statement = split_normal(sentence)
            if leading:
                kept.append(leading)
            normal.append(statement)
    if not kept:
        return impression
    study = [s for s in normal if normal_scope(s) == "study"]
    tail = [qualify(s) for s in (study[-1:] if study else normal[-1:])]
    return " ".join(kept + tail)


def markdown(result: ConsistencyCheck) -> str:
    """A short plain summary for the demo (no HTML)."""
    if result.consistent:
        return "**Consistency check:** no contradiction found (no unqualified normal statement beside a finding, no denied finding)."
    lines = ["**Consistency check** (rule-based): the impression contradicts itself or the findings:"]
    for c in result.contradictions:
        lines.append(f'- {c.kind} ({", ".join(c.observations)}): "{c.sentence}"')
    return "\n".join(lines)


def complete_consistently(findings: str, impression: str, rounds: int = 3) -> str:
    """`impression` completed with the omitted findings (core.omissions.complete, carried sentences in
    impression style, most important first) and freed of contradictions (`make_consistent`), repeated
    until nothing changes (a dropped denial may take a finding with it, which the next round carries)."""
    from core.omissions import complete

    text = impression
    for _ in range(rounds):
        new = drop_restatements(make_consistent(complete(findings, text), findings))
        if new == text:
            break
        text = new
    return text


def repair(findings: str, impression: str) -> str:
    """What a visitor reads: `complete_consistently`, then no de-identification mark left
    (core.impression_style.without_deid_marks). The rerank's answer and a baseline standing in for the
    model (demo.service) both go through it."""
    from core.impression_style import without_deid_marks

    return without_deid_marks(complete_consistently(findings, impression))


def _words(sentence: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", sentence.lower())


_NEGATING = frozenset({"no", "not", "without", "negative", "free", "resolved", "absent", "removed"})


def _within(short: list[str], long: list[str]) -> bool:
    """Every word of `short`, in order, in `long` (a subsequence), and `long` negates nothing `short` does not
    ("Effusion." is no restatement of "No effusion.")."""
    if (set(long) & _NEGATING) - set(short):
        return False
    it = iter(long)
    return all(word in it for word in short)


def drop_restatements(impression: str) -> str:
    """`impression` without a sentence that an earlier one already says word for word, in order ("Large right
    pleural effusion with adjacent atelectasis. Large right pleural effusion." keeps the first sentence):
    completion puts the findings' sentence in front of a chosen text that may state the same finding."""
    sentences = _sentences(impression)
    kept: list[str] = []
    for sentence in sentences:
        words = _words(sentence)
        if words and any(_within(words, _words(earlier)) for earlier in kept):
            continue
        kept.append(sentence)
    return impression if len(kept) == len(sentences) else " ".join(kept)
