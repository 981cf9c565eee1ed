"""The omission check (core.omissions) and its use in reranking and evaluation."""
from __future__ import annotations

import pytest

from core.omissions import check, complete, markdown, omission_rates, rewrite_sentence

README_EXAMPLE = ("The heart is enlarged. There is a large right pleural effusion with adjacent atelectasis. "
                  "No pneumothorax.")

# The abnormal findings of the issue and the observations an impression must keep.
ABNORMAL = [
    (README_EXAMPLE, {"Cardiomegaly", "Pleural Effusion", "Atelectasis"}, "Cardiomegaly, but no focal consolidation."),
    ("Large left pneumothorax with partial collapse of the left lung. Heart size normal.", {"Pneumothorax"},
     "Clear lungs. No acute cardiopulmonary abnormality."),
    ("Acute displaced fracture of the right posterior sixth rib. No pneumothorax. Lungs clear.", {"Fracture"},
     "Negative for acute abnormality."),
    ("A 2.5 cm spiculated nodule in the left upper lobe. Heart size normal.", {"Lung Lesion"}, "No active disease."),
    ("Dense consolidation in the right lower lobe. No pleural effusion.", {"Consolidation"},
     "No acute cardiopulmonary abnormalities."),
]


def test_check_lists_what_the_impression_leaves_out_and_adds():
    result = check(README_EXAMPLE, "Cardiomegaly, but no focal consolidation.")
    assert result.omitted == ("Atelectasis", "Pleural Effusion")
    assert result.findings_positive == ("Cardiomegaly", "Atelectasis", "Pleural Effusion")
    assert result.added == ()
    assert check("Heart size normal. Lungs clear.", "Large right pleural effusion.").added == ("Pleural Effusion",)
    assert check("Heart size normal. Lungs clear.", "No acute disease.").complete


def test_a_finding_on_the_wrong_side_counts_as_omitted():
    assert check("Small right pleural effusion.", "Small left pleural effusion.").omitted == ("Pleural Effusion",)
    assert check("Small right pleural effusion.", "Right effusion.").complete
    assert check("Small right pleural effusion.", "Small effusion.").complete  # no side stated: not contradicted


@pytest.mark.parametrize("findings,keep,dropped_by_model", ABNORMAL)
def test_complete_keeps_every_positive_observation(findings, keep, dropped_by_model):
    before = check(findings, dropped_by_model)
    assert before.omitted, "the example must start incomplete"
    fixed = complete(findings, dropped_by_model)
    after = check(findings, fixed)
    assert after.complete and set(after.findings_positive) >= keep and after.added == ()
    assert len(fixed) < len(findings) + len(dropped_by_model)  # the findings' normal sentences are not copied


def test_complete_drops_a_sentence_that_denies_a_kept_finding_and_keeps_sides():
    fixed = complete("Small right pleural effusion. Heart normal.", "No pleural effusion. Heart size normal.")
    assert fixed == "Small right pleural effusion. Heart size normal."
    assert complete("Lungs clear.", "No acute disease.") == "No acute disease."


def test_rewrite_makes_a_findings_sentence_read_like_an_impression():
    assert rewrite_sentence("There is a large right pleural effusion.") == "A large right pleural effusion."
    assert rewrite_sentence("Left basilar atelectasis is seen.") == "Left basilar atelectasis."


def test_markdown_and_rates():
    text = markdown(check(README_EXAMPLE, "The heart is enlarged."))
    assert "Missing from the impression: Atelectasis, Pleural Effusion" in text
    rows = omission_rates([README_EXAMPLE, "Lungs clear."], ["The heart is enlarged.", "Pleural effusion."])
    assert [r["omission_rate"] for r in rows] == [1.0, 0.0] and [r["addition_rate"] for r in rows] == [0.0, 1.0]
    with pytest.raises(ValueError):
        omission_rates(["a"], [])


def test_evaluate_registers_omission_and_verbatim_columns():
    from training.metric_registry import active_metrics, columns, score_reports

    metrics = active_metrics()
    assert {"omission_rate", "addition_rate", "verbatim_train"} <= set(columns(metrics))
    rows = score_reports(metrics, ["The heart is enlarged.", "No acute disease."], ["x", "y"],
                         context={"findings": [README_EXAMPLE, "Lungs clear."], "train_impressions": {"No acute disease."}})
    assert [r["omission_rate"] for r in rows] == [1.0, 0.0] and [r["verbatim_train"] for r in rows] == [0.0, 1.0]


def test_calcified_granulomas_are_not_counted_as_lesions_but_a_nodule_is():
    assert check("Calcified granuloma in the right upper lobe. Lungs otherwise clear.", "No acute disease.").complete
    assert check("Noncalcified 8 mm nodule in the right upper lobe.", "No acute disease.").omitted == ("Lung Lesion",)


def test_complete_drops_a_sentence_that_asserts_what_the_findings_deny():
    findings = "Large left pneumothorax with partial collapse of the left lung. Heart size normal."
    fixed = complete(findings, "Stable cardiomegaly. No acute disease.")
    assert fixed == "Large left pneumothorax with partial collapse of the left lung. No acute disease."
    assert check(findings, fixed).complete and check(findings, fixed).added == ()
    assert complete("Heart size normal.", "Cardiomegaly.") == "Cardiomegaly."  # nothing would be left: unchanged


def test_complete_drops_a_mass_the_findings_never_describe():
    findings = "Large left pneumothorax with partial collapse of the left lung. Heart size normal."
    fixed = complete(findings, "Suspected left hilar mass with obstructive atelectasis. Recommend CT.")
    assert "mass" not in fixed and check(findings, fixed).complete and check(findings, fixed).added == ()
    assert complete("Left lower lobe airspace opacity.", "Left lower lobe pneumonia.") == "Left lower lobe pneumonia."


def test_a_follow_up_of_a_dropped_sentence_goes_with_it():
    """The shipped model answered the pneumothorax example "... Thorax for further characterization.": the
    retrieved "Suspected left hilar mass ... XXXX thorax for further characterization." lost its mass sentence
    and kept the follow-up that only meant something beside it."""
    findings = "Large left pneumothorax with partial collapse of the left lung. Heart size normal."
    retrieved = "Suspected left hilar mass with obstructive atelectasis. XXXX thorax for further characterization."
    assert complete(findings, retrieved) == "Large left pneumothorax with partial collapse of the left lung."
    assert complete(findings, "Stable cardiomegaly. Correlate clinically. No acute disease.") == \
        "Large left pneumothorax with partial collapse of the left lung. No acute disease."
    # a follow-up of a sentence that stays, stays
    kept = complete("Right lower lobe opacity.", "Right lower lobe pneumonia. Recommend follow-up to resolution.")
    assert kept == "Right lower lobe pneumonia. Recommend follow-up to resolution."


def test_an_observation_read_from_the_findings_on_a_side_none_of_them_has_is_added_and_dropped():
    """Read in the Generate tab: findings "Right lower lobe consolidation with a small right pleural effusion." ->
    "... Bibasilar pneumonia." (a retrieved impression): a pneumonia on the left no finding describes."""
    findings = "Right lower lobe consolidation with a small right pleural effusion. Heart size normal."
    assert check(findings, "Right lower lobe consolidation with a small right pleural effusion. "
                           "Bibasilar pneumonia.").added == ("Pneumonia",)
    assert check(findings, "Left lower lobe pneumonia. Small right pleural effusion.").added == ("Pneumonia",)
    assert complete(findings, "Bibasilar pneumonia. Small right pleural effusion.") == \
        "Right lower lobe consolidation with a small right pleural effusion. Small right pleural effusion."
    # the same side, or no side, is a reading of the findings, not an addition
    assert check(findings, "Right lower lobe pneumonia with a small right effusion.").added == ()
    assert check(findings, "Pneumonia with a small right effusion.").added == ()
    assert check("Bibasilar opacities.", "Bilateral lower lobe pneumonia.").added == ()


def test_completion_drops_a_sentence_that_adds_what_the_findings_never_describe():
    """Seen from a fresh clone: the retrieval stand-in answered "There is a large left pneumothorax. Heart size
    normal." with "A large left pneumothorax. Multilobar airspace consolidation." (a consolidation no finding
    describes, and nothing in the findings to read it from)."""
    findings = "There is a large left pneumothorax. Heart size normal."
    fixed = complete(findings, "Multilobar airspace consolidation.")
    assert fixed == "A large left pneumothorax.", fixed
    assert check(findings, fixed).added == () and check(findings, fixed).complete
    # what may be read from the findings stays: pneumonia from an opacity on the same side
    assert complete("Right lower lobe opacity.", "Right lower lobe pneumonia.") == "Right lower lobe pneumonia."
    # nothing else left: unchanged (never an empty answer)
    assert complete("Heart size normal.", "Multilobar airspace consolidation.") == "Multilobar airspace consolidation."
