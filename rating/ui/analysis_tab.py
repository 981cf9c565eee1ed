"""Analysis tab: layout and wiring only; AnalysisService checks the admin secret on every call.

Handlers are private (api_visibility="private"): the tab is for the browser only. Without the
right secret every handler answers with a message and leaves the tab's content unchanged.
"""
from __future__ import annotations

from functools import partial

import gradio as gr

from db.engine import DatabaseUnavailable

from rating.analysis.service import AnalysisDenied

USER_ERRORS = (AnalysisDenied, KeyError, ValueError, DatabaseUnavailable)
DOWNLOADS = (("csv", "Ratings CSV"), ("xlsx", "Ratings XLSX (+ summary sheets)"), ("parquet", "Ratings Parquet"),
             ("png", "Figure 4 PNG (double column, 7.2 in, 300 dpi)"), ("svg", "Figure 4 SVG (double column)"),
             ("pdf", "Figure 4 PDF (double column)"), ("png_single", "Figure 4 PNG (single column, 3.5 in, 300 dpi)"),
             ("svg_single", "Figure 4 SVG (single column)"), ("pdf_single", "Figure 4 PDF (single column)"))
TABLES = (("figure4", "Figure 4: mean [95% CI] per system and criterion"),
          ("table1_rouge", "Table 1: ROUGE per system on the rated cases"),
          ("agreement", "Agreement: Krippendorff's alpha (ordinal) per criterion"),
          ("self_consistency", "Self-consistency on hidden repeats"),
          ("rouge_vs_experts", "ROUGE against experts: Spearman correlation"),
          ("comparisons", "Paired comparisons (Wilcoxon signed-rank, Holm)"),
          ("progress_raters", "Progress per rater"), ("progress_cases", "Progress per case"),
          ("systems", "Systems: exactly what was rated (model, adapter and base, endpoint, decoding, versions)"))


def _message(exc: Exception) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return f"**Not done:** {text}"


def load_studies(service, secret_value: str):
    """Status line and study-picker update."""
    try:
        choices = service.list_studies(secret_value)
    except USER_ERRORS as exc:
        return _message(exc), gr.update()
    note = f"{len(choices)} studies." if choices else "No studies yet (try `python -m rating.simulate`)."
    return note, gr.update(choices=choices, value=choices[0][1] if choices else None)


def analyse(service, secret_value: str, study_id) -> list:
    """Status, figure, picker, the download buttons, then the tables (order of TABLES)."""
    try:
        view = service.analyze_and_export(secret_value, study_id)
    except USER_ERRORS as exc:
        return [_message(exc), gr.update(), gr.update()] + [gr.update()] * (len(DOWNLOADS) + len(TABLES))
    buttons = [gr.update(value=str(view.files[key]), visible=True) for key, _ in DOWNLOADS]
    return [view.summary_markdown, str(view.files["png"]), gr.update()] + buttons + \
        [view.tables[key] for key, _ in TABLES]


def show_progress(service, secret_value: str, study_id):
    """Status and the two progress tables."""
    try:
        prog = service.progress(secret_value, study_id)
    except USER_ERRORS as exc:
        return _message(exc), gr.update(), gr.update()
    return "Progress refreshed.", prog["progress_raters"], prog["progress_cases"]


def build_analysis_tab(service) -> None:
    """Lay out the Analysis tab inside the current gr.Blocks and wire it to `service` (AnalysisService)."""
    gr.Markdown("Figure 4, tables, agreement and exports of a rating study. Enter the admin secret, load the "
                "studies, pick one and analyse it.")
    with gr.Row():
        secret = gr.Textbox(label="Admin secret", type="password", elem_id="analysis-secret", max_lines=1, scale=2)
        load = gr.Button("Load studies", elem_id="analysis-load", scale=1)
    with gr.Row():
        study = gr.Dropdown(label="Study", choices=[], value=None, elem_id="analysis-study", scale=3)
        run = gr.Button("Analyse and export", variant="primary", elem_id="analysis-run", scale=1)
        refresh = gr.Button("Refresh progress", elem_id="analysis-progress", scale=1)
    status = gr.Markdown("", elem_id="analysis-status")
    figure = gr.Image(label="Figure 4", type="filepath", interactive=False, elem_id="analysis-figure")
    with gr.Row():
        downloads = [gr.DownloadButton(label, value=None, visible=False, elem_id=f"analysis-download-{key}")
                     for key, label in DOWNLOADS]
    tables = {}
    for key, label in TABLES:
        with gr.Accordion(label, open=key in ("figure4", "agreement", "comparisons")):
            tables[key] = gr.Dataframe(interactive=False, elem_id=f"analysis-table-{key}", wrap=True)
    table_list = [tables[k] for k, _ in TABLES]

    load.click(partial(load_studies, service), [secret], [status, study], api_visibility="private")
    run.click(partial(analyse, service), [secret, study], [status, figure, study, *downloads, *table_list], api_visibility="private")
    refresh.click(partial(show_progress, service), [secret, study], [status, tables["progress_raters"], tables["progress_cases"]],
                  api_visibility="private")
