"""Open-i XML reports (NLMCXR_reports.tgz): one ecgen-radiology/NNNN.xml file per report.

Each file holds `<AbstractText Label="FINDINGS">`, `<AbstractText Label="IMPRESSION">` (and
COMPARISON/INDICATION) and the report id in `<uId id="CXRNNNN"/>`. The report id is the number
after "CXR", which equals the `uid` column of the OpenI CSV export, so both formats give the
same report the same id; without a uId element the file name's stem is used.

Accepts the .tgz/.tar.gz archive, a folder of .xml files (searched recursively) or one .xml file.
Unparseable files are skipped and counted, never fatal.
"""
from __future__ import annotations

import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from core.cleaning import clean_text
from core.records import LoadResult, Report
from reports.openi_csv import MalformedFile

_UID_NUMBER = re.compile(r"^CXR(\d+)$", re.IGNORECASE)
META_LABELS = {"INDICATION": "indication", "COMPARISON": "comparison"}


def load_openi_xml(path: str | Path, remove_deid: bool = False, source: str = "openi") -> LoadResult:
    result = LoadResult(reports=[])
    n_files = 0
    for name, data in _xml_documents(Path(path)):
        n_files += 1
        report = parse_report_xml(data, PurePosixPath(name).stem, result, remove_deid, source)
        if report is not None:
            report.meta["file"] = name
            result.reports.append(report)
    if n_files == 0:
        raise MalformedFile(f"{path}: no .xml report files found (expected NLMCXR_reports.tgz, a folder of "
                            "Open-i XML reports, or one .xml file)")
    return result


def parse_report_xml(data: bytes, fallback_id: str, result: LoadResult, remove_deid: bool = False,
                     source: str = "openi") -> Report | None:
    """One Report from the bytes of one Open-i XML file, or None (the reason counted in `result`)."""
    try:
        root = SafeET.fromstring(data)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        result.skip("malformed XML")
        return None
    sections: dict[str, str] = {}
    for node in root.iter("AbstractText"):
        label = (node.get("Label") or "").strip().upper()
        if label and label not in sections:
            sections[label] = "".join(node.itertext())
    findings = clean_text(sections.get("FINDINGS"), remove_deid)
    impression = clean_text(sections.get("IMPRESSION"), remove_deid)
    if not findings:
        result.skip("no findings")
        return None
    if not impression:
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


def _xml_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every .xml report in an archive, a folder or a single file, in name order."""
    name = path.name.lower()
    if path.is_dir():
        for file in sorted(path.rglob("*.xml")):
            yield str(file.relative_to(path)), file.read_bytes()
    elif name.endswith((".tgz", ".tar.gz", ".tar")):
        try:
            with tarfile.open(path, "r:*") as tar:
                members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(".xml")),
                                 key=lambda m: m.name)
                for member in members:
                    fh = tar.extractfile(member)
                    if fh is not None:
                        yield member.name, fh.read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise MalformedFile(f"{path}: not a readable tar archive of Open-i XML reports ({exc})") from None
    else:
        yield path.name, path.read_bytes()
