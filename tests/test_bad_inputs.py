"""Every file of the bad-input corpus (tests/support/bad_inputs.py) loads exactly as expected or is refused with one line."""
from __future__ import annotations

import re
import unicodedata

import pytest

from reports import load_reports
from reports.errors import MalformedFile
from tests.support.bad_inputs import build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return {c.name: c for c in build_corpus(tmp_path_factory.mktemp("bad_inputs"))}


def _names() -> list[str]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        return [c.name for c in build_corpus(Path(d))]


CASE_NAMES = _names()


def test_the_corpus_is_large_enough():
    assert len(CASE_NAMES) >= 60
    assert len(set(CASE_NAMES)) == len(CASE_NAMES)


@pytest.mark.timeout(60)  # a named pipe used to block open() for ever
@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_outcome(name, corpus, monkeypatch):
    case = corpus[name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if case.expects_error:
        with pytest.raises(MalformedFile) as info:
            load_reports(case.path, case.fmt)
        message = str(info.value)
        assert "\n" not in message
        assert str(case.path.name) in message  # names the file
        assert re.search(case.error, message), message
    else:
        result = load_reports(case.path, case.fmt)
        assert len(result.reports) == case.n, result.summary()
        assert result.skipped == case.skipped
        if case.ids is not None:
            assert [r.id for r in result.reports] == case.ids
        assert_loaded_exactly_right(result)


HEADER_WORDS = {"id", "uid", "findings", "impression", "split", "mesh", "problems", "image", "indication",
                "comparison"}


def assert_loaded_exactly_right(result) -> None:
    """What any load must give, whatever the file: unique ids, real splits, valid visible text, no header as data."""
    from core.splits import SPLITS

    ids = [r.id for r in result.reports]
    assert len(ids) == len(set(ids)), f"duplicate ids: {sorted(i for i in set(ids) if ids.count(i) > 1)[:5]}"
    for r in result.reports:
        assert r.split in (*SPLITS, None), r
        for text in (r.id, r.findings, r.impression):
            assert isinstance(text, str) and text.strip(), r
            text.encode("utf-8")  # no lone surrogates
            assert "\ufeff" not in text, r
            assert any(not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Zs", "Mn") for ch in text), r
        assert {r.findings.strip().lower(), r.impression.strip().lower()} - HEADER_WORDS, r


def _mutations(data: bytes) -> dict[str, bytes]:
    """Variants of a valid file that real people make by accident; each must be refused or loaded right."""
    bom = b"\xef\xbb\xbf"
    lines = data.split(b"\n")
    middle = len(lines) // 2
    return {
        "pasted twice": data + data,
        "pasted twice, no final newline": data.rstrip(b"\n") + b"\n" + data,
        "second BOM in front": bom + data,
        "BOM mid-file": b"\n".join(lines[:middle] + [bom + lines[middle]] + lines[middle + 1:]),
        "header repeated at the end": data + lines[0].lstrip(bom) + b"\n",
        "last line twice": data + (lines[-2] if not lines[-1] else lines[-1]) + b"\n",
    }


TEXT_CASES = [n for n in CASE_NAMES if n.endswith((".csv", ".jsonl")) and not n.startswith(("fifo", "csv_gzip",
                                                                                            "csv_bz2", "csv_xz"))]


@pytest.mark.parametrize("name", TEXT_CASES)
def test_accidental_variants_of_every_file_are_refused_or_loaded_right(name, corpus, tmp_path, monkeypatch):
    """The corpus catches cases nobody wrote down: every UTF-8 file of it, pasted twice, given a second BOM,
    a repeated header or a repeated last line, loads exactly right or is refused with one line naming it."""
    case = corpus[name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if not case.path.is_file() or not case.path.read_bytes().strip():
        pytest.skip("not a file, or an empty one: nothing to vary")
    data = case.path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or len(data) > 2_000_000:
        pytest.skip("UTF-16 or big file: the byte-level mutations do not apply")
    for what, variant in _mutations(data).items():
        path = tmp_path / f"{what.replace(' ', '_').replace(',', '')}_{name}"
        path.write_bytes(variant)
        try:
            result = load_reports(path, case.fmt)
        except MalformedFile as exc:
            assert "\n" not in str(exc) and path.name in str(exc), (what, str(exc))
            continue
        assert_loaded_exactly_right(result)


def _import_names() -> list[str]:
    import tempfile
    from pathlib import Path

    from tests.support.bad_inputs import build_import_corpus

    with tempfile.TemporaryDirectory() as d:
        return [c.name for c in build_import_corpus(Path(d))]


@pytest.fixture(scope="module")
def import_corpus(tmp_path_factory):
    from tests.support.bad_inputs import build_import_corpus

    return {c.name: c for c in build_import_corpus(tmp_path_factory.mktemp("bad_imports"))}


@pytest.mark.timeout(60)  # a named pipe used to block open() for ever
@pytest.mark.parametrize("name", _import_names())
def test_bad_import_outcome(name, import_corpus):
    from rating.importer import ImportFormatError, load_outputs

    case = import_corpus[name]
    if case.error is None:
        outputs = load_outputs(case.path)
        assert sum(len(v) for v in outputs.values()) == case.n_outputs
        assert outputs["sysA"]["1"] == "No acute disease."
    else:
        with pytest.raises(ImportFormatError) as info:
            load_outputs(case.path)
        message = str(info.value)
        assert "\n" not in message and case.name in message
        assert re.search(case.error, message), message
