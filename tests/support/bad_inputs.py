"""A corpus of bad (and awkward but valid) report files, written at test time; no binaries are committed.

Each Case names a file, the format it is loaded as, and its exact expected outcome: either the number
of reports loaded (and the skip counts), or an error whose one-line message matches `error` (a regex).

    python -m tests.support.bad_inputs OUT_DIR      # writes the corpus and prints one line per file
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROWS = [("a", "Lungs are clear. Heart size normal.", "No acute disease."),
        ("b", "Small left pleural effusion.", "Left effusion."),
        ("c", "Cardiomegaly. No edema.", "Enlarged heart.")]
SMALL_CAP_MB = "1"  # RADLLAMA_MAX_DECOMPRESSED_MB for the bomb cases


@dataclass
class Case:
    name: str
    path: Path
    fmt: str | None = None
    n: int | None = None  # reports loaded; None when an error is expected
    skipped: dict = field(default_factory=dict)
    error: str | None = None  # regex the error message must match
    env: dict = field(default_factory=dict)
    ids: list | None = None  # exact report ids, where they matter

    @property
    def expects_error(self) -> bool:
        return self.error is not None


def _csv(rows=ROWS, header="id,findings,impression", newline="\n") -> str:
    lines = [header] + [",".join(f'"{v}"' for v in r) for r in rows]
    return newline.join(lines) + newline


def _openi_csv(rows=ROWS) -> str:
    lines = ["uid,MeSH,Problems,image,indication,comparison,findings,impression"]
    lines += [f'{i},normal,normal,Xray,"pain","none","{f}","{imp}"' for i, (_, f, imp) in enumerate(rows, 1)]
    return "\n".join(lines) + "\n"


def _xml(uid: str, findings: str, impression: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><eCitation><uId id="CXR{uid}"/><MedlineCitation><Article>'
            f'<Abstract><AbstractText Label="FINDINGS">{findings}</AbstractText>'
            f'<AbstractText Label="IMPRESSION">{impression}</AbstractText></Abstract></Article>'
            f'</MedlineCitation></eCitation>').encode()


def _tar_bytes(n: int, mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for i in range(1, n + 1):
            data = _xml(str(i), f"Finding number {i}. " * 20, f"Impression {i}.")
            info = tarfile.TarInfo(f"ecgen-radiology/{i}.xml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _mimic_text(i: int) -> str:
    return f"FINAL REPORT\n FINDINGS: Lungs clear number {i}.\n IMPRESSION: Normal {i}.\n"


def _mimic_zip(path: Path, n: int = 3, patch=None, text=None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(1, n + 1):
            info = zipfile.ZipInfo(f"files/p10/p1000000{i}/s5000000{i}.txt")
            info.compress_type = zipfile.ZIP_DEFLATED
            body = text(i) if text else _mimic_text(i).encode()
            zf.writestr(info, body)
    if patch:
        data = bytearray(path.read_bytes())
        patch(data)
        path.write_bytes(bytes(data))


def _flip(data: bytes, start: int, count: int) -> bytes:
    out = bytearray(data)
    for k in range(count):
        out[start + k] ^= 0xFF
    return bytes(out)


def _line_byte(data: bytes, marker: bytes) -> tuple[int, int]:
    offset = data.index(marker)
    return data.count(b"\n", 0, offset) + 1, offset


def build_corpus(root: Path) -> list[Case]:
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def write(name: str, content: str | bytes) -> Path:
        p = root / name
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return p

    def ok(name, content, n, fmt=None, skipped=None, ids=None, env=None):
        cases.append(Case(name, write(name, content), fmt, n=n, skipped=skipped or {}, ids=ids, env=env or {}))

    def bad(name, content, error, fmt=None, env=None):
        cases.append(Case(name, write(name, content), fmt, error=error, env=env or {}))

    good = _csv()
    # ---------------------------------------------------------------- plain CSV: encodings
    ok("csv_valid.csv", good, 3, ids=["a", "b", "c"])
    ok("csv_utf8_bom_id_first.csv", b"\xef\xbb\xbf" + good.encode(), 3, ids=["a", "b", "c"])
    ok("csv_utf16le_bom.csv", good.encode("utf-16"), 3, ids=["a", "b", "c"])
    ok("csv_utf16be_bom.csv", b"\xfe\xff" + good.encode("utf-16-be"), 3, ids=["a", "b", "c"])
    latin = good.replace("Cardiomegaly", "Cardiom\u00e9galy").encode("latin-1")
    line, offset = _line_byte(latin, b"\xe9")
    bad("csv_latin1.csv", latin, rf"csv_latin1\.csv: line {line}, byte {offset}: byte 0xE9 is not UTF-8")
    cp = good.replace('"Small', '"\u201cSmall').encode("cp1252")
    line, offset = _line_byte(cp, b"\x93")
    bad("csv_cp1252_quote.csv", cp, rf"line {line}, byte {offset}: byte 0x93 is not UTF-8")
    bad("csv_utf16_no_bom.csv", good.encode("utf-16-le"), r"line 1: contains NUL characters")
    bad("csv_nul_byte.csv", good.replace("Heart", "He\x00art"), r"line 2: contains NUL characters")
    bad("csv_random_binary.csv", bytes(range(256)) * 4, r"(not UTF-8|NUL)")
    bad("csv_bad_utf8_mid_multibyte.csv", good.encode() + b'"d","x\xe2\x82","y"\n', r"line 5, byte \d+: byte 0xE2")
    # ---------------------------------------------------------------- plain CSV: structure
    bad("csv_unbalanced_quote_at_end.csv", good + '"d","Never closed,"x"\n"e","f","g"\n',
        r"line 5: .*(unbalanced quote|malformed CSV)")
    rows_merged = _csv(ROWS + [("d", 'Stray "quote here', "x"), ("e", "More text", "y"), ("f", 'closing" here', "z")])
    bad("csv_stray_quote_merges_rows.csv", rows_merged.replace('"Stray ""quote here"', '"Stray "quote here"'),
        r"line 5")
    bad("csv_text_after_quote.csv", good + '"d","abc"def,"x"\n', r"line 5: malformed CSV")
    bad("csv_duplicated_header.csv", "id,findings,findings,impression\n1,a,b,c\n",
        r"line 1: column 3 'findings' duplicates column 2")
    bad("csv_duplicated_header_case.csv", "id,Findings,findings,impression\n1,a,b,c\n",
        r"column 3 'findings' duplicates column 2")
    bad("csv_extra_field.csv", good + '"d","x","y","extra"\n', r"line 5: 4 fields where the header has 3")
    bad("csv_missing_field.csv", good + '"d","x"\n', r"line 5: 2 fields where the header has 3")
    ok("csv_header_only.csv", "id,findings,impression\n", 0)
    bad("csv_empty.csv", "", r"empty file or empty header line")
    bad("csv_blank_lines_only.csv", "\n\n\n", r"empty file or empty header line")
    bad("csv_missing_impression_column.csv", "id,findings\n1,a\n", r"missing column\(s\) impression")
    bad("csv_semicolons.csv", "id;findings;impression\n1;a;b\n", r"missing column\(s\) findings, impression")
    ok("csv_big_field_200k.csv", _csv(ROWS[:2] + [("c", "Effusion. " * 20_000, "Big.")]), 3)
    ok("csv_big_field_5mb.csv", _csv(ROWS[:2] + [("c", "x" * 5_000_000, "Big.")]), 3)
    ok("csv_crlf.csv", _csv(newline="\r\n"), 3, ids=["a", "b", "c"])
    ok("csv_cr_only.csv", _csv(newline="\r"), 3, ids=["a", "b", "c"])
    ok("csv_newline_in_field.csv", _csv(ROWS[:2] + [("c", "Line one.\nLine two.", "Imp.")]), 3)
    ok("csv_blank_line_between_rows.csv", good.replace('\n"b"', '\n\n"b"'), 3)
    ok("csv_header_spaces.csv", good.replace("id,findings,impression", " id , findings , impression "), 3)
    ok("csv_no_findings_anywhere.csv", _csv([(i, "", imp) for i, _, imp in ROWS]), 0, skipped={"no findings": 3})
    ok("csv_gzip_inside.csv", gzip.compress(good.encode()), 3)
    bad("csv_gzip_truncated.csv", gzip.compress(good.encode() * 50)[:-30], r"corrupt or truncated compressed data")
    bad("csv_gzip_bomb.csv", gzip.compress(b"id,findings,impression\n" + b"a" * 3_000_000),
        r"more than 1 MiB after decompression; refused as a possible decompression bomb", env={
            "RADLLAMA_MAX_DECOMPRESSED_MB": SMALL_CAP_MB})
    bad("csv_bz2_bomb.csv", bz2.compress(b"id,findings,impression\n" + b"a" * 3_000_000),
        r"decompression bomb", env={"RADLLAMA_MAX_DECOMPRESSED_MB": SMALL_CAP_MB})
    ok("csv_xz_inside.csv", lzma.compress(good.encode()), 3)
    bad("reports.csv.gz", gzip.compress(good.encode()), r"cannot tell the format")
    (root / "a_folder.csv").mkdir(exist_ok=True)
    cases.append(Case("a_folder.csv", root / "a_folder.csv", "csv", error=r"a_folder\.csv: is a folder"))
    # ---------------------------------------------------------------- OpenI CSV
    ok("openi_valid.csv", _openi_csv(), 3, ids=["1", "2", "3"])
    ok("openi_bom.csv", b"\xef\xbb\xbf" + _openi_csv().encode(), 3, ids=["1", "2", "3"])
    ok("openi_utf16.csv", _openi_csv().encode("utf-16"), 3, ids=["1", "2", "3"])
    bad("openi_missing_uid.csv", _openi_csv().replace("uid,", "xid,", 1), r"missing column\(s\) uid", fmt="openi-csv")
    bad("openi_empty_uid.csv", _openi_csv() + ',n,n,x,"a","b","Lungs.","Normal."\n', r"line 5: empty uid")
    bad("openi_unbalanced_quote.csv", _openi_csv() + '9,n,n,x,"a,"b","Lungs.","Normal."\n', r"line 5")
    bad("openi_duplicate_header.csv", _openi_csv().replace("comparison", "findings", 1),
        r"column 7 'findings' duplicates column 6")
    ok("openi_big_field.csv", _openi_csv(ROWS[:2] + [("c", "Effusion. " * 20_000, "Big.")]), 3)
    # ---------------------------------------------------------------- JSONL / JSON
    jl = "\n".join(json.dumps({"id": i, "findings": f, "impression": imp}) for i, f, imp in ROWS) + "\n"
    ok("jsonl_valid.jsonl", jl, 3, ids=["a", "b", "c"])
    ok("jsonl_bom.jsonl", b"\xef\xbb\xbf" + jl.encode(), 3, ids=["a", "b", "c"])
    ok("jsonl_utf16.jsonl", jl.encode("utf-16"), 3, ids=["a", "b", "c"])
    ok("jsonl_nan_findings.jsonl", jl + '{"id": "d", "findings": NaN, "impression": "x"}\n', 3,
       skipped={"no findings": 1})
    ok("jsonl_null_impression.jsonl", jl + '{"id": "d", "findings": "Lungs.", "impression": null}\n', 3,
       skipped={"no impression": 1})
    ok("jsonl_infinity.jsonl", jl + '{"id": "d", "findings": Infinity, "impression": "x"}\n', 3,
       skipped={"no findings": 1})
    ok("jsonl_list_of_sentences.jsonl", jl + '{"id": "d", "findings": ["Lungs.", null, "Heart."], "impression": "N."}\n',
       4)
    bad("jsonl_invalid_line.jsonl", jl + "{not json\n", r"jsonl_invalid_line\.jsonl line 4: not valid JSON")
    bad("jsonl_truncated_last_line.jsonl", jl + '{"id": "d", "findings": "Lun', r"line 4: not valid JSON")
    bad("jsonl_array_line.jsonl", jl + '["a", "b"]\n', r"line 4: expected a JSON object")
    bad("jsonl_deep_nesting.jsonl", jl + "[" * 200_000 + "]" * 200_000 + "\n", r"line 4: JSON nested too deeply")
    bad("jsonl_huge_int.jsonl", jl + '{"id": 1, "findings": ' + "9" * 5000 + ', "impression": "x"}\n',
        r"line 4: unreadable JSON value")
    bad("jsonl_findings_object.jsonl", jl + '{"id": 1, "findings": {"a": 1}, "impression": "x"}\n',
        r"line 4: findings is a JSON object")
    bad("jsonl_latin1.jsonl", jl.replace("Cardiomegaly", "Cardiom\u00e9galy").encode("latin-1"),
        r"line 3, byte \d+: byte 0xE9 is not UTF-8")
    bad("jsonl_empty.jsonl", "", r"no reports in the file")
    bad("jsonl_no_fields.jsonl", '{"a": 1}\n', r"no record has the field\(s\) findings, impression")
    bad("json_pretty_object.json", json.dumps({"findings": "x", "impression": "y"}, indent=2),
        r"line 1: not valid JSON")
    ok("json_array_valid.json", json.dumps([{"id": i, "findings": f, "impression": imp} for i, f, imp in ROWS]), 3)
    bad("json_array_truncated.json", json.dumps([{"findings": f, "impression": imp} for _, f, imp in ROWS])[:-5],
        r"not valid JSON \(.* at line 1, column")
    bad("json_array_of_numbers.json", "[1, 2, 3]", r"entry 1: expected a JSON object")
    # ---------------------------------------------------------------- Open-i XML
    ok("xml_single_valid.xml", _xml("7", "Lungs clear.", "Normal."), 1, ids=["7"])
    bad("xml_single_malformed.xml", b"<eCitation><AbstractText Label='FINDINGS'>x</eCitation>",
        r"line 1, column \d+: malformed XML")
    bad("xml_entity_bomb.xml", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbb"><!ENTITY c "&b;&b;&b;">]>'
        b"<a>&c;</a>", r"refused XML construct")
    bad("xml_external_entity.xml", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<a>&e;</a>", r"refused XML construct")
    tgz = _tar_bytes(200)
    ok("xml_archive_valid.tgz", tgz, 200)
    bad("xml_archive_flipped_bytes.tgz", _flip(tgz, len(tgz) // 2, 64), r"corrupt or truncated compressed data")
    bad("xml_archive_truncated.tgz", tgz[: len(tgz) // 2], r"corrupt or truncated compressed data")
    plain_tar = _tar_bytes(20, "w")
    with tarfile.open(fileobj=io.BytesIO(plain_tar)) as tar:
        header_6 = tar.getmembers()[5].offset
    bad("xml_archive_bad_header.tar", _flip(plain_tar, header_6, 100), r"corrupt tar archive: unreadable entry header")
    bad("xml_archive_cut_mid_entry.tar", plain_tar[: 512 * 7 + 100], r"(truncated archive|corrupt tar archive|unexpected end)")
    ok("xml_archive_bz2.tar.bz2", _tar_bytes(5, "w:bz2"), 5)
    bad("xml_archive_bomb.tgz", _tar_bytes(400), r"decompression bomb", env={"RADLLAMA_MAX_DECOMPRESSED_MB": "0.1"})
    bad("xml_archive_not_a_tar.tgz", gzip.compress(b"just some text, not a tar archive" * 40),
        r"(not a readable tar archive|corrupt tar archive)")
    bad("xml_archive_text_named_tgz.tgz", "hello", r"not a readable tar archive")
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz"):
        pass
    bad("xml_archive_empty.tgz", empty.getvalue(), r"no \.xml report files found")
    folder = root / "xml_folder"
    folder.mkdir(exist_ok=True)
    (folder / "1.xml").write_bytes(_xml("1", "Lungs clear.", "Normal."))
    (folder / "2.xml").write_bytes(b"<broken")
    (folder / "3.xml").write_bytes(_xml("3", "", "Normal."))
    (folder / "4.xml").write_bytes(b"<a>" * 50_000 + b"</a>" * 50_000)
    cases.append(Case("xml_folder", folder, "openi-xml", n=1, skipped={"malformed XML": 1, "no findings": 2}))
    # ---------------------------------------------------------------- MIMIC-CXR zips
    def mimic(name: str, **kw) -> Path:
        p = root / name
        _mimic_zip(p, **kw)
        return p

    cases.append(Case("mimic_valid.zip", mimic("mimic_valid.zip"), "mimic", n=3))

    def corrupt_data(data: bytearray) -> None:  # flip bytes inside the second entry's compressed data
        start = data.index(b"s50000002.txt") + len(b"s50000002.txt") + 2
        for k in range(6):
            data[start + k] ^= 0xFF

    cases.append(Case("mimic_crc_error.zip", mimic("mimic_crc_error.zip", patch=corrupt_data), "mimic",
                      error=r"entry files/p10/p10000002/s50000002\.txt unreadable zip"))
    def encrypted_flag(data: bytearray) -> None:  # mark the second entry encrypted (local and central header)
        name = b"files/p10/p10000002/s50000002.txt"
        for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            for m in re.finditer(re.escape(sig), bytes(data)):
                header_len = 30 if sig == b"PK\x03\x04" else 46
                if bytes(data[m.start() + header_len:m.start() + header_len + len(name)]) == name:
                    data[m.start() + at] |= 0x1

    cases.append(Case("mimic_encrypted_entry.zip", mimic("mimic_encrypted_entry.zip", patch=encrypted_flag), "mimic",
                      error=r"entry files/p10/p10000002/s50000002\.txt: encrypted"))

    def unsupported_method(data: bytearray) -> None:
        for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            for m in re.finditer(re.escape(sig), bytes(data)):
                data[m.start() + at] = 99
                data[m.start() + at + 1] = 0

    cases.append(Case("mimic_unknown_compression.zip", mimic("mimic_unknown_compression.zip", patch=unsupported_method),
                      "mimic", error=r"unreadable zip \(NotImplementedError"))
    cases.append(Case("mimic_latin1_entry.zip",
                      mimic("mimic_latin1_entry.zip", text=lambda i: _mimic_text(i).replace("clear", "cl\u00e9ar")
                            .encode("latin-1")), "mimic",
                      error=r"entry files/p10/p10000001/s50000001\.txt: line 2, byte \d+: byte 0xE9 is not UTF-8"))
    cases.append(Case("mimic_bomb.zip", mimic("mimic_bomb.zip", n=2, text=lambda i: _mimic_text(i).encode() +
                                              b" " * 3_000_000), "mimic", error=r"decompression bomb",
                      env={"RADLLAMA_MAX_DECOMPRESSED_MB": SMALL_CAP_MB}))
    whole = root / "mimic_valid.zip"
    bad("mimic_truncated.zip", whole.read_bytes()[:-40], r"(unreadable zip|expected a MIMIC-CXR reports folder)",
        fmt="mimic")
    empty_dir = root / "mimic_empty_folder"
    empty_dir.mkdir(exist_ok=True)
    cases.append(Case("mimic_empty_folder", empty_dir, "mimic", error=r"no reports in the MIMIC-CXR layout"))
    split_dir = root / "mimic_bad_split"
    (split_dir / "files/p10/p10000001").mkdir(parents=True, exist_ok=True)
    (split_dir / "files/p10/p10000001/s50000001.txt").write_text(_mimic_text(1))
    (split_dir / "mimic-cxr-2.0.0-split.csv.gz").write_bytes(gzip.compress(b"dicom_id,study_id,subject_id,split\n"
                                                                          b"x,50000001,10000001,train\n" * 20)[:-10])
    cases.append(Case("mimic_bad_split", split_dir, "mimic", error=r"split\.csv\.gz: corrupt or truncated"))
    quote_dir = root / "mimic_split_quote"
    (quote_dir / "files/p10/p10000001").mkdir(parents=True, exist_ok=True)
    (quote_dir / "files/p10/p10000001/s50000001.txt").write_text(_mimic_text(1))
    (quote_dir / "mimic-cxr-2.0.0-split.csv").write_text('dicom_id,study_id,subject_id,split\nx,"50000001,10000001,train\n')
    cases.append(Case("mimic_split_quote", quote_dir, "mimic", error=r"split\.csv: line 2: .*unbalanced quote"))
    # ---------------------------------------------------------------- issue 22: plausible files that load wrong
    _plausible_cases(root, cases, ok, bad)
    return cases


def _plausible_cases(root: Path, cases: list, ok, bad) -> None:
    """Files that look right and used to load silently wrong (issue 22); each is refused naming the line."""
    good = _csv()
    # two exports pasted together: the second header becomes a report
    bad("csv_pasted_exports.csv", good + good, r"line 5: the header row again")
    bad("csv_pasted_exports_crlf.csv", _csv(newline="\r\n") * 2, r"line 5: the header row again")
    bad("csv_pasted_header_other_case.csv", good + good.upper().replace('"', ""), r"line 5: the header row again")
    bad("csv_pasted_header_spaces.csv", good + " id , findings ,impression\n" + '"z","Lungs.","Normal."\n',
        r"line 5: the header row again")
    bad("openi_pasted_exports.csv", _openi_csv() + _openi_csv(), r"line 5: the header row again")
    # a second byte-order mark: at the very start (ids became row numbers) or where a second file begins
    bad("csv_two_boms.csv", b"\xef\xbb\xbf\xef\xbb\xbf" + good.encode(), r"line 1: a second byte-order mark")
    bad("csv_bom_mid_file.csv", b"\xef\xbb\xbf" + good.encode() + b"\xef\xbb\xbf" + good.encode().split(b"\n", 1)[1],
        r"line 5: a second byte-order mark")
    bad("csv_utf16_two_boms.csv", "\ufeff".encode("utf-16") + good.encode("utf-16-le"),
        r"line 1: a second byte-order mark")
    jl = "\n".join(json.dumps({"id": i, "findings": f, "impression": imp}) for i, f, imp in ROWS) + "\n"
    bad("jsonl_two_boms.jsonl", b"\xef\xbb\xbf\xef\xbb\xbf" + jl.encode(), r"line 1: a second byte-order mark")
    bad("openi_bom_in_field.csv", _openi_csv().replace("Cardiomegaly", "Cardio\ufeffmegaly"),
        r"line 4: a second byte-order mark")
    # duplicate ids with different texts (or the same report twice: loaded once, counted)
    bad("csv_duplicate_id_other_text.csv", good + '"a","Something else.","Other."\n',
        r"line 5: id 'a' again \(first on line 2\) with a different text")
    bad("openi_duplicate_uid.csv", _openi_csv() + '2,n,n,x,"a","b","Other findings.","Other."\n',
        r"line 5: id '2' again \(first on line 3\) with a different text")
    bad("jsonl_duplicate_id_int_and_text.jsonl", jl + json.dumps({"id": 7, "findings": "x.", "impression": "y."}) + "\n"
        + json.dumps({"id": "7", "findings": "z.", "impression": "w."}) + "\n", r"line 5: id '7' again \(first on line 4\)")
    bad("csv_row_number_id_clash.csv", "id,findings,impression\n,Lungs.,Normal.\n1,Heart.,Big.\n",
        r"line 3: id '1' again \(first on line 2\)")
    ok("csv_duplicate_row_identical.csv", good + '"b","Small left pleural effusion.","Left effusion."\n', 3,
       skipped={"duplicate of an earlier report": 1}, ids=["a", "b", "c"])
    folder = root / "xml_folder_duplicate_uid"
    folder.mkdir(exist_ok=True)
    (folder / "1.xml").write_bytes(_xml("1", "Lungs clear.", "Normal."))
    (folder / "1 copy.xml").write_bytes(_xml("1", "Lungs clear, edited.", "Normal."))
    cases.append(Case("xml_folder_duplicate_uid", folder, "openi-xml", error=r"1\.xml: id '1' again \(first in "
                      r"1 copy\.xml\) with a different text"))
    # a split that is not train/validate/test
    bad("csv_bad_split.csv", "id,findings,impression,split\na,Lungs.,Normal.,train\nb,Heart.,Big.,holdout\n",
        r"line 3: split 'holdout' is not train, validate or test")
    bad("csv_split_typo.csv", "id,findings,impression,split\na,Lungs.,Normal.,tets\n", r"line 2: split 'tets'")
    bad("jsonl_split_number.jsonl", json.dumps({"id": "a", "findings": "L.", "impression": "N.", "split": 1}) + "\n",
        r"line 1: split is a JSON number; expected text")
    ok("csv_split_aliases.csv", "id,findings,impression,split\na,Lungs.,Normal.,Train\nb,Heart.,Big.,val\n"
       "c,Ribs.,Fine., \n", 3, ids=["a", "b", "c"])
    # JSON numbers, booleans, objects, lists where text is expected
    for field_name, value, kind in (("findings", 42, "number"), ("impression", True, "boolean"),
                                    ("findings", ["Lungs.", 3], "list holding a number"),
                                    ("impression", [["a"]], "list holding a list"),
                                    ("id", {"a": 1}, "object"), ("id", False, "boolean"), ("id", 1.5, "number"),
                                    ("findings", 0, "number"), ("impression", None, None)):
        row = {"id": "z", "findings": "Lungs.", "impression": "Normal.", field_name: value}
        name = f"jsonl_{field_name}_{type(value).__name__}_{str(value)[:6]}.jsonl"
        name = re.sub(r"[^A-Za-z0-9_.]", "", name)
        if kind is None:
            ok(name, jl + json.dumps(row) + "\n", 3, skipped={"no impression": 1})
        else:
            bad(name, jl + json.dumps(row) + "\n", rf"line 4: {field_name} is a JSON {re.escape(kind)}; expected text")
    bad("json_array_findings_bool.json", json.dumps([{"findings": True, "impression": "x"}]),
        r"entry 1: findings is a JSON boolean")
    # lone surrogates (valid JSON escapes, not valid text)
    bad("jsonl_lone_surrogate.jsonl", jl + '{"id": "d", "findings": "Lungs \\ud800 clear.", "impression": "N."}\n',
        r"line 4: findings holds a lone surrogate")
    bad("jsonl_lone_low_surrogate_id.jsonl", jl + '{"id": "\\udc00", "findings": "L.", "impression": "N."}\n',
        r"line 4: id holds a lone surrogate")
    ok("jsonl_surrogate_pair.jsonl", jl + '{"id": "d", "findings": "Lungs \\ud83d\\ude00.", "impression": "N."}\n', 4)
    # line separators inside JSON strings are text, not line breaks
    ok("jsonl_u2028_in_string.jsonl", jl + json.dumps({"id": "d", "findings": "A\u2028B.", "impression": "N\u0085."},
                                                      ensure_ascii=False) + "\n", 4)
    ok("jsonl_u2029_raw.jsonl", jl.replace("Cardiomegaly", "Cardio\u2029\u2028megaly"), 3)
    ok("jsonl_cr_only.jsonl", jl.replace("\n", "\r"), 3, ids=["a", "b", "c"])
    ok("csv_u2028_in_field.csv", good.replace("Cardiomegaly", "Cardio\u2028megaly\u0085"), 3, ids=["a", "b", "c"])
    # texts made only of spaces and invisible characters are missing
    ok("csv_zero_width_findings.csv", good + '"d","\u200b \u200b\u2060","Normal."\n', 3, skipped={"no findings": 1})
    ok("jsonl_nbsp_impression.jsonl", jl + json.dumps({"id": "d", "findings": "L.", "impression": "\u00a0\ufe0f"}) + "\n",
       3, skipped={"no impression": 1})
    # MIMIC: a split file naming one study twice with different splits, an unknown split, a zip with a report twice
    def mimic_dir(name: str, split_csv: str) -> Path:
        d = root / name
        (d / "files/p10/p10000001").mkdir(parents=True, exist_ok=True)
        (d / "files/p10/p10000001/s50000001.txt").write_text(_mimic_text(1))
        (d / "mimic-cxr-2.0.0-split.csv").write_text("dicom_id,study_id,subject_id,split\n" + split_csv)
        return d

    cases.append(Case("mimic_split_conflict", mimic_dir("mimic_split_conflict", "x,50000001,10000001,train\n"
                      "y,50000002,10000001,test\nz,50000001,10000001,test\n"), "mimic",
                      error=r"split\.csv: line 4: study 50000001 is 'test' here but 'train' on line 2"))
    cases.append(Case("mimic_split_unknown", mimic_dir("mimic_split_unknown", "x,50000001,10000001,holdout\n"), "mimic",
                      error=r"split\.csv: line 2: split 'holdout' is not train, validate or test"))
    cases.append(Case("mimic_split_same_twice", mimic_dir("mimic_split_same_twice", "x,50000001,10000001,train\n"
                      "y,50000001,10000001,train\n"), "mimic", n=1))
    twice = root / "mimic_zip_entry_twice.zip"
    with zipfile.ZipFile(twice, "w") as zf:
        zf.writestr("files/p10/p10000001/s50000001.txt", _mimic_text(1))
        zf.writestr("files/p10/p10000002/s50000002.txt", _mimic_text(2))
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zf.writestr("files/p10/p10000001/s50000001.txt", _mimic_text(1).replace("clear", "hazy"))
    cases.append(Case("mimic_zip_entry_twice.zip", twice, "mimic",
                      error=r"entry files/p10/p10000001/s50000001\.txt: twice in the zip"))
    moved = root / "mimic_zip_study_twice.zip"
    with zipfile.ZipFile(moved, "w") as zf:
        zf.writestr("files/p10/p10000001/s50000001.txt", _mimic_text(1))
        zf.writestr("files/p11/p11000001/s50000001.txt", _mimic_text(9))
    cases.append(Case("mimic_zip_study_twice.zip", moved, "mimic", error=r"id 's50000001' again"))
    tar_twice = io.BytesIO()
    with tarfile.open(fileobj=tar_twice, mode="w:gz") as tar:
        for body in (_xml("1", "Lungs clear.", "Normal."), _xml("1", "Lungs hazy.", "Normal.")):
            info = tarfile.TarInfo("ecgen-radiology/1.xml")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    bad("xml_archive_entry_twice.tgz", tar_twice.getvalue(), r"entry ecgen-radiology/1\.xml: twice in the archive")
    # non-regular files given as the data path: refused at once, never opened (a FIFO's open() blocks)
    for name, fmt in (("fifo_reports.csv", None), ("fifo_reports.jsonl", "jsonl"), ("fifo_nlmcxr.tgz", "openi-xml"),
                      ("fifo_mimic.zip", "mimic")):
        fifo = root / name
        if not fifo.exists():
            os.mkfifo(fifo)
        cases.append(Case(name, fifo, fmt, error=rf"{re.escape(name)}: is a named pipe, not a regular file"))
    cases.append(Case("dev_zero_as_csv", Path("/dev/zero"), "csv", error=r"/dev/zero: is a character device"))


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path("bad_inputs")
    for case in build_corpus(out):
        outcome = f"error /{case.error}/" if case.expects_error else f"{case.n} loaded {case.skipped or ''}"
        print(f"{case.path}\t{case.fmt or 'auto'}\t{outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# ------------------------------------------------------------------------------- outside outputs

@dataclass
class ImportCase:
    name: str
    path: Path
    n_outputs: int | None = None
    error: str | None = None


IMPORT_ROWS = [("1", "sysA", "No acute disease."), ("2", "sysA", "Left effusion."), ("1", "sysB", "Normal chest.")]


def build_import_corpus(root: Path) -> list[ImportCase]:
    root.mkdir(parents=True, exist_ok=True)
    cases: list[ImportCase] = []

    def add(name: str, content: str | bytes, n: int | None = None, error: str | None = None) -> None:
        p = root / name
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        cases.append(ImportCase(name, p, n, error))

    csv_text = "case_id,system,text\n" + "".join(f'{c},{s},"{t}"\n' for c, s, t in IMPORT_ROWS)
    jl = "".join(json.dumps({"case_id": c, "system": s, "text": t}) + "\n" for c, s, t in IMPORT_ROWS)
    add("imp_valid.csv", csv_text, 3)
    add("imp_bom.csv", b"\xef\xbb\xbf" + csv_text.encode(), 3)
    add("imp_utf16.csv", csv_text.encode("utf-16"), 3)
    add("imp_valid.jsonl", jl, 3)
    add("imp_bom.jsonl", b"\xef\xbb\xbf" + jl.encode(), 3)
    add("imp_latin1.csv", csv_text.replace("Normal", "Norm\u00e9l").encode("latin-1"),
        error=r"imp_latin1\.csv: line 4, byte \d+: byte 0xE9 is not UTF-8")
    add("imp_stray_quote.csv", csv_text + '3,sysA,"Stray quote\n4,sysA,"more"\n', error=r"imp_stray_quote\.csv: line 5")
    add("imp_duplicate_header.csv", "case_id,system,text,text\n1,a,b,c\n", error=r"column 4 'text' duplicates column 3")
    add("imp_extra_field.csv", csv_text + "3,sysA,x,y\n", error=r"line 5: 4 fields where the header has 3")
    add("imp_big_text_field.csv", csv_text + '3,sysA,"' + "x" * 200_000 + '"\n',
        error=r"line 5: the text is longer than 20000 characters")
    add("imp_nan_text.jsonl", jl + '{"case_id": 3, "system": "sysA", "text": NaN}\n',
        error=r"line 4: the text is missing or empty")
    add("imp_null_system.jsonl", jl + '{"case_id": 3, "system": null, "text": "x"}\n',
        error=r"line 4: the system name is missing or empty")
    add("imp_deep_json.jsonl", jl + "[" * 100_000 + "]" * 100_000 + "\n", error=r"line 4: JSON nested too deeply")
    add("imp_case_id_object.jsonl", jl + '{"case_id": {"a": 1}, "system": "sysA", "text": "x"}\n',
        error=r"line 4: the case id is a JSON object; expected text")
    add("imp_bad_json.jsonl", jl + "{oops\n", error=r"line 4: not valid JSON")
    add("imp_conflict.csv", csv_text + '1,sysA,"Different."\n', error=r"line 5: a second, different text")
    add("imp_empty.csv", "", error=r"empty file or empty header line")
    add("imp_header_only.csv", "case_id,system,text\n", error=r"no outputs in the file")
    add("imp_wrong_suffix.txt", csv_text, error=r"unknown format '\.txt'")
    add("imp_nul.csv", csv_text.replace("Normal", "Nor\x00mal"), error=r"line 4: contains NUL characters")
    (root / "imp_folder.csv").mkdir(exist_ok=True)
    cases.append(ImportCase("imp_folder.csv", root / "imp_folder.csv", error=r"imp_folder\.csv: is a folder"))
    # issue 22: the loaders' classes of plausible files, and odd text
    add("imp_pasted_exports.csv", csv_text + csv_text, error=r"line 5: the header row again")
    add("imp_pasted_header_upper.csv", csv_text + "CASE_ID , System,TEXT\n", error=r"line 5: the header row again")
    add("imp_two_boms.csv", b"\xef\xbb\xbf\xef\xbb\xbf" + csv_text.encode(), error=r"line 1: a second byte-order mark")
    add("imp_bom_mid_file.jsonl", jl.encode() + b"\xef\xbb\xbf" + jl.encode(), error=r"line 4: a second byte-order mark")
    add("imp_conflict_jsonl_int_id.jsonl", jl + '{"case_id": 1, "system": "sysA", "text": "Other."}\n',
        error=r"line 4: a second, different text for case '1'")
    add("imp_text_number.jsonl", jl + '{"case_id": 3, "system": "sysA", "text": 42}\n',
        error=r"line 4: the text is a JSON number; expected text")
    add("imp_text_bool.jsonl", jl + '{"case_id": 3, "system": "sysA", "text": true}\n',
        error=r"line 4: the text is a JSON boolean")
    add("imp_text_list.jsonl", jl + '{"case_id": 3, "system": "sysA", "text": ["a", "b"]}\n',
        error=r"line 4: the text is a JSON list")
    add("imp_system_number.jsonl", jl + '{"case_id": 3, "system": 7, "text": "x"}\n',
        error=r"line 4: the system name is a JSON number")
    add("imp_system_bool.jsonl", jl + '{"case_id": 3, "system": false, "text": "x"}\n',
        error=r"line 4: the system name is a JSON boolean")
    add("imp_case_id_float.jsonl", jl + '{"case_id": 1.5, "system": "sysA", "text": "x"}\n',
        error=r"line 4: the case id is a JSON number")
    add("imp_lone_surrogate_text.jsonl", jl + '{"case_id": 3, "system": "sysA", "text": "Normal \\ud800."}\n',
        error=r"line 4: the text holds a lone surrogate")
    add("imp_lone_surrogate_system.jsonl", jl + '{"case_id": 3, "system": "sys\\udfff", "text": "x"}\n',
        error=r"line 4: the system name holds a lone surrogate")
    add("imp_long_system.csv", csv_text + f"3,{'S' * 10_000},x\n",
        error=r"line 5: the system name is longer than 100 characters")
    add("imp_long_case_id.jsonl", jl + json.dumps({"case_id": "c" * 5000, "system": "sysA", "text": "x"}) + "\n",
        error=r"line 4: the case id is longer than 200 characters")
    add("imp_blank_text_zwsp.csv", csv_text + '3,sysA,"\u200b \u200b\u200b"\n', error=r"line 5: the text is missing or empty")
    add("imp_blank_text_nbsp_jsonl.jsonl", jl + json.dumps({"case_id": 3, "system": "sysA", "text": "\u00a0\u2060\ufeff"})
        + "\n", error=r"line 4: the text is missing or empty")
    add("imp_blank_system_zwsp.csv", csv_text + '3,"\u200b",x\n', error=r"line 5: the system name is missing or empty")
    add("imp_u2028_in_text.jsonl", jl + json.dumps({"case_id": "3", "system": "sysB", "text": "Clear\u2028lungs\u0085."}, ensure_ascii=False) + "\n",
        4)
    add("imp_u2029_in_text.csv", csv_text + '3,sysB,"Clear\u2029lungs."\n', 4)
    add("imp_cr_only.jsonl", jl.replace("\n", "\r"), 3)
    fifo = root / "imp_fifo.csv"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(ImportCase("imp_fifo.csv", fifo, error=r"imp_fifo\.csv: is a named pipe, not a regular file"))
    return cases
