"""Rule-based CheXpert labeler and the clinical F1 metric (core.clinical, training.clinical)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import clinical
from core.clinical import (COLUMNS, OBSERVATIONS, corpus_counts, corpus_scores, label_report, label_reports,
                           per_observation_f1, per_report_scores, report_scores)
from core.metrics import rouge_pair

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ROOT / "tests" / "data" / "clinical_sentences.jsonl"
EXPECTED_NAMES = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity",
                  "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
                  "Pleural Other", "Fracture", "Support Devices"]


def _sentences() -> list[dict]:
    rows = [json.loads(line) for line in SENTENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        assert set(row["labels"]) <= set(OBSERVATIONS), row
        assert set(row["labels"].values()) <= {1, 0, -1}, row
    return rows


def _only(**labels) -> dict:
    names = {k.replace("_", " "): v for k, v in labels.items()}
    return {o: names.get(o) for o in OBSERVATIONS}


# ------------------------------------------------------------------ the labelled sentence set

def test_sentence_set_is_large_and_covers_the_rules():
    rows = _sentences()
    assert len(rows) >= 150
    texts = " | ".join(r["text"].lower() for r in rows)
    for phrase in ("no ", "without", "free of", "negative for", "resolved", "clear of", "not seen",
                   "may represent", "cannot exclude", "possible", "suggestive of", "versus",
                   "enlarged heart", "cardiac enlargement", "heart size is enlarged", "pleural fluid",
                   "blunting of the costophrenic", "infiltrate", "airspace disease", "pacemaker", "et tube",
                   "picc", "sternotomy wires", "xxxx"):
        assert phrase in texts, phrase
    for value in (1, 0, -1):
        assert sum(value in r["labels"].values() for r in rows) >= 20


def test_labeler_accuracy_on_sentence_set():
    rows = _sentences()
    cells = cells_right = mentioned = mentioned_right = exact = 0
    misses = []
    for row in rows:
        expected = {o: row["labels"].get(o) for o in OBSERVATIONS}
        got = label_report(row["text"])
        cells += len(OBSERVATIONS)
        cells_right += sum(expected[o] == got[o] for o in OBSERVATIONS)
        in_play = [o for o in OBSERVATIONS if expected[o] is not None or got[o] is not None]
        mentioned += len(in_play)
        mentioned_right += sum(expected[o] == got[o] for o in in_play)
        exact += expected == got
        if expected != got:
            misses.append((row["text"], {o: (expected[o], got[o]) for o in in_play if expected[o] != got[o]}))
    cell_acc, mention_acc, sentence_acc = cells_right / cells, mentioned_right / mentioned, exact / len(rows)
    print(f"\nCheXpert rules on {len(rows)} labelled sentences: observation accuracy {cell_acc:.4f} "
          f"(all 14 x {len(rows)}), on observations mentioned by either side {mention_acc:.4f} ({mentioned}), "
          f"sentences fully right {sentence_acc:.4f}")
    for text, diff in misses:
        print(f"  miss: {text!r} (expected, got) {diff}")
    assert cell_acc >= 0.95
    assert mention_acc >= 0.90
    assert sentence_acc >= 0.85


# ------------------------------------------------------------------ known answers

@pytest.mark.parametrize("text, expected", [
    ("No acute cardiopulmonary abnormality.", _only(No_Finding=1)),
    ("No active disease.", _only(No_Finding=1)),
    ("Clear lungs. No acute cardiopulmonary abnormality.", _only(No_Finding=1, Lung_Opacity=0)),
    ("Hyperexpanded but clear lungs.", _only(No_Finding=1, Lung_Opacity=0)),
    ("Stable cardiomegaly without acute cardiopulmonary abnormality.", _only(Cardiomegaly=1)),
    ("Small bilateral pleural effusions.", _only(Pleural_Effusion=1)),
    ("Right upper lobe pneumonia.", _only(Pneumonia=1)),
    ("No focal lung opacity, pleural effusion of pneumothorax.",
     _only(No_Finding=1, Lung_Opacity=0, Pleural_Effusion=0, Pneumothorax=0)),
    ("Stable cardiomegaly without gross evidence for failure or pneumonia.",
     _only(Cardiomegaly=1, Edema=0, Pneumonia=0)),
])
def test_real_openi_impressions(openi_csv_path, text, expected):
    import pandas as pd

    impressions = set(pd.read_csv(openi_csv_path, usecols=["impression"])["impression"].dropna().str.strip())
    assert text in impressions, "the known answer must be a real OpenI impression"
    assert label_report(text) == expected


def test_uncertainty_negation_and_scope():
    assert label_report("Pleural effusion cannot be excluded.")["Pleural Effusion"] == -1
    assert label_report("Cannot exclude pneumonia.")["Pneumonia"] == -1
    assert label_report("No change in the small left pleural effusion.")["Pleural Effusion"] == 1
    labels = label_report("No pleural effusion, but there is mild cardiomegaly.")
    assert (labels["Pleural Effusion"], labels["Cardiomegaly"], labels["No Finding"]) == (0, 1, None)
    labels = label_report("Atelectasis versus infiltrate.")
    assert (labels["Atelectasis"], labels["Lung Opacity"]) == (-1, -1)
    assert label_report("Sternotomy wires. No acute disease.")["No Finding"] == 1  # devices do not count


def test_blank_and_bad_input():
    assert label_report("") == _only()
    assert label_report(None) == _only()
    assert label_reports(["   ", "Cardiomegaly."])[1]["Cardiomegaly"] == 1
    with pytest.raises(TypeError):
        label_report(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        per_report_scores(["a"], ["a", "b"])


def test_keyword_gate_changes_no_label(openi_csv_path):
    import pandas as pd

    frame = pd.read_csv(openi_csv_path, usecols=["findings", "impression"]).fillna("")
    texts = [r["text"] for r in _sentences()] + list(frame["impression"]) + list(frame["findings"])[:600]
    differing = [t for t in texts if clinical._scan(t) != clinical._scan(t, gated=False)]
    assert differing == []


# ------------------------------------------------------------------ the metric

def test_f1_against_hand_counts():
    predictions = ["Cardiomegaly. No pleural effusion. Bibasilar atelectasis.",
                   "No active disease.",
                   "No acute disease."]
    references = ["Cardiomegaly. Small right pleural effusion.",
                  "No acute cardiopulmonary abnormality.",
                  "Possible left lower lobe pneumonia."]
    # A: TP Cardiomegaly, FP Atelectasis, FN Pleural Effusion.  B: TP No Finding.
    # C: FP No Finding, FN Pneumonia (uncertain counts as positive).
    rows = per_report_scores(predictions, references)
    assert rows[0] == pytest.approx({"chexpert_micro_f1": 0.5, "chexpert_macro_f1": 1 / 3,
                                     "chexpert_micro_f1_top5": 0.5, "chexpert_macro_f1_top5": 1 / 3})
    assert rows[1] == pytest.approx({c: 1.0 for c in COLUMNS})
    assert rows[2] == pytest.approx({"chexpert_micro_f1": 0.0, "chexpert_macro_f1": 0.0,
                                     "chexpert_micro_f1_top5": 1.0, "chexpert_macro_f1_top5": 1.0})
    counts = corpus_counts(predictions, references)
    assert (counts.tp["No Finding"], counts.fp["No Finding"], counts.fn["Pneumonia"]) == (1, 1, 1)
    # Pooled: TP 2, FP 2, FN 2 -> 0.5; macro over CM 1, AT 0, PE 0, NF 2/3, PN 0 -> 1/3.
    assert corpus_scores(predictions, references) == pytest.approx(
        {"chexpert_micro_f1": 0.5, "chexpert_macro_f1": 1 / 3,
         "chexpert_micro_f1_top5": 0.5, "chexpert_macro_f1_top5": 1 / 3})
    f1 = per_observation_f1(predictions, references)
    assert f1["No Finding"] == pytest.approx(2 / 3) and f1["Cardiomegaly"] == 1.0
    assert f1["Edema"] != f1["Edema"]  # NaN: positive nowhere
    strict = report_scores(predictions[2], references[2], uncertain_as_positive=False)
    assert strict["chexpert_micro_f1"] == 0.0  # prediction says No Finding, reference does not


def test_clinical_f1_disagrees_where_rouge_agrees():
    rouge = rouge_pair("No pneumothorax.", "Pneumothorax.")["rouge1"]
    clinical_f1 = report_scores("No pneumothorax.", "Pneumothorax.")["chexpert_micro_f1"]
    print(f"\n'No pneumothorax.' vs 'Pneumothorax.': ROUGE-1 {rouge:.3f}, CheXpert micro F1 {clinical_f1:.3f}")
    assert rouge >= 0.6
    assert clinical_f1 == 0.0
    assert report_scores("Pneumothorax.", "Small left pneumothorax.")["chexpert_micro_f1"] == 1.0


def test_metric_is_registered_for_evaluate():
    from training.metric_registry import active_metrics, score_reports

    metric = {m.name: m for m in active_metrics()}["chexpert"]
    assert metric.columns == COLUMNS and metric.corpus is not None
    rows = score_reports([metric], ["No pneumothorax."], ["Pneumothorax."])
    assert rows == [{"chexpert_micro_f1": 0.0, "chexpert_macro_f1": 0.0,
                     "chexpert_micro_f1_top5": 1.0, "chexpert_macro_f1_top5": 1.0}]


# ------------------------------------------------------------------ the CLI

def test_cli_labels_stdin_lines():
    lines = ["No acute cardiopulmonary abnormality.", "Small left effusion. Possible pneumonia.", "",
             "Heart size is normal. No pneumothorax."]
    done = subprocess.run([sys.executable, "-m", "training.clinical"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == len(lines)
    for row in out:
        assert list(row) == EXPECTED_NAMES
        assert all(v in (1, 0, -1, None) for v in row.values())
    assert out[0] == _only(No_Finding=1)
    assert (out[1]["Pleural Effusion"], out[1]["Pneumonia"], out[1]["No Finding"]) == (1, -1, None)
    assert out[2] == _only()
    assert (out[3]["Cardiomegaly"], out[3]["Pneumothorax"], out[3]["No Finding"]) == (0, 0, 1)


def test_cli_rejects_non_utf8_input():
    done = subprocess.run([sys.executable, "-m", "training.clinical"], input=b"\xff\xfe broken\n",
                          capture_output=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert b"not UTF-8" in done.stderr and done.stdout == b""


def test_study_analysis_gets_the_same_columns():
    from rating.analysis.metrics import clinical_columns

    frame = clinical_columns(["No pneumothorax.", "Cardiomegaly."], ["Pneumothorax.", "Cardiomegaly."])
    assert list(frame.columns) == list(COLUMNS)
    assert frame["chexpert_micro_f1"].tolist() == [0.0, 1.0]
