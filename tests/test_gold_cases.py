"""Gold (attention) cases: read from a file, planted in place of one system's output, in every queue,
shown like any case, scored per rater, left out of every statistic, and raters who fail them can be
left out by the PI (real SQLite file, real study creation from a data file)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Assignment, Case, Output, Rater
from db.protocol_models import GoldCase
from rating.analysis.config import AnalysisConfig
from rating.protocols.gold import GoldFileError, parse_expected, read_gold_file
from rating.analysis.protocol_study import analyze_study_with_protocols
from rating.service import RatingService
from rating.study_request import StudyRequest, build_study
from rating.study_setup import RaterSpec, add_rater
from tests.support.protocol_support import zero_errors
from tests.test_rating_setup import _toy_data

PLANTED = "Large left pneumothorax with mediastinal shift."


@pytest.mark.parametrize("text, expected", [
    ("significant error in category b", {"kind": "error", "clinically_significant": True,
                                         "category": "missed_finding"}),
    ("Insignificant error in category wrong_location", {"kind": "error", "clinically_significant": False,
                                                        "category": "wrong_location"}),
    ("error", {"kind": "error", "clinically_significant": None, "category": None}),
    ("no error", {"kind": "no_error", "clinically_significant": None, "category": None}),
])
def test_expected_answers_are_read(text, expected):
    got = parse_expected(text)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("content, message", [
    ("case_id,planted_text\nx,y\n", "missing column: expected"),
    ("case_id,planted_text,expected\nc001,,error\n", "must not be empty"),
    ("case_id,planted_text,expected\nc001,text,error in category z\n", "unknown error category 'z'"),
    ("case_id,planted_text,expected\nc001,text,looks fine\n", "cannot read the expected answer"),
    ("case_id,planted_text,expected\nc001,a,error\nc001,b,error\n", "listed twice"),
])
def test_a_bad_gold_file_is_refused_with_the_line(tmp_path, content, message):
    path = tmp_path / "gold.csv"
    path.write_text(content)
    with pytest.raises(GoldFileError, match=message):
        read_gold_file(path)


@pytest.fixture
def gold_study(tmp_path):
    data, db = tmp_path / "reports.csv", tmp_path / "gold.db"
    _toy_data(data)
    from reports.dataset import load_split
    gold_id = load_split(data).train[0].id  # any report of the file, here one outside the sampled split
    (tmp_path / "gold.csv").write_text(f"case_id,planted_text,expected\n{gold_id},{PLANTED},"
                                       "significant error in category b\n")
    factory = make_session_factory(prepare_database(str(db)))
    created = build_study(factory, StudyRequest(name="gold", raters=("Dr A", "Dr B", "Dr C"), data_path=str(data),
                                                n=4, systems=("constant",), include_reference=True, k=1,
                                                protocols="likert,errors", gold_path=str(tmp_path / "gold.csv")),
                          cache=None)
    yield created, factory, gold_id
    factory.kw["bind"].dispose()


def test_the_gold_case_is_in_every_queue_and_looks_like_any_case(gold_study):
    created, factory, gold_id = gold_study
    with unit_of_work(factory) as s:
        gold = s.scalar(select(GoldCase))
        case = s.get(Case, gold.case_id)
        assert case.source_id == gold_id and not case.calibration
        assert s.get(Output, gold.output_id).text == PLANTED
        assert gold.expected["category"] == "missed_finding" and gold.expected["clinically_significant"] is True
        queues = {r.name: [a.case_id for a in r.assignments] for r in s.scalars(select(Rater))}
        assert all(gold.case_id in q for q in queues.values())  # every rater, though k = 1
        sizes = {len(a.label_order) for a in s.scalars(select(Assignment).where(Assignment.case_id == gold.case_id))}
        assert sizes == {2}  # one candidate per system, as in any case (the planted text replaced one)
        add_rater(s, created.study_id, RaterSpec("Dr D"))
        late = s.scalar(select(Rater).where(Rater.name == "Dr D"))
        assert gold.case_id in [a.case_id for a in late.assignments]  # a rater invited later gets it too


def _rate_all(service, token, planted_error: bool, factory):
    view = service.resume(token)
    while not view.finished:
        with unit_of_work(factory) as s:
            rater = s.scalar(select(Rater).where(Rater.name == view.rater_name))
            a = s.scalar(select(Assignment).where(Assignment.rater_id == rater.id,
                                                  Assignment.position == view.position))
            planted = s.scalar(select(GoldCase.output_id).where(GoldCase.case_id == a.case_id))
            labels = {oid: chr(65 + i) for i, oid in enumerate(a.label_order)}
        errors = {c.label: zero_errors() for c in view.candidates}
        likert = [{"label": c.label, "understandability": 4, "coherence": 4, "relevance": 4, "conciseness": 4,
                   "clinical_utility": 4} for c in view.candidates]
        if planted is not None and planted_error:
            errors[labels[planted]]["counts"]["missed_finding.s"] = 1
        view = service.submit(token, view.position, likert, 0, {"errors": errors})


def test_gold_accuracy_per_rater_gold_left_out_of_statistics_and_failing_raters_excluded(gold_study):
    created, factory, _ = gold_study
    service = RatingService(factory)
    _rate_all(service, created.rater_tokens["Dr A"], True, factory)
    _rate_all(service, created.rater_tokens["Dr B"], False, factory)
    _rate_all(service, created.rater_tokens["Dr C"], True, factory)
    config = AnalysisConfig(n_bootstrap=50, n_bootstrap_alpha=20)
    with unit_of_work(factory) as s:
        likert, extra = analyze_study_with_protocols(s, created.study_id, config)
        gold_case = s.scalar(select(GoldCase.case_id))
        _, strict = analyze_study_with_protocols(s, created.study_id, config, min_gold_accuracy=0.5)
        _, by_pi = analyze_study_with_protocols(s, created.study_id, config, exclude_raters=("R03",))
        with pytest.raises(ValueError, match="no rater R09"):
            analyze_study_with_protocols(s, created.study_id, config, exclude_raters=("R09",))
    accuracy = extra.summaries["gold_accuracy"].set_index("rater")
    # each rater answered the gold case under both protocols (likert: the significant-error flag was not set)
    assert accuracy.loc["R01", "n_gold_answers"] == 2 and accuracy.loc["R01", "n_correct"] == 1
    assert accuracy.loc["R02", "n_correct"] == 0
    answers = extra.summaries["gold_answers"]
    assert set(answers.loc[answers["protocol"] == "errors", "correct"]) == {True, False}
    # never in Figure 4, comparisons or the error summaries; still in the tidy tables
    assert gold_case in set(likert.ratings["case_id"]) and gold_case in set(extra.errors["case_id"])
    assert likert.figure4["n_cases"].max() == 4
    n_reports = extra.summaries["errors_per_report"]["n_reports"].sum()
    assert n_reports == 4 * 2  # 4 sampled cases x 2 systems, k = 1: the gold case's 3 x 2 reports left out
    assert strict.excluded_raters == ["R02"]  # 1 of 2 right is 0.5 and passes; 0 of 2 fails
    assert any("below 0.5: R02" in n for n in strict.notes)
    assert by_pi.excluded_raters == ["R03"] and any("Left out by the PI: R03" in n for n in by_pi.notes)
    kept = strict.summaries["errors_per_report"]["n_reports"].sum()
    assert kept < n_reports  # R02's reports are left out of the error summaries
