"""Every file of the bad-input corpus (tests/bad_inputs.py) loads exactly as expected or is refused with one line."""
from __future__ import annotations

import re

import pytest

from reports import load_reports
from reports.errors import MalformedFile
from tests.bad_inputs import build_corpus


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


def _import_names() -> list[str]:
    import tempfile
    from pathlib import Path

    from tests.bad_inputs import build_import_corpus

    with tempfile.TemporaryDirectory() as d:
        return [c.name for c in build_import_corpus(Path(d))]


@pytest.fixture(scope="module")
def import_corpus(tmp_path_factory):
    from tests.bad_inputs import build_import_corpus

    return {c.name: c for c in build_import_corpus(tmp_path_factory.mktemp("bad_imports"))}


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
