"""Tuning-set options of issue 20: oversampling abnormal reports and targets that restate the findings."""
from __future__ import annotations

import pytest

from core.consistency import check
from core.omissions import check as omissions
from core.records import Report
from training.config import FinetuneConfig
from training.instruct_data import tuning_reports

ABNORMAL = Report("1", "There is a large left pneumothorax. Heart size normal.", "No acute cardiopulmonary abnormality.",
                  "test")
CHRONIC = Report("2", "Stable cardiomegaly. Lungs clear.", "Stable cardiomegaly. No acute disease.", "test")
NORMAL = Report("3", "Heart size normal. Lungs clear.", "No acute disease.", "test")


def test_defaults_leave_the_tuning_set_unchanged():
    assert tuning_reports([ABNORMAL, CHRONIC, NORMAL]) == [ABNORMAL, CHRONIC, NORMAL]


def test_abnormal_reports_are_repeated():
    out = tuning_reports([ABNORMAL, NORMAL], abnormal_oversample=3)
    assert [r.id for r in out] == ["1", "1", "1", "3"]


def test_restated_targets_keep_the_findings_without_contradiction():
    out = tuning_reports([ABNORMAL, CHRONIC, NORMAL], restate_findings=True)
    assert out[0].impression == "A large left pneumothorax. Otherwise, no acute cardiopulmonary abnormality."
    assert out[1].impression == "Stable cardiomegaly. Otherwise, no acute disease."
    assert out[2] == NORMAL
    for r in out:
        assert omissions(r.findings, r.impression).complete and check(r.impression, r.findings).consistent


def test_config_refuses_a_zero_oversample():
    with pytest.raises(ValueError, match="finetune.abnormal_oversample"):
        FinetuneConfig(abnormal_oversample=0)
