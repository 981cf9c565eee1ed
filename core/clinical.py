"""Clinical agreement without model weights: CheXpert-style labels and finding-level F1.

`label_report(text)` labels the 14 CheXpert observations of one report with the rules in
`core.chexpert_rules` (1 positive, 0 negative, -1 uncertain, None not mentioned).

The metric compares a generated impression with its reference impression, observation by
observation. Conventions (state them with any number reported):

* A label counts as a positive finding when it is 1, and also when it is -1 (uncertain) unless
  `uncertain_as_positive=False` ("uncertain as positive", the common CheXbert convention).
  0 and None count alike (not positive).
* For one observation: TP when both texts are positive, FP when only the prediction is, FN when
  only the reference is. Both negative/unmentioned adds nothing.
* "All 14" includes No Finding (1 when nothing but Support Devices is positive or uncertain), so
  two normal impressions agree with a TP. "top5" uses only Atelectasis, Cardiomegaly,
  Consolidation, Edema and Pleural Effusion.
* Micro F1 = 2·TP / (2·TP + FP + FN) over the counts summed across observations (and, at corpus
  level, across reports). Macro F1 = the mean of per-observation F1 over the observations with any
  positive in either text (corpus level: in any report); observations positive nowhere are left
  out rather than scored 0.
* When nothing is positive on either side, both texts agree that no finding is present: the
  score is 1.0 (this happens often for top5 on normal reports; report the corpus values, which
  pool counts, beside per-report means).
* Per report, macro F1 reduces to TP / (TP + FP + FN) over the observations in play.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from core import chexpert_rules as rules
from core.cleaning import clean_text

OBSERVATIONS = rules.OBSERVATIONS
TOP5 = rules.TOP5
Labels = dict[str, "int | None"]

COLUMNS: tuple[str, ...] = ("chexpert_micro_f1", "chexpert_macro_f1", "chexpert_micro_f1_top5", "chexpert_macro_f1_top5")
"""Column names of the per-report and corpus scores, in display order."""
HEADERS: dict[str, str] = {
    "chexpert_micro_f1": "CX µF1-14",
    "chexpert_macro_f1": "CX MF1-14",
    "chexpert_micro_f1_top5": "CX µF1-5",
    "chexpert_macro_f1_top5": "CX MF1-5",
}

# ------------------------------------------------------------------ compiled rules

_PRIORITY = {1: 3, -1: 2, 0: 1}
_SENTENCE_END = re.compile(r"(?<!\bvs)(?<!\bdr)[.!?](?=\s|$)|[;:\n]")
_WORD = re.compile(r"[\w'/]+")
_COMMA = re.compile(r",")

_TRIGGER_KINDS: dict[str, str] = {}
for _kind, _phrases in (("pseudo", rules.PSEUDO_TRIGGERS), ("pre_neg", rules.PRE_NEGATION),
                        ("post_neg", rules.POST_NEGATION), ("pre_unc", rules.PRE_UNCERTAINTY),
                        ("post_unc", rules.POST_UNCERTAINTY), ("two_sided", rules.TWO_SIDED_UNCERTAINTY),
                        ("term", rules.SCOPE_TERMINATORS)):
    for _phrase in _phrases:
        _key = " ".join(_phrase.split())
        if _key in _TRIGGER_KINDS and _TRIGGER_KINDS[_key] != _kind:
            raise ValueError(f"trigger {_phrase!r} is listed as both {_TRIGGER_KINDS[_key]} and {_kind}")
        _TRIGGER_KINDS[_key] = _kind

# Longest phrases first, so "cannot be excluded" wins over "not" and "not seen" over "not".
_TRIGGER_RE = re.compile(
    r"(?<![\w/'])(?:" + "|".join(r"\s+".join(re.escape(w) for w in p.split())
                                 for p in sorted(_TRIGGER_KINDS, key=len, reverse=True)) + r")(?![\w/'])")

_TWO_SIDED_WINDOWS: dict[str, int] = {" ".join(p.split()): w for p, w in rules.TWO_SIDED_UNCERTAINTY.items()}

_MENTIONS: list[tuple[str, tuple[str, ...], list[tuple[re.Pattern[str], int]]]] = [
    (obs, rules.KEYWORDS[obs], [(re.compile(pattern), base) for pattern, base in entries])
    for obs, entries in rules.MENTIONS.items()
]
_unknown = set(rules.MENTIONS) - set(OBSERVATIONS)
if _unknown:
    raise ValueError(f"mention rules for unknown observations: {sorted(_unknown)}")


@dataclass(frozen=True)
class _Trigger:
    start: int
    end: int
    kind: str
    clause: int
    window: int = 0


class _Context:
    """Positions of clause boundaries, words, commas and triggers in one lower-cased text."""

    def __init__(self, text: str) -> None:
        self.words = [m.start() for m in _WORD.finditer(text)]
        self.commas = [m.start() for m in _COMMA.finditer(text)]
        bounds = [m.start() for m in _SENTENCE_END.finditer(text)]
        found = [(m.start(), m.end(), _TRIGGER_KINDS[" ".join(m.group().split())]) for m in _TRIGGER_RE.finditer(text)]
        bounds.extend(start for start, _, kind in found if kind == "term")
        bounds.sort()
        self.bounds = bounds
        self.triggers = [_Trigger(s, e, k, self.clause(s), _TWO_SIDED_WINDOWS.get(" ".join(text[s:e].split()), 0))
                         for s, e, k in found if k not in ("term", "pseudo")]

    def clause(self, pos: int) -> int:
        return bisect.bisect_right(self.bounds, pos)

    def word_index(self, pos: int) -> int:
        return bisect.bisect_left(self.words, pos)

    def comma_between(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_left(self.commas, lo)
        return i < len(self.commas) and self.commas[i] < hi

    def status(self, start: int, end: int) -> int:
        """1, 0 or -1 for a finding mention spanning text[start:end]."""
        clause = self.clause(start)
        pre = post = two = None
        for t in self.triggers:
            if t.clause != clause:
                continue
            if t.kind in ("pre_neg", "pre_unc"):
                if t.end <= end and t.start < end and self.word_index(start) - self.word_index(t.end) <= rules.PRE_WINDOW:
                    if pre is None or t.start > pre.start:
                        pre = t
            elif t.kind in ("post_neg", "post_unc"):
                if t.start >= end and self.word_index(t.start) - self.word_index(end) <= rules.POST_WINDOW \
                        and not self.comma_between(end, t.start):
                    if post is None or t.start < post.start:
                        post = t
            elif t.kind == "two_sided" and two is None:
                if t.start >= end:
                    gap, lo, hi = self.word_index(t.start) - self.word_index(end), end, t.start
                elif t.end <= start:
                    gap, lo, hi = self.word_index(start) - self.word_index(t.end), t.end, start
                else:
                    continue
                if gap <= t.window and not self.comma_between(lo, hi) \
                        and not any(lo <= o.start < hi for o in self.triggers if o is not t):
                    two = t
        chosen = pre or post
        if chosen is not None:
            return 0 if chosen.kind.endswith("neg") else -1
        return -1 if two is not None else 1


def _scan(text: str, gated: bool = True) -> tuple:
    """Labels of one text; `gated=False` ignores the keyword gate (for checking it)."""
    lowered = text.lower()
    if not lowered.strip():
        return tuple(None for _ in OBSERVATIONS)
    ctx: _Context | None = None
    best: dict[str, int] = {}
    for obs, keywords, patterns in _MENTIONS:
        if gated and not any(k in lowered for k in keywords):
            continue
        for pattern, base in patterns:
            for m in pattern.finditer(lowered):
                if base == 1:
                    ctx = ctx or _Context(lowered)
                    value = ctx.status(m.start(), m.end())
                else:
                    value = base
                current = best.get(obs)
                if current is None or _PRIORITY[value] > _PRIORITY[current]:
                    best[obs] = value
    if not any(best.get(o) in (1, -1) for o in OBSERVATIONS if o not in (rules.NO_FINDING, rules.SUPPORT_DEVICES)):
        best[rules.NO_FINDING] = 1
    return tuple(best.get(o) for o in OBSERVATIONS)


@lru_cache(maxsize=65536)
def _label_tuple(text: str) -> tuple:
    return _scan(text)


def label_report(text: str | None) -> dict[str, int | None]:
    """The 14 CheXpert observations of one report: 1, 0, -1 or None (not mentioned)."""
    if text is not None and not isinstance(text, str):
        raise TypeError(f"report text must be a string, not {type(text).__name__}")
    return dict(zip(OBSERVATIONS, _label_tuple(text or ""), strict=True))


def clear_label_cache() -> None:
    """Forget memoised labels (labels of repeated texts are cached; benchmarks start cold)."""
    _label_tuple.cache_clear()


def label_reports(texts: Iterable[str | None]) -> list[dict[str, int | None]]:
    """`label_report` for each text, in order."""
    return [label_report(t) for t in texts]


# ------------------------------------------------------------------ agreement metric

def is_positive(value: int | None, uncertain_as_positive: bool = True) -> bool:
    return value == 1 or (uncertain_as_positive and value == -1)


@dataclass
class FindingCounts:
    """True positives, false positives and false negatives per observation."""

    tp: dict[str, int]
    fp: dict[str, int]
    fn: dict[str, int]

    @classmethod
    def empty(cls) -> "FindingCounts":
        return cls({o: 0 for o in OBSERVATIONS}, {o: 0 for o in OBSERVATIONS}, {o: 0 for o in OBSERVATIONS})

    def add(self, predicted: Labels, reference: Labels, uncertain_as_positive: bool = True) -> "FindingCounts":
        for o in OBSERVATIONS:
            p = is_positive(predicted.get(o), uncertain_as_positive)
            r = is_positive(reference.get(o), uncertain_as_positive)
            self.tp[o] += p and r
            self.fp[o] += p and not r
            self.fn[o] += r and not p
        return self

    def micro_f1(self, observations: Sequence[str] = OBSERVATIONS) -> float:
        tp = sum(self.tp[o] for o in observations)
        fp = sum(self.fp[o] for o in observations)
        fn = sum(self.fn[o] for o in observations)
        return _f1(tp, fp, fn)

    def f1(self, observation: str) -> float:
        """F1 of one observation; NaN when it is positive nowhere."""
        tp, fp, fn = self.tp[observation], self.fp[observation], self.fn[observation]
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")

    def macro_f1(self, observations: Sequence[str] = OBSERVATIONS) -> float:
        values = [self.f1(o) for o in observations if self.tp[o] + self.fp[o] + self.fn[o]]
        return sum(values) / len(values) if values else 1.0

    def scores(self) -> dict[str, float]:
        return {
            "chexpert_micro_f1": self.micro_f1(OBSERVATIONS),
            "chexpert_macro_f1": self.macro_f1(OBSERVATIONS),
            "chexpert_micro_f1_top5": self.micro_f1(TOP5),
            "chexpert_macro_f1_top5": self.macro_f1(TOP5),
        }


def _f1(tp: int, fp: int, fn: int) -> float:
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 1.0


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")


def report_scores(prediction: str, reference: str, remove_deid: bool = False,
                  uncertain_as_positive: bool = True) -> dict[str, float]:
    """The COLUMNS for one generated impression against its reference."""
    counts = FindingCounts.empty().add(label_report(clean_text(prediction, remove_deid)),
                                       label_report(clean_text(reference, remove_deid)), uncertain_as_positive)
    return counts.scores()


def per_report_scores(predictions: Sequence[str], references: Sequence[str], remove_deid: bool = False,
                      uncertain_as_positive: bool = True) -> list[dict[str, float]]:
    """`report_scores` for each (prediction, reference) pair: one dict of COLUMNS per report."""
    _check_lengths(predictions, references)
    return [report_scores(p, r, remove_deid, uncertain_as_positive) for p, r in zip(predictions, references, strict=True)]


def corpus_counts(predictions: Sequence[str], references: Sequence[str], remove_deid: bool = False,
                  uncertain_as_positive: bool = True) -> FindingCounts:
    """TP/FP/FN per observation summed over all reports of one system."""
    _check_lengths(predictions, references)
    counts = FindingCounts.empty()
    for p, r in zip(predictions, references, strict=True):
        counts.add(label_report(clean_text(p, remove_deid)), label_report(clean_text(r, remove_deid)),
                   uncertain_as_positive)
    return counts


def corpus_scores(predictions: Sequence[str], references: Sequence[str], remove_deid: bool = False,
                  uncertain_as_positive: bool = True) -> dict[str, float]:
    """System-level COLUMNS from pooled counts (the standard way CheXbert F1 is reported)."""
    return corpus_counts(predictions, references, remove_deid, uncertain_as_positive).scores()


def per_observation_f1(predictions: Sequence[str], references: Sequence[str], remove_deid: bool = False,
                       uncertain_as_positive: bool = True) -> dict[str, float]:
    """Corpus F1 of each observation (NaN where it is positive in neither texts)."""
    counts = corpus_counts(predictions, references, remove_deid, uncertain_as_positive)
    return {o: counts.f1(o) for o in OBSERVATIONS}


def clinical_per_report(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    """`per_report_scores` with the "chexpert_" prefix dropped, for callers that add their own prefix
    (rating.analysis prefixes "chexpert_", giving back exactly COLUMNS)."""
    prefix = "chexpert_"
    return [{k[len(prefix):]: v for k, v in row.items()} for row in per_report_scores(predictions, references)]
