"""The consistency check (core.consistency): impressions that contradict themselves or their findings."""
from __future__ import annotations

import pytest

from core.consistency import (
    DENIES_FINDINGS,
    DENIES_OWN,
    NORMAL_STUDY,
    OTHERWISE_NORMAL,
    check,
    contradiction_rates,
    make_consistent,
    markdown,
    normal_scope,
    qualify,
)
from core.impression_style import by_importance, finding_clauses, impression_style, remove_deid, without_deid_marks

PNEUMOTHORAX = "Large left pneumothorax with partial collapse of the left lung. Heart size normal."
CONSOLIDATION = "Right lower lobe consolidation with a small right pleural effusion. Heart size normal."

# The issue's examples, as the default system wrote them.
ISSUE_EXAMPLES = [
    (PNEUMOTHORAX, ("A large left pneumothorax with partial collapse of the left lung. Clear lungs. "
                    "No acute cardiopulmonary abnormality."), NORMAL_STUDY, "Atelectasis"),
    (CONSOLIDATION, "RLL consolidation with a small right pleural effusion. Negative chest.", NORMAL_STUDY,
     "Consolidation"),
    (PNEUMOTHORAX, "Large left pneumothorax. No pneumothorax or pleural effusion.", DENIES_OWN, "Pneumothorax"),
    (PNEUMOTHORAX, "No pneumothorax. Heart size normal.", DENIES_FINDINGS, "Pneumothorax"),
]

# Real radiologists' impressions of abnormal OpenI reports that are consistent (validation split).
FINE_REFERENCES = [
    ("Stable cardiomegaly without acute cardiopulmonary disease.", None),
    ("Cardiomegaly without acute cardiopulmonary abnormality.", None),
    ("Mild cardiomegaly, no acute pulmonary findings", None),
    ("Low lung volumes, otherwise no acute cardiopulmonary abnormality.", None),
    (("Small left basilar parenchymal scarring and/or effusion. Postsurgical changes of the mediastinum. "
      "Otherwise unremarkable chest radiograph."), None),
    ("No acute pulmonary abnormality. Moderate cardiomegaly without pulmonary edema.", None),
    ("Apparent scarring within the lingula, otherwise unremarkable.", None),
    ("Pathologic fractures seen at T5 and L2. Left venous catheter in SVC.", None),
    ("Mild cardiomegaly. Chronic changes with no acute cardiopulmonary disease.", None),
    ("Stable cardiomegaly. Postsurgical changes of CABG without acute cardiopulmonary abnormality.", None),
    ("Small right pleural effusion. No left effusion.", None),
    ("Moderate cardiomegaly. Clear lungs.", None),  # lungs can be clear beside a large heart
    ("Small left pneumothorax. No large pneumothorax.", None),
    ("Patchy bibasilar opacity. No focal consolidation.", None),
    ("No acute cardiopulmonary abnormality.", "Heart size normal. Lungs clear. No pneumothorax."),
    ("No acute cardiopulmonary abnormality. Prior granulomatous infection.",
     "Calcified granulomas consistent with prior granulomatous infection. Lungs otherwise clear."),
    # the findings deny the pneumothorax as well: nothing to contradict
    ("Large right pleural effusion. No pneumothorax.", "Large right pleural effusion. No pneumothorax."),
]


@pytest.mark.parametrize("findings,impression,kind,observation", ISSUE_EXAMPLES)
def test_the_issue_examples_are_flagged(findings, impression, kind, observation):
    result = check(impression, findings)
    assert not result.consistent
    assert result.contradictions[0].kind == kind and observation in result.contradictions[0].observations


def test_both_normal_statements_of_the_pneumothorax_example_are_flagged():
    result = check(ISSUE_EXAMPLES[0][1], PNEUMOTHORAX)
    assert result.sentences == ("Clear lungs.", "No acute cardiopulmonary abnormality.")
    assert result.contradictions[0].observations == ("Atelectasis",)  # the collapse: lungs are not clear
    assert result.contradictions[1].observations == ("Atelectasis", "Pneumothorax")


def test_every_normal_statement_of_the_issue_is_found():
    findings_first = "Dense consolidation in the right lower lobe."
    for statement in ("No acute cardiopulmonary abnormality.", "Negative chest.", "Normal chest.", "No active disease.",
                      "No acute radiographic cardiopulmonary process.", "Negative chest x-XXXX.",
                      "Unremarkable examination of the chest.", "No acute or active cardiac, pulmonary or pleural disease.",
                      "Clear lungs.", "Lungs are clear.", "No acute pulmonary disease."):
        result = check(f"{findings_first} {statement}")
        assert [c.sentence for c in result.contradictions] == [statement], statement


@pytest.mark.parametrize("impression,findings", FINE_REFERENCES)
def test_consistent_impressions_are_not_flagged(impression, findings):
    assert check(impression, findings).consistent, check(impression, findings).contradictions


def test_scopes_of_normal_statements():
    assert normal_scope("No acute cardiopulmonary abnormality.") == "study"
    assert normal_scope("Negative chest.") == "study"
    assert normal_scope("Clear lungs.") == "lungs"
    assert normal_scope("No acute pulmonary disease.") == "lungs"
    assert normal_scope("No acute bony abnormality.") is None
    assert normal_scope("No displaced rib fracture.") is None
    assert normal_scope("Heart size normal.") is None
    # a lung-scoped statement does not contradict a heart or bone finding
    assert check("Mild cardiomegaly. No acute pulmonary disease.").consistent
    assert not check("Left lower lobe pneumonia. No acute pulmonary disease.").consistent
    # a normal anatomy statement before it is no subject that qualifies it
    assert not check("Right lower lobe consolidation. Heart size normal, lungs are clear.").consistent
    assert not check("Right lower lobe consolidation. The lungs are clear.").consistent


def test_denial_on_another_side_or_of_a_merely_possible_finding_is_fine():
    assert check("No right pneumothorax.", PNEUMOTHORAX).consistent
    assert not check("No left pneumothorax.", PNEUMOTHORAX).consistent
    assert check("No pleural effusion.", "Possible small left pleural effusion.").consistent


def test_make_consistent_qualifies_the_normal_statement_and_drops_denials():
    fixed = make_consistent(ISSUE_EXAMPLES[0][1], PNEUMOTHORAX)
    assert fixed == "A large left pneumothorax with partial collapse of the left lung. " + OTHERWISE_NORMAL
    assert check(fixed, PNEUMOTHORAX).consistent
    fixed = make_consistent(ISSUE_EXAMPLES[1][1], CONSOLIDATION)
    assert fixed == "RLL consolidation with a small right pleural effusion. Otherwise negative chest."
    assert check(fixed, CONSOLIDATION).consistent
    # a normal statement before the finding moves after it
    assert make_consistent("No acute disease. Stable cardiomegaly.") == "Stable cardiomegaly. Otherwise, no acute disease."
    assert make_consistent("Right lower lobe pneumonia. Clear lungs.") == "Right lower lobe pneumonia. Lungs otherwise clear."
    assert make_consistent("Large left pneumothorax. No pneumothorax or pleural effusion.") == "Large left pneumothorax."
    unchanged = "Stable cardiomegaly without acute cardiopulmonary disease."
    assert make_consistent(unchanged) == unchanged
    assert make_consistent("No pneumothorax.", PNEUMOTHORAX) == "No pneumothorax."  # nothing would be left


def test_qualified_normal_statements_read_naturally():
    assert qualify("No acute cardiopulmonary abnormality.") == "Otherwise, no acute cardiopulmonary abnormality."
    assert qualify("There is no evidence of active disease.") == "Otherwise, no evidence of active disease."
    assert qualify("Negative for acute abnormality.") == "Otherwise, negative for acute abnormality."
    assert qualify("Negative chest.") == "Otherwise negative chest." and qualify("Normal chest.") == "Otherwise normal chest."
    assert qualify("Unremarkable chest x-XXXX.") == "Otherwise unremarkable chest x-XXXX."
    assert qualify("No active disease is seen in the chest.").startswith("Otherwise, no active")
    assert qualify("Lungs are clear.") == "Lungs otherwise clear."
    for sentence in ("No acute cardiopulmonary abnormality.", "Negative chest.", "Clear lungs."):
        assert check(f"Left lower lobe pneumonia. {qualify(sentence)}").consistent


def test_impression_style_of_carried_findings_sentences():
    assert impression_style("There extremely low lung volumes.") == "Extremely low lung volumes."
    assert impression_style("there is right basilar opacity.") == "Right basilar opacity."
    assert impression_style("There are XXXX bilateral lower lobe opacities.") == "Bilateral lower lobe opacities."
    assert impression_style("There is mild, XXXX opacity projected over the left lung base.") == \
        "Mild opacity projected over the left lung base."
    assert remove_deid("Nodular density at the left costophrenic XXXX.") == "Nodular density at the left costophrenic [redacted]."
    assert "XXXX" not in impression_style("XXXX 7 XXXX nodular density at the left lung base.")
    # one finding per clause: the clauses that only deny or say normal are dropped
    assert impression_style("There is a large right pleural effusion, no pneumothorax.") == "A large right pleural effusion."
    assert finding_clauses("Heart size normal, lungs are clear.") == "Heart size normal, lungs are clear."
    assert finding_clauses("The heart is normal, small left effusion.") == "small left effusion."


def test_no_deidentification_mark_is_left_in_a_whole_impression():
    """A retrieved radiologist's impression may keep XXXX; what a visitor reads never does, and the rewrite
    never changes what the labels read (else the marks are bracketed instead)."""
    from core.clinical import label_report

    cases = {
        "XXXX bilateral lower lobe opacities. No acute disease.": "Bilateral lower lobe opacities. No acute disease.",
        "XXXX change. Hypoinflation.": "[redacted] change. Hypoinflation.",  # one word would be left
        "No acute disease.": "No acute disease.",
        "Mild, XXXX opacity at the left base.": "Mild opacity at the left base.",
    }
    for text, expected in cases.items():
        assert without_deid_marks(text) == expected
    # removal would move the negation window ("no ... XXXX blunting ... effusion"): bracketed, labels kept
    tricky = "No pleural line to suggest pneumothorax or costophrenic XXXX blunting to suggest large pleural effusion."
    out = without_deid_marks(tricky)
    assert "XXXX" not in out and label_report(out) == label_report(tricky)


def test_carried_sentences_go_most_important_first():
    ordered = by_importance(["Mild cardiomegaly.", "Small right pleural effusion.", "Large left pneumothorax."])
    assert ordered == ["Large left pneumothorax.", "Small right pleural effusion.", "Mild cardiomegaly."]


def test_rates_and_markdown():
    rows = contradiction_rates([PNEUMOTHORAX, "Lungs clear."], [ISSUE_EXAMPLES[0][1], "No acute disease."])
    assert [r["contradiction_rate"] for r in rows] == [1.0, 0.0]
    assert rows[0]["contradictions"] == 2.0  # "Clear lungs." and "No acute cardiopulmonary abnormality."
    with pytest.raises(ValueError):
        contradiction_rates(["a"], [])
    text = markdown(check(ISSUE_EXAMPLES[0][1], PNEUMOTHORAX))
    assert "normal statement (Atelectasis, Pneumothorax)" in text and "No acute cardiopulmonary abnormality." in text
    assert "no contradiction" in markdown(check("No acute disease."))


def test_evaluate_reports_a_contradict_column():
    from training.metric_registry import active_metrics, columns, score_reports

    metrics = active_metrics()
    assert "contradiction_rate" in columns(metrics)
    assert {m.name: m for m in metrics}["consistency"].header("contradiction_rate") == "Contradict %"
    rows = score_reports(metrics, [ISSUE_EXAMPLES[1][1], "RLL consolidation. " + OTHERWISE_NORMAL], ["x", "y"],
                         context={"findings": [CONSOLIDATION, CONSOLIDATION], "train_impressions": set()})
    assert [r["contradiction_rate"] for r in rows] == [1.0, 0.0]


def test_study_outputs_carry_the_contradiction_rate_per_system():
    from rating.analysis.metrics import contradiction_by_system, metric_columns, output_metrics

    texts = [ISSUE_EXAMPLES[1][1], "RLL consolidation. " + OTHERWISE_NORMAL, "No acute disease."]
    frame = output_metrics(texts, ["Right lower lobe pneumonia."] * 3, [CONSOLIDATION] * 3)
    assert frame["contradiction_rate"].tolist() == [1.0, 0.0, 0.0]
    assert "contradiction_rate" in metric_columns(frame)  # so Table 1 of the analysis reports it per system
    rates = contradiction_by_system(["a", "a", "b"], texts, [CONSOLIDATION] * 3)
    assert rates.to_dict() == {"a": 0.5, "b": 0.0}


def test_completion_does_not_say_a_finding_twice():
    """Seen on a Space start: the findings' sentence was carried in front of a chosen text stating the same
    finding ("Large right pleural effusion with adjacent atelectasis. Large right pleural effusion.")."""
    from core.consistency import complete_consistently, drop_restatements

    findings = "Large right pleural effusion with adjacent atelectasis. Heart size normal."
    assert complete_consistently(findings, "Large right pleural effusion.") == \
        "Large right pleural effusion with adjacent atelectasis."
    assert drop_restatements("Left pleural effusion. Right pleural effusion.") == \
        "Left pleural effusion. Right pleural effusion."
    assert drop_restatements("No effusion. Effusion.") == "No effusion. Effusion."  # a negation is no restatement
    assert drop_restatements("Cardiomegaly. Otherwise, no acute disease.") == "Cardiomegaly. Otherwise, no acute disease."


def test_a_normal_statement_with_its_own_subject_still_contradicts_a_finding_stated_elsewhere():
    """Read in the shipped model's validation outputs: "... effusion suggestive of the chest infection. Stable
    cardiomegaly without acute cardiopulmonary abnormality." The last sentence reads "normal" for the infection."""
    from core.consistency import split_normal

    infection = ("Onset right basal atelectasis with airspace disease and effusion suggestive of the chest infection. "
                 "Stable cardiomegaly without acute cardiopulmonary abnormality.")
    result = check(infection)
    assert not result.consistent
    assert result.contradictions[0].sentence == "Stable cardiomegaly without acute cardiopulmonary abnormality."
    assert not check("Right lower lobe pneumonia. Chronic changes with no acute disease.").consistent
    # the repair keeps the statement's own finding and qualifies the rest
    assert make_consistent(infection) == (
        "Onset right basal atelectasis with airspace disease and effusion suggestive of the chest infection. "
        "Stable cardiomegaly. Otherwise, no acute cardiopulmonary abnormality.")
    assert split_normal("Mild cardiomegaly, no acute disease.") == ("Mild cardiomegaly.", "no acute disease")
    assert split_normal("No acute disease.") == ("", "No acute disease.")
    # alone, or beside the heart only, it speaks for its subject
    for fine in ("Stable cardiomegaly without acute cardiopulmonary abnormality.",
                 "Mild cardiomegaly. Chronic changes with no acute cardiopulmonary disease.",
                 "Cardiomegaly. Stable cardiomegaly without acute disease."):
        assert check(fine).consistent, fine
