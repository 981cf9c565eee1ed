"""A study stores each system's describe() and the analysis/export show it (the "systems" sheet and
the Analysis tab's table), so a published Figure 4 says exactly what was rated."""
from __future__ import annotations

import pandas as pd

from db.engine import make_session_factory, prepare_database, unit_of_work
from rating.analysis.export import export_study
from rating.analysis.service import AnalysisService
from rating.analysis.summary import analyze_study
from rating.output_cache import OutputCache
from rating.study_request import StudyRequest, build_study
from tests.support.tiny_hf import tiny_hf_folder
from tests.support.tiny_lm import tiny_reports, write_jsonl


def test_systems_sheet_and_table_say_what_was_rated(tmp_path, one_torch_thread):
    model = tiny_hf_folder(tmp_path / "tiny-llama")
    data = write_jsonl(tmp_path / "reports.jsonl", tiny_reports(40))
    factory = make_session_factory(prepare_database(str(tmp_path / "study.db")))
    hf_spec = f"hf:{model}?dtype=float32&batch_size=4"
    created = build_study(factory, StudyRequest(name="described", raters=("Dr A",), data_path=str(data), n=4,
                                                split="train", systems=("lead", hf_spec)),
                          cache=OutputCache(tmp_path / "cache"))
    with unit_of_work(factory) as session:
        analysis = analyze_study(session, created.study_id)
    table = analysis.summary_sheets()["systems"].set_index("system")
    assert sorted(table.index) == sorted(["lead", hf_spec])
    row = table.loc[hf_spec]
    assert row["kind"] == "model" and row["model"] == str(model) and row["dtype"] == "float32"
    assert "torch" in row["versions"] and "transformers" in row["versions"] and "paper's template" in row["prompt"]
    assert table.loc["lead", "kind"] == "baseline"

    with unit_of_work(factory) as session:
        result = export_study(session, created.study_id, tmp_path / "export")
    sheet = pd.read_excel(result.files["xlsx"], sheet_name="systems").set_index("System")
    assert sheet.loc[hf_spec, "model"] == str(model) and sheet.loc[hf_spec, "dtype"] == "float32"

    from rating.admin import AdminService
    from rating.ui import analysis_tab

    secret = "s3cret-analyst-long-enough"
    service = AnalysisService(factory, admin=AdminService(factory, admin_secret=secret), export_root=tmp_path / "x")
    outputs = analysis_tab.analyse(service, secret, created.study_id)
    tables = dict(zip([k for k, _ in analysis_tab.TABLES], outputs[3 + len(analysis_tab.DOWNLOADS):]))
    assert sorted(tables["systems"]["System"]) == sorted(["lead", hf_spec])
