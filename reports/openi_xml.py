"""Open-i XML reports (NLMCXR_reports.tgz): one ecgen-radiology/NNNN.xml file per report.

Each file holds `<AbstractText Label="FINDINGS">`, `<AbstractText Label="IMPRESSION">` (and
COMPARISON/INDICATION) and the report id in `<uId id="CXRNNNN"/>`. The report id is the number
after "CXR", which equals the `uid` column of the OpenI CSV export, so both formats give the
same report the same id; without a uId element the file name's stem is used.

Accepts the .tgz/.tar.gz/.tar archive, a folder of .xml files (searched recursively) or one .xml file.
Inside an archive or folder an unparseable report is skipped and counted; a damaged archive (bad
CRC, truncated, a broken entry header) and a single .xml file that does not parse are errors, and so
are an archive holding one entry name twice and one report id with two different texts (the same
report twice is loaded once and counted).
"""
from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from core.cleaning import clean_text
from core.records import LoadResult, Report
from reports.errors import MalformedFile
from reports.readers import read_file_bytes
from reports.record_rules import UniqueIds, check_unicode, visible

_UID_NUMBER = re.compile(r"^CXR(\d+)$", re.IGNORECASE)
META_LABELS = {"INDICATION": "indication", "COMPARISON": "comparison"}


def load_openi_xml(path: str | Path, remove_deid: bool = False, source: str = "openi",
                   encoding: str | None = None) -> LoadResult:
    """`encoding` is accepted for a uniform interface; XML declares its own encoding."""
    result = LoadResult(reports=[])
    n_files = 0
    single = Path(path).is_file() and Path(path).name.lower().endswith(".xml")
    ids = UniqueIds(str(path))
    for name, data in _xml_documents(Path(path)):
        n_files += 1
        if single:
            _check_single_document(data, str(path))
        report = parse_report_xml(data, PurePosixPath(name).stem, result, remove_deid, source)
        if report is not None:
            report.meta["file"] = name
            where = str(path) if single else f"{path} entry {name}"
            for what, text in (("id", report.id), ("findings", report.findings), ("impression", report.impression)):
                check_unicode(text, where, what)
            ids.add(result, report, where, name)
    if n_files == 0:
        raise MalformedFile(f"{path}: no .xml report files found (expected NLMCXR_reports.tgz, a folder of "
                            "Open-i XML reports, or one .xml file)")
    return result


def parse_report_xml(data: bytes, fallback_id: str, result: LoadResult, remove_deid: bool = False,
                     source: str = "openi") -> Report | None:
    """One Report from the bytes of one Open-i XML file, or None (the reason counted in `result`)."""
    try:
        root = SafeET.fromstring(data)
        sections: dict[str, str] = {}
        for node in root.iter("AbstractText"):
            label = (node.get("Label") or "").strip().upper()
            if label and label not in sections:
                sections[label] = "".join(node.itertext())
    except (SafeET.ParseError, DefusedXmlException, ValueError, RecursionError):
        result.skip("malformed XML")
        return None
    findings = clean_text(sections.get("FINDINGS"), remove_deid)
    impression = clean_text(sections.get("IMPRESSION"), remove_deid)
    if not visible(findings):
        result.skip("no findings")
        return None
    if not visible(impression):
        result.skip("no impression")
        return None
    uid_node = root.find(".//uId")
    uid = (uid_node.get("id") if uid_node is not None else None) or fallback_id
    number = _UID_NUMBER.match(uid.strip())
    meta = {"uid": uid.strip()}
    for label, key in META_LABELS.items():
        value = clean_text(sections.get(label))
        if value:
            meta[key] = value
    return Report(id=number.group(1) if number else uid.strip(), findings=findings, impression=impression,
                  source=source, meta=meta)


def _check_single_document(data: bytes, label: str) -> None:
    """One .xml file given on its own must parse: its error names the line and column."""
    try:
        SafeET.fromstring(data)
    except SafeET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise MalformedFile(f"{label}: line {line}, column {column}: malformed XML ({exc})") from None
    except DefusedXmlException as exc:
        raise MalformedFile(f"{label}: refused XML construct ({type(exc).__name__}: entities and DTDs are "
                            "not allowed)") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedFile(f"{label}: unreadable XML ({type(exc).__name__})") from None


def _xml_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every .xml report in an archive, a folder or a single file, in name order."""
    name = path.name.lower()
    if path.is_dir():
        for file in sorted(path.rglob("*.xml")):
            if file.is_file():
                yield str(file.relative_to(path)), read_file_bytes(file, decompress=False)
    elif name.endswith((".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz")):
        yield from _tar_documents(path)
    else:
        yield path.name, read_file_bytes(path, decompress=False)


def _tar_documents(path: Path) -> list[tuple[str, bytes]]:
    """Every .xml member of a tar archive, read whole first: a corrupt or truncated archive is an error,
    never the members before the damage (tarfile alone stops quietly at a damaged header)."""
    data = read_file_bytes(path)  # decompressed in full: the gzip CRC and length are checked, size capped
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = tar.getmembers()
            end = tar.offset
            documents = []
            names: set[str] = set()
            for member in sorted((m for m in members if m.isfile() and m.name.lower().endswith(".xml")),
                                 key=lambda m: m.name):
                if member.offset_data + member.size > len(data):
                    raise MalformedFile(f"{path}: entry {member.name}: truncated archive (the entry ends past "
                                        "the end of the data)")
                if member.name in names:
                    raise MalformedFile(f"{path}: entry {member.name}: twice in the archive; which one is meant "
                                        "is unclear, so nothing is loaded")
                names.add(member.name)
                fh = tar.extractfile(member)
                if fh is not None:
                    documents.append((member.name, fh.read()))
    except MalformedFile:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise MalformedFile(f"{path}: not a readable tar archive of Open-i XML reports ({exc})") from None
    if data[end:].strip(b"\0"):
        raise MalformedFile(f"{path}: corrupt tar archive: unreadable entry header at byte {end} of the "
                            f"decompressed data (after {len(members)} entries); nothing loaded")
    return documents
