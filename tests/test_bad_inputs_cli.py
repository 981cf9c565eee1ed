"""Bad report and import files through the command lines: exit code 2, one line naming the file, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.bad_inputs import build_corpus, build_import_corpus

ROOT = Path(__file__).resolve().parent.parent
CLI_CASES = ["csv_latin1.csv", "csv_stray_quote_merges_rows.csv", "xml_archive_flipped_bytes.tgz",
             "jsonl_deep_nesting.jsonl", "mimic_encrypted_entry.zip", "a_folder.csv"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return {c.name: c for c in build_corpus(tmp_path_factory.mktemp("cli_bad"))}


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RADLLAMA_DB": str(tmp / "unused.db")}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def _assert_one_line_error(proc: subprocess.CompletedProcess, name: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and name in errors[0], proc.stderr[-2000:]


@pytest.mark.parametrize("name", CLI_CASES)
def test_evaluate_refuses_bad_test_file(name, corpus, tmp_path):
    proc = _run(["-m", "training.evaluate", "--systems", "constant", "--bootstrap", "0",
                 "--test-file", str(corpus[name].path), "--train-file", str(corpus["csv_valid.csv"].path)], tmp_path)
    _assert_one_line_error(proc, name)


def test_evaluate_reads_latin1_with_explicit_encoding(corpus, tmp_path):
    args = ["-m", "training.evaluate", "--systems", "constant", "--bootstrap", "0", "--format", "json",
            "--test-file", str(corpus["csv_latin1.csv"].path), "--train-file", str(corpus["csv_valid.csv"].path)]
    proc = _run(args + ["--encoding", "latin-1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 reports loaded" in proc.stderr


def test_study_create_refuses_bad_data_and_bad_import(corpus, tmp_path):
    db = tmp_path / "study.db"
    proc = _run(["-m", "rating.study", "create", "--db", str(db), "--data", str(corpus["csv_duplicated_header.csv"].path),
                 "--raters", "Dr A", "--systems", "constant", "--n", "2"], tmp_path)
    _assert_one_line_error(proc, "csv_duplicated_header.csv")
    imports = {c.name: c for c in build_import_corpus(tmp_path / "imports")}
    proc = _run(["-m", "rating.study", "create", "--db", str(db), "--data", str(corpus["csv_valid.csv"].path),
                 "--raters", "Dr A", "--import", str(imports["imp_stray_quote.csv"].path), "--n", "2"], tmp_path)
    _assert_one_line_error(proc, "imp_stray_quote.csv")


def test_train_refuses_bad_data(corpus, tmp_path):
    proc = _run(["-m", "training.train", "--recipe", "default", "--output-dir", str(tmp_path / "run"),
                 "--data", str(corpus["jsonl_invalid_line.jsonl"].path)], tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "jsonl_invalid_line.jsonl line 4: not valid JSON" in proc.stderr


def test_app_data_note_names_the_file(corpus):
    from demo.service import GenerationService

    service = GenerationService.from_config(data_path=str(corpus["xml_archive_truncated.tgz"].path),
                                            build_if_missing=False)
    assert "xml_archive_truncated.tgz: corrupt or truncated compressed data" in service.data_note
    assert "\n" not in service.data_note


@pytest.mark.parametrize("kind, name", [("data", "openi_unbalanced_quote.csv"), ("data", "xml_archive_bad_header.tar"),
                                        ("import", "imp_latin1.csv"), ("import", "imp_deep_json.jsonl"),
                                        ("data", "jsonl_lone_surrogate.jsonl"), ("data", "csv_pasted_exports.csv"),
                                        ("import", "imp_lone_surrogate_text.jsonl"),
                                        ("import", "imp_long_system.csv")])
def test_admin_tab_errors_are_one_line_user_errors(corpus, tmp_path, kind, name):
    """The admin tab shows any USER_ERRORS exception as its message (gr.Error): it must be one clear line."""
    from db.engine import make_session_factory, prepare_database
    from rating.admin import AdminService
    from rating.study_request import StudyRequest
    from rating.ui.admin_tab import USER_ERRORS

    factory = make_session_factory(prepare_database(str(tmp_path / "admin.db")))
    service = AdminService(factory, admin_secret="admin-secret-for-tests")
    if kind == "data":
        request = StudyRequest(name="s", raters=("Dr A",), data_path=str(corpus[name].path), n=2,
                               include_reference=True)
    else:
        imports = {c.name: c for c in build_import_corpus(tmp_path / "imports")}
        request = StudyRequest(name="s", raters=("Dr A",), data_path=str(corpus["csv_valid.csv"].path), n=2,
                               import_path=str(imports[name].path))
    with pytest.raises(USER_ERRORS) as info:
        service.create_study("admin-secret-for-tests", request)
    message = str(info.value)
    assert name in message and "\n" not in message
    factory.kw["bind"].dispose()



def _split_jsonl(path: Path, surrogate: bool) -> Path:
    """Three reports with an explicit split (two test, one train), the first test one with a lone surrogate."""
    bad = "Lungs \\ud800 clear." if surrogate else "Lungs clear."
    path.write_text(f'{{"id": "a", "findings": "{bad}", "impression": "No acute disease.", "split": "test"}}\n'
                    '{"id": "b", "findings": "Small effusion.", "impression": "Left effusion.", "split": "test"}\n'
                    '{"id": "c", "findings": "Big heart.", "impression": "Cardiomegaly.", "split": "train"}\n')
    return path


def test_study_create_refuses_lone_surrogate_data(tmp_path):
    """Issue 22: a JSON "\\ud800" crashed `rating.study create` with a UnicodeEncodeError traceback."""
    data = _split_jsonl(tmp_path / "surrogate.jsonl", surrogate=True)
    proc = _run(["-m", "rating.study", "create", "--db", str(tmp_path / "s.db"), "--data", str(data),
                 "--raters", "Dr A", "--systems", "constant", "--n", "2"], tmp_path)
    _assert_one_line_error(proc, "surrogate.jsonl")
    assert "line 1: findings holds a lone surrogate" in proc.stderr


def test_admin_messages_never_show_a_codec_error(tmp_path):
    """A lone surrogate that reaches the database some other way (a rater name typed through the API) gives a
    plain message in the admin tab, not "'utf-8' codec can't encode character ..."."""
    from db.engine import make_session_factory, prepare_database
    from rating.admin import AdminService
    from rating.study_request import StudyRequest
    from rating.ui.admin_tab import USER_ERRORS

    try:
        from rating.admin import user_error_message
    except ImportError:  # the version before issue 22 showed str(exc)
        user_error_message = str
    factory = make_session_factory(prepare_database(str(tmp_path / "admin.db")))
    service = AdminService(factory, admin_secret="admin-secret-for-tests")
    created = service.create_study("admin-secret-for-tests", StudyRequest(
        name="s", raters=("Dr A",), data_path=str(_split_jsonl(tmp_path / "ok.jsonl", surrogate=False)), n=2,
        systems=("constant",)))
    with pytest.raises(USER_ERRORS) as info:
        service.add_rater("admin-secret-for-tests", created.study_id, "Dr \ud800")
    message = user_error_message(info.value)
    assert "codec" not in message and "\\ud800" not in message and "\n" not in message, message
    assert "not valid text" in message and "nothing was changed" in message
    factory.kw["bind"].dispose()
