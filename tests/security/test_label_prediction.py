"""Attack: recompute every label order from the public code and the (small, public) study seed.

Before the fix, the order came from random.Random(f"{seed}|{rater}|{case}|{repeat}|labels") over
the output ids, and outputs were inserted system by system in alphabetical order: knowing the
seed (or brute-forcing it) predicted every label, and the ids alone told the systems apart.
"""
from __future__ import annotations

import random

from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Assignment, Output, Rater, Study, System
from tests.support.rating_support import make_study


def _old_label_order(seed, rater_name, case_key, repeat_index, output_keys):
    order = sorted(output_keys, key=str)
    random.Random("|".join(str(p) for p in (seed, rater_name, case_key, repeat_index, "labels"))).shuffle(order)
    return order


def test_label_orders_cannot_be_recomputed_from_the_seed(tmp_path):
    db = tmp_path / "s.db"
    make_study(db, n_raters=4, n_cases=12, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as session:
        seed = session.scalar(select(Study.seed))
        outputs_by_case: dict[int, list[int]] = {}
        for case_id, output_id in session.execute(select(Output.case_id, Output.id)):
            outputs_by_case.setdefault(case_id, []).append(output_id)
        rows = session.execute(select(Rater.name, Assignment.case_id, Assignment.repeat_index, Assignment.label_order)
                               .join(Rater)).all()
        hits = sum(_old_label_order(seed, name, case_id, rep, outputs_by_case[case_id]) == list(order)
                   for name, case_id, rep, order in rows)
        # brute force over the seeds an admin is likely to pick: none predicts most orders
        best_other = max(sum(_old_label_order(s, name, case_id, rep, outputs_by_case[case_id]) == list(order)
                             for name, case_id, rep, order in rows) for s in range(0, 50))
    assert len(rows) == 48
    # 3 candidates: a random order matches a prediction 1 time in 6 (8 of 48 expected)
    assert hits < len(rows) // 2, f"{hits} of {len(rows)} label orders recomputed from seed {seed}"
    assert best_other < len(rows) // 2


def test_output_ids_do_not_follow_the_systems(tmp_path):
    db = tmp_path / "s.db"
    make_study(db, n_raters=1, n_cases=20, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as session:
        rows = session.execute(select(Output.case_id, Output.id, System.name).join(System)).all()
    by_case: dict[int, list[tuple[int, str]]] = {}
    for case_id, output_id, system in rows:
        by_case.setdefault(case_id, []).append((output_id, system))
    patterns = {tuple(name for _, name in sorted(pairs)) for pairs in by_case.values()}
    # inserted system by system, every case lists its outputs in one system order; random order gives many
    assert len(patterns) > 1, f"output ids follow one system order in all {len(by_case)} cases: {patterns}"
