"""report.md: the paragraph's numbers read back and checked against the ratings and the tables."""
from __future__ import annotations

import re

import pytest

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERION_TITLES
from rating.analysis.config import AnalysisConfig
from rating.analysis.report import PRIMARY_CRITERION, methods_paragraph
from rating.analysis.summary import analyze_study
from rating.analysis.tables import METRIC_LABELS
from rating.simulate import SimulationConfig, simulate_study


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    factory = make_session_factory(prepare_database(str(tmp_path_factory.mktemp("report") / "s.db")))
    with unit_of_work(factory) as session:
        result = simulate_study(session, SimulationConfig(seed=8, n_cases=18, n_raters=4, k=2, n_repeats=2))
    with factory() as session:
        return analyze_study(session, result.study_id, AnalysisConfig(n_bootstrap=200, n_bootstrap_alpha=30))


def _num(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, f"not in the paragraph: {pattern}"
    return found.group(1)


def test_counts_in_the_paragraph_are_those_of_the_ratings(analysis):
    text = methods_paragraph(analysis)
    r = analysis.ratings
    first = r[r["repeat_index"] == 0]
    assert int(_num(r"(\d+) cases", text)) == first["case_id"].nunique() == 18
    assert int(_num(r"summarised by (\d+) systems", text)) == len(analysis.systems)
    assert int(_num(r"(\d+) raters", text)) == r["rater"].nunique() == 4
    assert int(_num(r"holds (\d+) ratings", text)) == len(r)
    assert int(_num(r"(\d+) first ratings", text)) == len(first)
    assert int(_num(r"of (\d+) outputs", text)) == first["output_id"].nunique()
    assert int(_num(r"(\d+) hidden repeats", text)) == (r["repeat_index"] == 1).sum() > 0
    assert int(_num(r"(\d+) calibration cases", text)) == first.loc[first["calibration"], "case_id"].nunique()
    assert _num(r"allocated to (\d+) of the", text) == "2"
    assert _num(r"\(([\d,]+) resamples", text) == "200"
    assert "Holm" in text and "rank-biserial" in text and "Kendall's tau-b" in text and "ICC(2,1)" in text
    assert "18 cases from a simulated data set were" in text  # the source named for a reader, not "from simulated"


def test_results_in_the_paragraph_are_those_of_the_tables(analysis):
    text = methods_paragraph(analysis)
    fig = analysis.figure4[analysis.figure4["criterion"] == PRIMARY_CRITERION]
    for row in fig.itertuples():
        name = re.escape(analysis.display_names[row.system])
        mean, low, high = re.search(name + r" ([\d.]+) \(95% CI ([\d.]+) to ([\d.]+)\)", text).groups()
        assert (mean, low, high) == (f"{row.mean:.2f}", f"{row.ci_low:.2f}", f"{row.ci_high:.2f}")
    cmp = analysis.comparisons
    assert re.search(rf"{int(cmp['significant'].sum())} of {len(cmp)} paired comparisons", text)
    alpha = analysis.agreement
    low = alpha.loc[alpha["alpha"].idxmin()]
    assert f"from {low.alpha:.2f} ({CRITERION_TITLES[low.criterion]}" in text
    icc = analysis.icc[analysis.icc["icc_type"] == "ICC2"].dropna(subset=["icc"])
    high = icc.loc[icc["icc"].idxmax()]
    assert f"to {high.icc:.2f} ({CRITERION_TITLES[high.criterion]}, 95% CI {high.ci_low:.2f} to {high.ci_high:.2f})" \
        in text
    mv = analysis.metric_validity
    out = mv[(mv["level"] == "output") & (mv["criterion"] == PRIMARY_CRITERION)].dropna(subset=["kendall_tau_b"])
    best = out.loc[out["kendall_tau_b"].idxmax()]
    assert (f"{METRIC_LABELS.get(best.metric, best.metric)} (Kendall's tau-b {best.kendall_tau_b:.2f}, "
            f"95% CI {best.ci_low:.2f} to {best.ci_high:.2f}, n = {best.n})") in text


def test_every_automatic_metric_of_the_export_has_a_display_name():
    """leave_one_reader_out.csv showed "contradiction_rate" beside "Omission rate": every metric column the
    analysis computes is named for a reader, never by its column name."""
    from rating.analysis.metrics import CLINICAL_PREFIX, CONTRADICTION_COLUMNS, OMISSION_COLUMNS, ROUGE_COLUMNS
    from rating.analysis.tables import METRIC_LABELS

    clinical = [f"{CLINICAL_PREFIX}{k}" for k in ("micro_f1", "macro_f1", "micro_f1_top5", "macro_f1_top5")]
    for column in (*ROUGE_COLUMNS, *OMISSION_COLUMNS, *CONTRADICTION_COLUMNS, *clinical):
        assert column in METRIC_LABELS and METRIC_LABELS[column] != column, column
