"""Gold (attention) cases: a case with a planted text and a known answer, mixed into every queue.

    --gold FILE   CSV with columns case_id, planted_text, expected

case_id names a report of the data file (its findings are shown); planted_text replaces the output
of one system of that case, drawn with `secrets` (so the case looks like any other: same number of
candidates, same layout); expected says what a careful rater marks on the planted text:

    "significant error in category b"   a clinically significant error of category (b) missed finding
    "insignificant error in category a" a clinically insignificant error of category (a)
    "error in category c"               an error of category (c), either significance
    "significant error"                 a clinically significant error, any category
    "error"                             any error
    "no error"                          nothing to mark

Categories may be given by letter (a-f, ReXVal's order) or by name (missed_finding). Gold cases go
to every rater, at random places among their own cases; they are never part of Figure 4, the
comparisons or any protocol summary; each rater's accuracy on them is reported, and the PI can
leave out raters below an accuracy (rating.export --min-gold-accuracy) or by pseudonym.

A rater's answer on the planted text is correct when, per protocol:
- errors: an error of the expected category/significance is counted (no error: every count 0);
- likert: the "clinically significant error" flag is set (or, for an insignificant or any error,
  the flag or a clinical utility of 2 or less); no error: no flag and clinical utility 3 or more;
- pairwise: the planted text is marked as holding an error in every pair it is in (no error: in none).
"""
from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.protocol_scales import CATEGORY_LETTERS, ERROR_CATEGORIES

MAX_GOLD_CASES = 200
_EXPECTED = re.compile(r"^(?:(?P<no>no error)|(?:(?P<sig>clinically significant|significant|insignificant|"
                       r"clinically insignificant|not significant)\s+)?error(?:\s+in\s+category\s+(?P<cat>\w+))?)$")


class GoldFileError(ValueError):
    """The gold file cannot be used; the message names the row and the problem."""


@dataclass(frozen=True)
class GoldSpec:
    """One gold case as read from the file."""

    case_id: str
    """Id of the report in the data file whose findings are shown."""
    planted_text: str
    """The impression shown in place of one system's output."""
    expected: dict
    """{"text": as written, "kind": "error" | "no_error", "clinically_significant": bool | None,
    "category": one of ERROR_CATEGORIES | None}."""


def parse_expected(text: str) -> dict:
    """'significant error in category b' -> {"kind": "error", "clinically_significant": True, ...}."""
    clean = " ".join(str(text).strip().lower().split())
    m = _EXPECTED.match(clean)
    if not m:
        raise GoldFileError(f"cannot read the expected answer {text[:60]!r}: write e.g. 'significant error in "
                            f"category b', 'error in category a', 'significant error' or 'no error'")
    if m.group("no"):
        return {"text": text.strip(), "kind": "no_error", "clinically_significant": None, "category": None}
    sig = m.group("sig")
    category = m.group("cat")
    if category is not None:
        category = CATEGORY_LETTERS.get(category, category)
        if category not in ERROR_CATEGORIES:
            raise GoldFileError(f"unknown error category {m.group('cat')!r} in {text[:60]!r}: use a-f or "
                                f"{', '.join(ERROR_CATEGORIES)}")
    return {"text": text.strip(), "kind": "error", "category": category,
            "clinically_significant": None if sig is None else not ("insignificant" in sig or "not" in sig)}


def read_gold_file(path: str | Path) -> list[GoldSpec]:
    """The gold cases of a CSV file (UTF-8, header case_id, planted_text, expected); GoldFileError otherwise."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
            header = set(rows[0]) if rows else set()
    except (UnicodeDecodeError, csv.Error) as exc:
        raise GoldFileError(f"{path.name}: not a readable UTF-8 CSV file ({exc})") from None
    missing = {"case_id", "planted_text", "expected"} - header
    if not rows or missing:
        raise GoldFileError(f"{path.name}: needs a header row with case_id, planted_text, expected "
                            f"and at least one row (missing column: {', '.join(sorted(missing)) or 'none'})")
    if len(rows) > MAX_GOLD_CASES:
        raise GoldFileError(f"{path.name}: {len(rows)} gold cases; at most {MAX_GOLD_CASES}")
    specs, seen = [], set()
    for i, row in enumerate(rows, start=2):
        case_id, text = (row.get("case_id") or "").strip(), (row.get("planted_text") or "").strip()
        if not case_id or not text:
            raise GoldFileError(f"{path.name} line {i}: case_id and planted_text must not be empty")
        if case_id in seen:
            raise GoldFileError(f"{path.name} line {i}: case {case_id!r} is listed twice")
        seen.add(case_id)
        try:
            expected = parse_expected(row.get("expected") or "")
        except GoldFileError as exc:
            raise GoldFileError(f"{path.name} line {i}: {exc}") from None
        specs.append(GoldSpec(case_id=case_id, planted_text=text, expected=expected))
    return specs


# --- judging --------------------------------------------------------------------------------

def _errors_correct(counts: pd.DataFrame, expected: Mapping) -> bool:
    """counts: this rater's error counts of the planted text (category, clinically_significant, count)."""
    marked = counts[counts["count"] > 0]
    if expected["kind"] == "no_error":
        return marked.empty
    if expected.get("category"):
        marked = marked[marked["category"] == expected["category"]]
    if expected.get("clinically_significant") is not None:
        marked = marked[marked["clinically_significant"] == expected["clinically_significant"]]
    return not marked.empty


def _likert_correct(row: Mapping, expected: Mapping) -> bool:
    flagged, utility = bool(row["significant_error"]), int(row["clinical_utility"])
    if expected["kind"] == "no_error":
        return not flagged and utility >= 3
    if expected.get("clinically_significant") is True:
        return flagged
    return flagged or utility <= 2


def gold_answers(gold: pd.DataFrame, likert: pd.DataFrame, errors: pd.DataFrame, harm: pd.DataFrame) -> pd.DataFrame:
    """One row per (rater, gold case, protocol) answered: rater, case_id, protocol, expected, correct.

    gold: case_id, output_id, expected (dict); likert: ratings with output_id; errors: the tidy errors
    table with output_id; harm: the tidy harm table with output_id (the text judged).
    """
    rows = []
    for g in gold.itertuples(index=False):
        exp = g.expected
        if not likert.empty:
            for r in likert[likert["output_id"] == g.output_id].to_dict("records"):
                rows.append([r["rater"], g.case_id, "likert", exp["text"], _likert_correct(r, exp)])
        if not errors.empty:
            for (rater, _rid), part in errors[errors["output_id"] == g.output_id].groupby(["rater", "rating_id"]):
                rows.append([rater, g.case_id, "errors", exp["text"], _errors_correct(part, exp)])
        if not harm.empty:
            for rater, part in harm[harm["output_id"] == g.output_id].groupby("rater"):
                marked = part["error_marked"].astype(bool)
                ok = bool(marked.all()) if exp["kind"] == "error" else not bool(marked.any())
                rows.append([rater, g.case_id, "pairwise", exp["text"], ok])
    return pd.DataFrame(rows, columns=["rater", "case_id", "protocol", "expected", "correct"])


def gold_accuracy(answers: pd.DataFrame, raters: Sequence[str], min_accuracy: float | None = None) -> pd.DataFrame:
    """Per rater: gold answers given, correct, accuracy, and whether they pass `min_accuracy`."""
    rows = []
    for rater in raters:
        part = answers[answers["rater"] == rater]
        n, k = len(part), int(part["correct"].sum()) if len(part) else 0
        accuracy = k / n if n else float("nan")
        passed = "" if min_accuracy is None or not n else ("yes" if accuracy >= min_accuracy else "no")
        rows.append({"rater": rater, "n_gold_answers": n, "n_correct": k, "accuracy": accuracy, "passed": passed})
    return pd.DataFrame(rows, columns=["rater", "n_gold_answers", "n_correct", "accuracy", "passed"])


# --- setting up ---------------------------------------------------------------------------------

def plant_gold(specs: Sequence[GoldSpec], outputs: Mapping[str, object]) -> tuple[dict, dict[str, str]]:
    """Replace, in each gold case, the output of one system (drawn with `secrets`) by the planted text.

    outputs: system name -> SystemOutputs covering the gold cases. Returns (new outputs, {case id:
    system whose text was replaced}). The case keeps one text per system, so it looks like any other.
    """
    import secrets
    from dataclasses import replace

    pick = secrets.SystemRandom().choice
    names = sorted(outputs)
    planted: dict[str, str] = {}
    texts = {name: dict(outputs[name].texts_by_case) for name in names}
    for spec in specs:
        missing = [n for n in names if spec.case_id not in texts[n]]
        if missing:
            raise GoldFileError(f"gold case {spec.case_id}: system {missing[0]!r} has no output for it")
        system = pick(names)
        texts[system][spec.case_id] = spec.planted_text
        planted[spec.case_id] = system
    return {name: replace(outputs[name], texts_by_case=texts[name]) for name in outputs}, planted


def store_gold(session, study_id: int, specs: Sequence[GoldSpec], planted: Mapping[str, str]) -> int:
    """GoldCase rows for a study just created (in the caller's transaction); returns how many."""
    from sqlalchemy import select

    from db.models import Case, Output, System
    from db.protocol_models import GoldCase

    for spec in specs:
        case_id, output_id = session.execute(
            select(Case.id, Output.id).join(Output, Output.case_id == Case.id)
            .join(System, Output.system_id == System.id)
            .where(Case.study_id == study_id, Case.source_id == spec.case_id, System.name == planted[spec.case_id])
        ).one()
        session.add(GoldCase(case_id=case_id, output_id=output_id, expected=dict(spec.expected)))
    session.flush()
    return len(specs)


def gold_cases_from(splits, specs: Sequence[GoldSpec]) -> list:
    """The reports (any split of the data file) whose findings the gold cases show, in file order."""
    by_id = {r.id: r for part in (splits.train, splits.validate, splits.test) for r in part}
    unknown = [g.case_id for g in specs if g.case_id not in by_id]
    if unknown:
        raise GoldFileError(f"gold case id(s) not in the data file: {', '.join(unknown[:3])}")
    return [by_id[g.case_id] for g in specs]
