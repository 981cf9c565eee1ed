"""Every report loader on small fixtures written for the purpose (tests/fixtures) and on real OpenI."""
from __future__ import annotations

import gzip
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from core.splits import SplitSpec
from reports import detect_format, load_reports
from reports.mimic import extract_findings_impression, load_mimic
from reports.openi_csv import MalformedFile
from reports.dataset import load_split

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OPENI_XML = FIXTURES / "openi_xml"
MIMIC = FIXTURES / "mimic"


# ------------------------------------------------------------------------------------ OpenI CSV

def test_openi_csv_real_data_loads_with_counts(openi_csv_path):
    result = load_reports(openi_csv_path, "openi-csv")
    assert len(result.reports) > 2500
    assert result.skipped.get("no findings", 0) > 0  # OpenI has reports without findings
    assert all(r.findings and r.impression for r in result.reports)
    assert len({r.id for r in result.reports}) == len(result.reports)


def test_csv_missing_column_is_a_clear_error():
    bad = FIXTURES / "malformed_missing_impression.csv"
    for fmt in ("openi-csv", "csv"):
        with pytest.raises(MalformedFile, match="impression") as info:
            load_reports(bad, fmt)
        assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------------------------- plain files

def test_jsonl_loads_cleans_and_counts_skipped_reports(tmp_path):
    path = tmp_path / "reports.jsonl"
    lines = [
        json.dumps({"id": "a", "findings": "Lungs  clear.\nHeart normal.", "impression": "1. Normal chest."}),
        json.dumps({"findings": "Cardiomegaly.", "impression": "Enlarged heart.", "split": "test"}),
        json.dumps({"id": "c", "findings": "   ", "impression": "Nothing."}),
        json.dumps({"id": "d", "findings": "Effusion XXXX.", "impression": ""}),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    result = load_reports(path)
    assert [r.id for r in result.reports] == ["a", "2"]  # a missing id becomes the line number
    assert result.reports[0].findings == "Lungs clear. Heart normal."
    assert result.reports[0].impression == "Normal chest."
    assert result.reports[1].split == "test"
    assert result.skipped == {"no findings": 1, "no impression": 1}


@pytest.mark.parametrize("bad_line, message", [("{not json", "line 2: not valid JSON"),
                                               (json.dumps(["a", "list"]), "line 2: expected a JSON object")])
def test_jsonl_bad_line_is_an_error_naming_the_line(tmp_path, bad_line, message):
    path = tmp_path / "reports.jsonl"
    good = json.dumps({"id": "a", "findings": "Lungs clear.", "impression": "Normal."})
    path.write_text("\n".join([good, bad_line, good]), encoding="utf-8")
    with pytest.raises(MalformedFile, match=message):
        load_reports(path)


def test_jsonl_without_the_fields_is_a_clear_error(tmp_path):
    path = tmp_path / "wrong.jsonl"
    path.write_text(json.dumps({"text": "Lungs clear.", "summary": "Normal."}) + "\n", encoding="utf-8")
    with pytest.raises(MalformedFile, match="findings"):
        load_reports(path, "jsonl")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("this is not json\nnor this\n", encoding="utf-8")
    with pytest.raises(MalformedFile, match="JSON"):
        load_reports(garbage, "jsonl")


def test_json_array_and_plain_csv(tmp_path):
    arr = tmp_path / "reports.json"
    arr.write_text(json.dumps([{"findings": "Lungs clear.", "impression": "Normal."}]), encoding="utf-8")
    assert [(r.id, r.impression) for r in load_reports(arr).reports] == [("1", "Normal.")]
    plain = tmp_path / "plain.csv"
    plain.write_text('Findings,Impression\n"Heart normal. XXXX clear.",No acute disease.\n,Empty.\n', encoding="utf-8")
    assert detect_format(plain) == "csv"
    result = load_reports(plain, remove_deid=True)
    assert [(r.id, r.findings) for r in result.reports] == [("1", "Heart normal. clear.")]
    assert result.skipped == {"no findings": 1}


# ------------------------------------------------------------------------------------ Open-i XML

def _check_openi_fixture(result):
    by_id = {r.id: r for r in result.reports}
    assert sorted(by_id) == ["1", "2"]  # uId CXR1 -> "1", the OpenI CSV's uid
    assert by_id["1"].meta["uid"] == "CXR1"
    assert by_id["1"].meta["indication"] == "Positive TB test"
    assert by_id["2"].findings == "Borderline cardiomegaly. Midline sternotomy XXXX. Enlarged pulmonary arteries."
    assert by_id["2"].impression == "Borderline cardiomegaly. No acute pulmonary findings."
    assert result.skipped == {"no impression": 1, "malformed XML": 1}


def test_openi_xml_folder_skips_and_counts_bad_reports():
    assert detect_format(OPENI_XML) == "openi-xml"
    _check_openi_fixture(load_reports(OPENI_XML))


def test_openi_xml_archive_and_single_file(tmp_path):
    archive = tmp_path / "NLMCXR_reports.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in sorted(OPENI_XML.glob("*.xml")):
            tar.add(f, arcname=f"ecgen-radiology/{f.name}")
    assert detect_format(archive) == "openi-xml"
    _check_openi_fixture(load_reports(archive))
    single = load_reports(OPENI_XML / "1.xml", remove_deid=True)
    assert [r.impression for r in single.reports] == ["Normal chest x-."]
    assert "XXXX" not in single.reports[0].findings


def test_openi_xml_without_uid_uses_file_stem_and_bad_archive_is_clear(tmp_path):
    xml = tmp_path / "CXR77.xml"
    xml.write_text('<eCitation><Abstract><AbstractText Label="FINDINGS">Lungs clear.</AbstractText>'
                   '<AbstractText Label="IMPRESSION">Normal.</AbstractText></Abstract></eCitation>', encoding="utf-8")
    assert [r.id for r in load_reports(xml).reports] == ["77"]
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(MalformedFile, match="tar"):
        load_reports(broken, "openi-xml")


# ---------------------------------------------------------------------------------------- MIMIC

EXPECTED_MIMIC = {
    "s50414267": ("train", "There is no focal consolidation, pleural effusion or pneumothorax.",
                  "No acute cardiopulmonary process."),
    "s51029426": ("validate", "PA and lateral views of the chest. Left lower lobe opacity. No pleural effusion.",
                  "Left lower lobe pneumonia. No effusion."),
    "s55000001": ("test", "Portable chest. Endotracheal tube tip 4 cm above the carina.",
                  "Lines and tubes in standard position. Mild edema."),
}


def _check_mimic(result, with_split=True):
    by_id = {r.id: r for r in result.reports}
    expected = set(EXPECTED_MIMIC) | (set() if with_split else {"s55000002"})
    assert set(by_id) == expected
    for stem, (split, findings_start, impression) in EXPECTED_MIMIC.items():
        report = by_id[stem]
        assert report.findings.startswith(findings_start)
        assert report.impression == impression
        assert report.split == (split if with_split else None)
        assert report.meta["study_id"] == stem[1:]
    assert "NOTIFICATION" not in by_id["s55000001"].impression
    assert by_id["s50414267"].meta["subject_id"] == "10000032"
    skipped = {"no findings": 1, **({"study not in split file": 1} if with_split else {})}
    assert result.skipped == skipped  # s53189527 has IMPRESSION only


@pytest.mark.parametrize("root", [MIMIC, MIMIC / "files"], ids=["parent-of-files", "files"])
def test_mimic_folder_joins_official_split(root):
    assert detect_format(root) == "mimic"
    _check_mimic(load_reports(root, "mimic"))


def test_mimic_zip_with_split_inside_and_beside(tmp_path):
    inside = tmp_path / "inside" / "mimic-cxr-reports.zip"
    inside.parent.mkdir()
    with zipfile.ZipFile(inside, "w") as zf:
        for f in sorted(MIMIC.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(MIMIC).as_posix())
    _check_mimic(load_reports(inside))

    beside = tmp_path / "beside" / "mimic-cxr-reports.zip"
    beside.parent.mkdir()
    with zipfile.ZipFile(beside, "w") as zf:
        for f in sorted((MIMIC / "files").rglob("*.txt")):
            zf.write(f, f.relative_to(MIMIC).as_posix())
    (beside.parent / "mimic-cxr-2.0.0-split.csv.gz").write_bytes(
        gzip.compress((MIMIC / "mimic-cxr-2.0.0-split.csv").read_bytes()))
    _check_mimic(load_reports(beside))


def test_mimic_explicit_split_file_and_no_split_file(tmp_path):
    files = tmp_path / "reports" / "files"
    shutil.copytree(MIMIC / "files", files)
    _check_mimic(load_mimic(files), with_split=False)  # no split file anywhere near: split stays None
    split_gz = tmp_path / "elsewhere.csv.gz"
    split_gz.write_bytes(gzip.compress((MIMIC / "mimic-cxr-2.0.0-split.csv").read_bytes()))
    _check_mimic(load_reports(files, "mimic", split_file=split_gz))
    # without an official split the reports get a seeded one; with it the official split is kept
    seeded = load_split(files, "mimic", SplitSpec(seed=1, validate_fraction=0.25, test_fraction=0.25))
    assert len(seeded.train) + len(seeded.validate) + len(seeded.test) == 4
    official = load_split(MIMIC, "mimic")
    assert [r.id for r in official.test] == ["s55000001"] and [r.id for r in official.validate] == ["s51029426"]


def test_mimic_wrong_inputs_are_clear(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MalformedFile, match="no reports"):
        load_mimic(empty)
    bad_split = tmp_path / "split.csv"
    bad_split.write_text("dicom_id,subject_id\nx,1\n", encoding="utf-8")
    with pytest.raises(MalformedFile, match="study_id"):
        load_mimic(MIMIC, split_file=bad_split)


@pytest.mark.parametrize("text, findings, impression", [
    (" FINDINGS:  Lungs clear.\n IMPRESSION:  Normal.\n", "Lungs clear.", "Normal."),
    (" Findings: Lungs clear.\n Impression: Normal.\n", "Lungs clear.", "Normal."),  # not capitalised
    (" FINDINGS/IMPRESSION: Lungs clear.\n CONCLUSION: Normal.\n", "Lungs clear.", "Normal."),
    (" FINDINGS:\n\n Effusion.\n\n IMPRESSIONS:\n 1. Effusion.\n 2. No pneumothorax.\n RECOMMENDATION(S): CT.\n",
     "Effusion.", "Effusion. No pneumothorax."),
    (" FINDINGS AND IMPRESSION: Lungs clear, no effusion.\n", "", ""),  # cannot be separated: skipped
    (" FINAL REPORT\n Lungs are clear.\n", "", ""),
])
def test_mimic_section_extraction(text, findings, impression):
    assert extract_findings_impression(text) == (findings, impression)


def test_extracted_archive_folder_is_detected_as_openi_xml(tmp_path):
    shutil.copytree(OPENI_XML, tmp_path / "ecgen-radiology")
    assert detect_format(tmp_path) == "openi-xml"
    _check_openi_fixture(load_reports(tmp_path))
