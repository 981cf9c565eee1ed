"""The workload estimate counts what each rater will be shown (issue 18): hidden repeats as cases, and
identical texts of several systems as the one candidate they are merged into."""
from __future__ import annotations

from db.engine import make_session_factory, prepare_database, unit_of_work
from rating.study_setup import RaterSpec, StudySpec, SystemOutputs, create_study
from rating.workload import rater_workloads, workload_lines
from tests.support.rating_support import toy_cases


def test_workload_counts_repeats_and_merged_identical_texts_as_shown(tmp_path):
    cases = toy_cases(6)
    same = {c.id: f"Same words for {c.id}." for c in cases}
    outputs = {"a": SystemOutputs("baseline", dict(same)), "b": SystemOutputs("baseline", dict(same)),
               # system c agrees with a and b on the first three cases only
               "c": SystemOutputs("baseline", {c.id: same[c.id] if i < 3 else f"Other words {i}."
                                               for i, c in enumerate(cases)}),
               "d": SystemOutputs("baseline", {c.id: f"Fourth system {c.id}." for c in cases})}
    factory = make_session_factory(prepare_database(str(tmp_path / "w.db")))
    with unit_of_work(factory) as session:
        created = create_study(session, StudySpec(name="merged", seed=1, n_repeats=2), cases, outputs,
                               [RaterSpec("Dr A")])
    with unit_of_work(factory) as session:
        (load,) = rater_workloads(session, created.study_id)
    # 6 cases + 2 hidden repeats; a case shows 2 candidates (a=b=c, d) or 3 (a=b, c, d)
    assert load.n_cases == 8
    assert 8 * 2 <= load.n_ratings <= 8 * 3, load  # not 4 outputs per case
    assert load.n_repeats == 2 and (load.min_candidates, load.max_candidates) == (2, 3)
    line = workload_lines([load])[1]
    assert "8 cases (2 of them hidden repeats) x 2-3 candidates" in line, line
    assert f"= {load.n_ratings} ratings" in line
