"""ICC per criterion (pingouin): Shrout & Fleiss (1979) worked example, and what is n/a."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from db.models import CRITERIA
from rating.analysis.agreement import icc_table

SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
"""Shrout & Fleiss (1979), Table 2: six targets rated by four judges. Their Table 4 gives
ICC(2,1) = 0.29 and ICC(2,4) = 0.62."""


def _tidy(matrix: np.ndarray) -> pd.DataFrame:
    rows = [{"output_id": t, "case_id": t, "rater": f"J{j}", "system": "A", "repeat_index": 0, "calibration": False,
             **{c: float(matrix[t, j]) for c in CRITERIA}}
            for t in range(matrix.shape[0]) for j in range(matrix.shape[1]) if not np.isnan(matrix[t, j])]
    return pd.DataFrame(rows)


def test_shrout_fleiss_published_values():
    table = icc_table(_tidy(SHROUT_FLEISS.astype(float)))
    assert list(table.columns[:5]) == ["criterion", "icc", "ci_low", "ci_high", "icc_type"]
    for criterion in CRITERIA:
        rows = table[table["criterion"] == criterion].set_index("icc_type")
        assert rows.loc["ICC2", "icc"] == pytest.approx(0.29, abs=0.005)
        assert rows.loc["ICC2k", "icc"] == pytest.approx(0.62, abs=0.005)
        for kind in ("ICC2", "ICC2k"):
            assert rows.loc[kind, "ci_low"] < rows.loc[kind, "icc"] < rows.loc[kind, "ci_high"]
        assert rows.loc["ICC2", "n_outputs"] == 6 and rows.loc["ICC2", "n_raters"] == 4


def test_only_outputs_rated_by_every_rater_enter_and_too_few_is_na():
    matrix = SHROUT_FLEISS.astype(float)
    partial = np.vstack([matrix, [[3, np.nan, 4, 5]]])  # a seventh target missing one judge: left out
    table = icc_table(_tidy(partial)).set_index(["criterion", "icc_type"])
    assert table.loc[("coherence", "ICC2"), "icc"] == pytest.approx(0.29, abs=0.005)
    assert table.loc[("coherence", "ICC2"), "n_outputs"] == 6
    one = icc_table(_tidy(matrix[:1]))
    assert one["icc"].isna().all() and one["note"].str.startswith("n/a: 1 output(s)").all()
    same = icc_table(_tidy(np.full((3, 2), 4.0)))
    assert same["icc"].isna().all() and (same["note"] == "n/a: every rating uses the same score").all()
