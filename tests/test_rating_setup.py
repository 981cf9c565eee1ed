"""Study set-up: seeded assignments, sampling, import, admin secret, CLI (real SQLite files)."""
from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select

from core.records import Report
from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Assignment, Case, Output, Rater, Study, System
from rating.admin import AdminDenied, AdminService
from rating.assignments import allocate_cases, build_queue
from rating.importer import ImportFormatError, load_outputs
from rating.study_setup import (RaterSpec, StudySetupError, StudySpec, SystemOutputs, add_rater, classify_stratum,
                                create_study, sample_cases)
from tests.support.rating_support import ROOT, make_study, server_env, toy_cases


def _queues(db):
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        rows = s.execute(select(Rater.name, Assignment.position, Case.source_id, Assignment.repeat_index,
                                Assignment.label_order, Case.calibration)
                         .join(Assignment, Assignment.rater_id == Rater.id).join(Case, Case.id == Assignment.case_id)
                         .order_by(Rater.name, Assignment.position)).all()
        texts = dict(s.execute(select(Output.id, Output.text)).all())
    factory.kw["bind"].dispose()
    return [(r[0], r[1], r[2], r[3], [texts[o] for o in r[4]], r[5]) for r in rows]


def test_assignment_determinism_same_seed_same_cases_fresh_label_orders(tmp_path):
    a = _queues_of(tmp_path / "a.db")
    b = _queues_of(tmp_path / "b.db")
    # the seed fixes who rates which case when; the label orders are drawn from `secrets` (blinding)
    assert [(*q[:4], sorted(q[4]), q[5]) for q in a] == [(*q[:4], sorted(q[4]), q[5]) for q in b]
    assert [q[4] for q in a] != [q[4] for q in b]
    orders = {tuple(q[4]) for q in a}
    assert len(orders) > 1  # label orders really vary between raters and cases
    other = allocate_cases(list(range(20)), 4, 2, seed=1), allocate_cases(list(range(20)), 4, 2, seed=2)
    assert other[0] != other[1]


def _queues_of(db):
    make_study(db, n_raters=3, n_cases=8, k=2, n_calibration=2, n_repeats=1)
    return _queues(db)


def test_k_raters_per_case_calibration_first_and_hidden_repeats_last(tmp_path):
    make_study(tmp_path / "s.db", n_raters=3, n_cases=8, k=2, n_calibration=2, n_repeats=1)
    rows = _queues(tmp_path / "s.db")
    by_rater: dict[str, list] = {}
    for row in rows:
        by_rater.setdefault(row[0], []).append(row)
    calibration = {r[2] for r in rows if r[5]}
    assert len(calibration) == 2
    raters_per_case = Counter(r[2] for r in rows if not r[5] and r[3] == 0)
    assert set(raters_per_case.values()) == {2} and len(raters_per_case) == 6
    for queue in by_rater.values():
        assert {r[2] for r in queue[:2]} == calibration  # calibration cases first, for everyone
        assert [r[3] for r in queue][-1] == 1 and sum(r[3] for r in queue) == 1  # one repeat, at the end
        repeated = queue[-1]
        original = next(r for r in queue if r[2] == repeated[2] and r[3] == 0)
        assert sorted(repeated[4]) == sorted(original[4])


def test_build_queue_puts_repeats_of_own_cases_with_a_fresh_label_order():
    outputs = {k: [f"{k}-o{i}" for i in range(5)] for k in "abcdefgh"}
    queues = [build_queue(seed=3, rater_name="R", calibration_keys=["a"], own_keys=list("bcdefgh"),
                          outputs_by_case=outputs, n_repeats=3) for _ in range(2)]
    # the seed fixes cases, order and repeats; label orders are drawn afresh from `secrets`
    assert [(q.case_key, q.repeat_index) for q in queues[0]] == [(q.case_key, q.repeat_index) for q in queues[1]]
    assert all(sorted(q.output_order) == sorted(outputs[q.case_key]) for q in queues[0])
    assert any(a.output_order != b.output_order for a, b in zip(*queues))
    first = {q.case_key: q.output_order for q in queues[0] if q.repeat_index == 0}
    repeats = [q for q in queues[0] if q.repeat_index == 1]
    assert len(repeats) == 3 and all(q.case_key != "a" for q in repeats)
    assert any(first[q.case_key] != q.output_order for q in repeats)


def test_stratified_sampling_is_balanced_and_seeded():
    reports = toy_cases(40)
    assert Counter(classify_stratum(r) for r in reports) == {"normal": 20, "abnormal": 20}
    chosen = sample_cases(reports, 10, seed=5, stratify=True)
    assert Counter(classify_stratum(r) for r in chosen) == {"normal": 5, "abnormal": 5}
    assert [r.id for r in chosen] == [r.id for r in sample_cases(reports, 10, seed=5, stratify=True)]
    assert [r.id for r in chosen] != [r.id for r in sample_cases(reports, 10, seed=6, stratify=True)]
    with pytest.raises(StudySetupError):
        sample_cases(reports, 41, seed=0)
    assert classify_stratum(Report("x", "f", "Effusion.", "openi", meta={"Problems": "normal"})) == "normal"


def test_create_study_refuses_inconsistent_input_and_stores_nothing(tmp_path):
    factory = make_session_factory(prepare_database(str(tmp_path / "s.db")))
    cases = toy_cases(4)
    partial = {"sys": SystemOutputs("baseline", {c.id: "x" for c in cases[:3]})}
    full = {"sys": SystemOutputs("baseline", {c.id: "x" for c in cases})}
    same_shown = {"a": SystemOutputs("baseline", {c.id: "x" for c in cases}, display_name="Ours"),
                  "b": SystemOutputs("baseline", {c.id: "y" for c in cases}, display_name="ours ")}
    for outputs, raters, spec in [(partial, [RaterSpec("A")], StudySpec("s")),
                                  (full, [RaterSpec("A"), RaterSpec("A")], StudySpec("s")),
                                  (full, [RaterSpec("A")], StudySpec("s", k=2)),
                                  (full, [RaterSpec("A")], StudySpec("s", n_repeats=9)),
                                  (same_shown, [RaterSpec("A")], StudySpec("s"))]:
        with pytest.raises(StudySetupError):
            with unit_of_work(factory) as s:
                create_study(s, spec, cases, outputs, raters)
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count(Study.id))) == 0


@pytest.mark.parametrize("text, message", [("default", "cannot read 'default'"), ("=Ours", "cannot read '=Ours'"),
                                           ("a=X, a=Y", "two display names for system 'a'")])
def test_display_names_that_cannot_be_read_are_refused_with_a_reason(text, message):
    from rating.study_request import parse_display_names

    with pytest.raises(StudySetupError, match=message):
        parse_display_names(text)
    assert parse_display_names(" default=Radiology-Llama (ours) , retrieval=k=5 retrieval,") == \
        {"default": "Radiology-Llama (ours)", "retrieval": "k=5 retrieval"}


def test_add_rater_gets_calibration_and_the_least_covered_cases(tmp_path):
    created = make_study(tmp_path / "s.db", n_raters=2, n_cases=7, k=1, n_calibration=1, n_repeats=0)
    factory = make_session_factory(prepare_database(str(tmp_path / "s.db")))
    with unit_of_work(factory) as s:
        add_rater(s, created.study_id, RaterSpec("Dr new"))
    rows = [r for r in _queues(tmp_path / "s.db") if r[0] == "Dr new"]
    assert rows[0][5] and len(rows) == 4  # the calibration case, then 3 own cases like the others


@pytest.mark.parametrize("content, suffix, message", [
    ("case_id,text\nc1,hello\n", ".csv", "missing column"),
    ("case_id,system,text\nc1,,hello\n", ".csv", "line 2"),
    ("case_id,system,text\nc1,s,hello,extra\n", ".csv", "line 2: 4 fields where the header has 3"),
    ('{"case_id": "c1", "system": "s", "text": "a"}\nnot json\n', ".jsonl", "line 2"),
    ('{"case_id": "c1", "system": "s", "text": "a"}\n{"case_id": "c1", "system": "s", "text": "b"}\n', ".jsonl",
     "different text"),
    ('["c1", "s", "a"]\n', ".jsonl", "JSON object"),
    ("", ".jsonl", "no outputs"),
    ("a\tb\n", ".tsv", "unknown format"),
])
def test_importer_rejects_malformed_files_with_a_clear_error(tmp_path, content, suffix, message):
    path = tmp_path / f"outputs{suffix}"
    path.write_text(content)
    with pytest.raises(ImportFormatError, match=message):
        load_outputs(path)


def test_importer_reads_csv_and_jsonl(tmp_path):
    (tmp_path / "o.csv").write_text("Case ID,Model,Impression\nc1,ext,Clear lungs.\nc2,ext,Effusion.\n")
    (tmp_path / "o.jsonl").write_text(json.dumps({"case_id": "c1", "system": "ext", "text": "Clear lungs."}) + "\n")
    assert load_outputs(tmp_path / "o.csv") == {"ext": {"c1": "Clear lungs.", "c2": "Effusion."}}
    assert load_outputs(tmp_path / "o.jsonl") == {"ext": {"c1": "Clear lungs."}}


def test_admin_refuses_without_the_secret_and_keeps_a_generated_one_0600(tmp_path, capsys):
    factory = make_session_factory(prepare_database(str(tmp_path / "s.db")))
    admin = AdminService(factory)
    printed = capsys.readouterr().out
    secret_file = tmp_path / "s.db.admin-secret"
    secret = secret_file.read_text().strip()
    assert secret in printed and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert AdminService(factory)._secret == secret  # survives a restart, not printed again
    assert secret not in capsys.readouterr().out
    for wrong in (None, "", "guess", secret + "x"):
        with pytest.raises(AdminDenied):
            admin.list_studies(wrong)
        with pytest.raises(AdminDenied):
            admin.add_rater(wrong, 1, "Mallory")
    assert admin.list_studies(secret) == []
    explicit = AdminService(factory, admin_secret="configured-secret-0123")
    with pytest.raises(AdminDenied):
        explicit.list_studies(secret)


def _toy_data(path, n=60):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["uid", "Problems", "findings", "impression"])
        for r in toy_cases(n):
            w.writerow([r.id, "normal" if "No acute" in r.impression else "Opacity", r.findings, r.impression])


@pytest.mark.slow
def test_cli_create_import_add_revoke_list(tmp_path):
    data, db = tmp_path / "reports.csv", tmp_path / "cli.db"
    _toy_data(data)
    from reports.dataset import load_split
    test_ids = [r.id for r in load_split(data).test]
    (tmp_path / "outside.jsonl").write_text("".join(
        json.dumps({"case_id": i, "system": "outside-model", "text": f"Outside impression {i}."}) + "\n"
        for i in test_ids))
    run = lambda *a: subprocess.run([sys.executable, "-m", "rating.study", *a, "--db", str(db)], cwd=ROOT,  # noqa: E731
                                    env=server_env(), capture_output=True, text=True, timeout=120)
    create = ("create", "--data", str(data), "--n", "4", "--seed", "1", "--systems", "constant",
              "--import", str(tmp_path / "outside.jsonl"), "--include-reference", "--raters", "Dr A,Dr B",
              "--k", "1", "--calibration", "1", "--repeats", "1", "--stratify")
    unknown = run(*create, "--name", "typo", "--display-names", "constnat=Constant")
    assert unknown.returncode == 2 and "display name given for a system not in the study: constnat" in unknown.stderr
    out = run(*create, "--name", "cli", "--display-names", "reference=Radiologist (original), constant=Constant",
              "--public-url", "https://ratings.example.org/pilot/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("?token=") == 2
    assert out.stdout.count("https://ratings.example.org/pilot/rate/?token=") == 2
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        assert sorted(s.scalars(select(System.name))) == ["constant", "outside-model", "reference"]
        assert s.scalar(select(func.count(Output.id))) == 12
        shown = s.execute(select(System.name, System.display_name, System.position).order_by(System.position)).all()
        assert shown == [("constant", "Constant", 0), ("outside-model", None, 1),
                         ("reference", "Radiologist (original)", 2)]
        queues: dict[str, list[tuple[int, int]]] = {}
        for name, repeat, order in s.execute(select(Rater.name, Assignment.repeat_index, Assignment.label_order)
                                             .join(Assignment)):
            queues.setdefault(name, []).append((repeat, len(order)))
    assert "Estimated workload per rater (about 30 s per candidate):" in out.stdout
    for name, queue in queues.items():  # up to 3 candidates per case (identical texts shown once), 30 s each
        shown = [n for _, n in queue]
        n_ratings, minutes = sum(shown), max(1, round(sum(shown) * 30 / 60))
        span = str(shown[0]) if min(shown) == max(shown) else f"{min(shown)}-{max(shown)}"
        repeats = sum(1 for r, _ in queue if r > 0)
        assert f"{name}: {len(queue)} cases ({repeats} of them hidden repeats) x {span} candidates = {n_ratings} " \
               f"ratings, about {minutes} min" in out.stdout
    bad = run("create", "--data", str(data), "--name", "bad", "--n", "4", "--import", str(data), "--raters", "A")
    assert bad.returncode == 2 and "missing column" in bad.stderr
    assert run("add-rater", "--study", "1", "--name", "Dr C").stdout.count("?token=") == 1
    assert run("revoke", "--study", "1", "--name", "Dr B").returncode == 0
    listing = run("list").stdout
    assert "Dr C" in listing and "REVOKED" in listing
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count(Study.id))) == 1
    assert not os.path.exists(str(db) + ".admin-secret")  # the CLI needs no admin secret (file access is admin)
