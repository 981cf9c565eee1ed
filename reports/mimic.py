"""MIMIC-CXR free-text reports: files/pNN/pNNNNNNNN/sNNNNNNNN.txt (a folder or a zip of it).

Sections are found by their headings: a capitalised name followed by a colon at the start of a
line ("FINDINGS:", "IMPRESSION:"). Real reports vary, so:
- findings come from FINDINGS (or FINDING); when there is none, from REPORT, then from a combined
  "FINDINGS AND IMPRESSION" / "FINDINGS/IMPRESSION" section, provided a separate impression exists;
- the impression comes from IMPRESSION (or IMPRESSIONS), else CONCLUSION(S), else SUMMARY;
- any other capitalised heading ("INDICATION:", "COMPARISON:", "NOTIFICATION:", ...) ends a section;
- text before the first heading ("FINAL REPORT", "WET READ: ...") is ignored.
A report lacking either part is skipped and counted.

Splits come from the official mimic-cxr-2.0.0-split.csv(.gz) (dicom_id,study_id,subject_id,split),
joined by study id (file sNNNNNNNN -> study_id NNNNNNNN). Pass `split_file`, or it is looked
for beside the folder/zip and up to three folders above (and inside the zip). Reports whose study
is absent from a split file are skipped and counted; with no split file at all the reports keep
split=None and get a seeded split downstream. A split file naming one study with two different splits,
or a split that is not train/validate/test, is refused naming the line; so is a zip holding one entry
name twice, and one study (sNNNNNNNN) found twice with different texts (reports/record_rules.py).
"""
from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from core.cleaning import clean_text
from core.records import LoadResult, Report
from reports.errors import MalformedFile
from reports.readers import (csv_records, decode_text, decompress_bytes, max_bytes, read_file_bytes, read_stream,
                             refuse_special_file, too_big)
from reports.record_rules import UniqueIds, visible

log = logging.getLogger(__name__)

SPLIT_FILE_NAMES = ("mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-split.csv")
SPLIT_NAMES = {"train": "train", "validate": "validate", "validation": "validate", "val": "validate", "test": "test"}

FINDINGS_HEADINGS = ("FINDINGS", "FINDING")
FALLBACK_FINDINGS_HEADINGS = ("REPORT",)
COMBINED_HEADINGS = ("FINDINGS AND IMPRESSION", "FINDINGS/IMPRESSION", "FINDINGS AND IMPRESSIONS",
                     "FINDINGS / IMPRESSION", "IMPRESSION AND FINDINGS")
IMPRESSION_HEADINGS = ("IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS", "SUMMARY")

# A heading: start of a line, optional indent, a name of capital letters (spaces, / & ( ) - allowed), a colon.
_HEADING = re.compile(r"^[ \t]*([A-Z][A-Z /&()\-]{1,48}?)[ \t]*:", re.MULTILINE)
_KNOWN = {*FINDINGS_HEADINGS, *FALLBACK_FINDINGS_HEADINGS, *COMBINED_HEADINGS, *IMPRESSION_HEADINGS}
_CASE_INSENSITIVE_HEADING = re.compile(
    r"^[ \t]*(" + "|".join(re.escape(h) for h in sorted(_KNOWN, key=len, reverse=True)) + r")[ \t]*:",
    re.MULTILINE | re.IGNORECASE)
_REPORT_PATH = re.compile(r"(?:^|/)p\d+/(s(\d+))\.txt$")
_SUBJECT = re.compile(r"(?:^|/)p(\d+)/s\d+\.txt$")


def split_sections(text: str) -> dict[str, str]:
    """Map each heading (upper case, spacing normalised) to its text; the first occurrence wins."""
    marks = [(m.start(), m.end(), m.group(1)) for m in _HEADING.finditer(text)]
    marks += [(m.start(), m.end(), m.group(1)) for m in _CASE_INSENSITIVE_HEADING.finditer(text)
              if not m.group(1).isupper()]
    marks.sort()
    sections: dict[str, str] = {}
    for i, (_, body_start, name) in enumerate(marks):
        body_end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        key = re.sub(r"\s+", " ", name.upper()).strip()
        key = re.sub(r"\s*/\s*", "/", key)
        body = text[body_start:body_end]
        if key not in sections or not sections[key].strip():
            sections[key] = body
    return sections


def extract_findings_impression(text: str, remove_deid: bool = False) -> tuple[str, str]:
    """(findings, impression) of one free-text report, each cleaned; "" where missing."""
    sections = split_sections(text)

    def first(names: tuple[str, ...]) -> str:
        for name in names:
            value = clean_text(sections.get(name.replace(" / ", "/")), remove_deid)
            if value:
                return value
        return ""

    impression = first(IMPRESSION_HEADINGS)
    findings = first(FINDINGS_HEADINGS) or first(FALLBACK_FINDINGS_HEADINGS)
    if not findings and impression:
        findings = first(COMBINED_HEADINGS)
    return findings, impression


def load_mimic(path: str | Path, remove_deid: bool = False, split_file: str | Path | None = None,
               source: str = "mimic-cxr", encoding: str | None = None) -> LoadResult:
    """Load a MIMIC-CXR reports folder (the one holding files/, or files/ itself) or its zip."""
    p = Path(path)
    result = LoadResult(reports=[])
    refuse_special_file(p)
    if p.is_dir():
        documents = _folder_documents(p)
        splits = _read_split_file(Path(split_file)) if split_file else _find_split_beside(p)
    elif zipfile.is_zipfile(p):
        documents = _zip_documents(p)
        splits = (_read_split_file(Path(split_file)) if split_file
                  else _split_inside_zip(p) or _find_split_beside(p))
    else:
        raise MalformedFile(f"{p}: expected a MIMIC-CXR reports folder (files/pNN/pNNNNNNNN/sNNNNNNNN.txt) or a zip of it")
    if splits is None:
        log.warning("no mimic-cxr-2.0.0-split.csv(.gz) found near %s; reports get a seeded split", p)
    n_files = 0
    ids = UniqueIds(str(p))
    for name, raw in documents:
        n_files += 1
        match = _REPORT_PATH.search(name)
        stem, study_id = match.group(1), match.group(2)
        text = decode_text(raw, f"{p} entry {name}", encoding)
        findings, impression = extract_findings_impression(text, remove_deid)
        if not visible(findings):
            result.skip("no findings")
            continue
        if not visible(impression):
            result.skip("no impression")
            continue
        split = None
        if splits is not None:
            split = splits.get(study_id.lstrip("0") or "0")
            if split is None:
                result.skip("study not in split file")
                continue
        subject = _SUBJECT.search(name)
        meta = {"study_id": study_id, "subject_id": subject.group(1) if subject else "", "file": name}
        ids.add(result, Report(id=stem, findings=findings, impression=impression, source=source, split=split,
                               meta=meta), f"{p} entry {name}", name)
    if n_files == 0:
        raise MalformedFile(f"{p}: no reports in the MIMIC-CXR layout files/pNN/pNNNNNNNN/sNNNNNNNN.txt found")
    return result


def _folder_documents(folder: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(folder.rglob("s*.txt")):
        name = file.relative_to(folder).as_posix()
        if _REPORT_PATH.search(name):
            yield name, read_file_bytes(file, decompress=False)


def _zip_documents(path: Path) -> list[tuple[str, bytes]]:
    """Every report of a zip, all read (CRC-checked) before any is used: a damaged zip is an error, not a part."""
    return [(name, data) for name, data in _zip_entries(path, lambda n: bool(_REPORT_PATH.search(n)))]


def _zip_entries(path: Path, wanted) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    budget = max_bytes()
    name = "?"
    try:
        with zipfile.ZipFile(path) as zf:
            infos = sorted((i for i in zf.infolist() if not i.is_dir() and wanted(i.filename)),
                           key=lambda i: i.filename)
            if sum(i.file_size for i in infos) > budget:
                raise too_big(str(path))
            names: set[str] = set()
            for info in infos:
                name = info.filename
                if name in names:
                    raise MalformedFile(f"{path}: entry {name}: twice in the zip; which one is meant is unclear, "
                                        "so nothing is loaded")
                names.add(name)
                if info.flag_bits & 0x1:
                    raise MalformedFile(f"{path}: entry {name}: encrypted; decrypt the zip first")
                with zf.open(info) as fh:
                    data = read_stream(fh, f"{path} entry {name}", budget)
                budget -= len(data)
                out.append((name, data))
    except MalformedFile:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, NotImplementedError,
            ValueError) as exc:
        where = f" entry {name}" if name != "?" else ""
        raise MalformedFile(f"{path}:{where} unreadable zip ({type(exc).__name__}: {exc})") from None
    return out


def _find_split_beside(path: Path) -> dict[str, str] | None:
    folder = path if path.is_dir() else path.parent
    for candidate_dir in [folder, *list(folder.resolve().parents)[:3]]:
        for name in SPLIT_FILE_NAMES:
            candidate = candidate_dir / name
            if candidate.is_file():
                return _read_split_file(candidate)
    return None


def _split_inside_zip(path: Path) -> dict[str, str] | None:
    for name, data in _zip_entries(path, lambda n: PurePosixPath(n).name in SPLIT_FILE_NAMES)[:1]:
        label = f"{path} entry {name}"
        return _parse_split_csv(decompress_bytes(data, label), label)
    return None


def _read_split_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise MalformedFile(f"split file {path} does not exist")
    return _parse_split_csv(read_file_bytes(path), str(path))


def _parse_split_csv(data: bytes, label: str) -> dict[str, str]:
    """study_id (no leading zeros) -> train/validate/test; many dicom rows per study collapse to one."""
    fields, rows = csv_records(decode_text(data, label), label)
    missing = [c for c in ("study_id", "split") if c not in fields]
    if missing:
        raise MalformedFile(f"{label}: split file lacks column(s) {', '.join(missing)}; found {fields}")
    splits: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        study = str(row.get("study_id") or "").strip().lstrip("s").lstrip("0")
        raw = str(row.get("split") or "").strip()
        split = SPLIT_NAMES.get(raw.lower())
        if raw and split is None:
            raise MalformedFile(f"{label}: line {line}: split {raw[:40]!r} is not train, validate or test")
        if not (study and split):
            continue
        first = splits.setdefault(study, (split, line))
        if first[0] != split:
            raise MalformedFile(f"{label}: line {line}: study {study} is {split!r} here but {first[0]!r} on line "
                                f"{first[1]}; one study belongs to one split")
    return {study: split for study, (split, _line) in splits.items()}
