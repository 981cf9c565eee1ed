"""Study admin tab: layout and wiring only; AdminService checks the secret on every call.

Handlers here are private (api_visibility="private"): the admin tab is for the browser only.
Invitation links are built on the service's public URL (never the host this browser used);
each link is a code block with its own copy button, and the links of one creation or reissue
can be downloaded once as CSV (rating/ui/links_route.py).
"""
from __future__ import annotations

import gradio as gr

from db.engine import DatabaseUnavailable
import pandas as pd

from core.protocol_scales import PROTOCOLS
from rating.admin import AdminDenied, user_error_message
from rating.form_values import whole_number
from rating.importer import ImportFormatError
from rating.invitations import Invitation
from rating.study_request import StudyRequest, parse_display_names
from rating.study_setup import StudySetupError
from rating.ui.links_route import links_href
from rating.workload import RaterWorkload, workload_lines

USER_ERRORS = (AdminDenied, StudySetupError, ImportFormatError, FileNotFoundError, ValueError, DatabaseUnavailable)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


OPEN_STUDY_NOTE = ("**A study is now open**, so the workbench (Generate, Study admin, Analysis) is for the admin "
                   "only: [sign in as admin](/admin/sign-in) with the admin secret to keep using it from this browser.")


def _links_markdown(rows: list[Invitation], download_key: str | None) -> str:
    """Each rater's link in its own code block (Gradio gives each a copy button), then the CSV link."""
    lines = ["**Invitation links** (shown once: copy them now"
             + (", or download them once as CSV" if download_key else "") + "):", ""]
    if download_key:
        lines += [f"[Download the links as CSV (works once)]({links_href(download_key)})", ""]
    for row in rows:
        lines += [f"**{_markdown_text(row.rater)}** (access code `{row.access_code}`)", "", "```text", row.link, "```",
                  ""]
    return "\n".join(lines)


def _markdown_text(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "\\`*_{}[]()#+-.!<>|~" else ch for ch in text)


def _workload_markdown(workloads: list[RaterWorkload]) -> str:
    head, *rest = workload_lines(workloads)
    return "\n".join([f"**{head}**", "", *(f"- {_markdown_text(line)}" for line in rest)])


def build_admin_tab(service) -> None:
    """Lay out the admin tab inside the current gr.Blocks and wire it to `service` (an AdminService)."""
    systems = service.available_systems()
    secret = gr.Textbox(label="Admin secret", type="password", elem_id="admin-secret", max_lines=1)
    with gr.Accordion("Create a study", open=True):
        with gr.Row():
            name = gr.Textbox(label="Study name", elem_id="admin-study-name")
            data_path = gr.Textbox(label="Report file (blank: default data)", elem_id="admin-data")
        with gr.Row():
            n = gr.Number(label="Cases (N)", value=20, precision=0, minimum=1, elem_id="admin-n")
            seed = gr.Number(label="Seed", value=0, precision=0)
            stratify = gr.Checkbox(label="Stratify normal / abnormal", value=True)
        chosen = gr.CheckboxGroup(choices=systems, label="Systems to generate", value=[], elem_id="admin-systems")
        with gr.Row():
            upload = gr.File(label="Import outside outputs (CSV/JSONL: case_id, system, text)",
                             file_types=[".csv", ".jsonl", ".json"], type="filepath")
            reference = gr.Checkbox(label="Include the original impression as a blinded system", value=True)
        with gr.Row():
            protocols = gr.CheckboxGroup(choices=list(PROTOCOLS), value=["likert"], elem_id="admin-protocols",
                                         label="Protocol: likert = five 1-5 scores, errors = error counts per "
                                               "category (ReXVal/GREEN), pairwise = A/B preference with harm")
            gold = gr.File(label="Gold cases (optional CSV: case_id, planted_text, expected)", file_types=[".csv"],
                           type="filepath", elem_id="admin-gold")
        raters = gr.Textbox(label="Rater names (comma-separated)", placeholder="Dr A, Dr B", elem_id="admin-raters")
        display_names = gr.Textbox(label="Names in figures and tables (optional): system=Name, comma-separated",
                                   placeholder="default=Radiology-Llama (ours), retrieval=Retrieval",
                                   elem_id="admin-display-names")
        with gr.Row():
            k = gr.Number(label="Raters per case (0 = all)", value=0, precision=0, minimum=0)
            calibration = gr.Number(label="Calibration cases", value=2, precision=0, minimum=0,
                                    elem_id="admin-calibration")
            repeats = gr.Number(label="Hidden repeats per rater", value=2, precision=0, minimum=0,
                                elem_id="admin-repeats")
        create = gr.Button("Create study", variant="primary", elem_id="admin-create")
        created_md = gr.Markdown("", elem_id="admin-created")
    with gr.Accordion("Studies and raters", open=False):
        refresh = gr.Button("List studies")
        studies = gr.Dataframe(label="Studies", interactive=False)
        with gr.Row():
            study_id = gr.Number(label="Study id", precision=0)
            rater_name = gr.Textbox(label="Rater name")
        with gr.Row():
            list_raters = gr.Button("List raters")
            add_btn = gr.Button("Invite rater")
            reissue_btn = gr.Button("New link for rater")
            revoke_btn = gr.Button("Revoke rater", variant="stop")
        raters_table = gr.Dataframe(label="Raters", interactive=False)
        rater_md = gr.Markdown("")

    def on_create(secret_v, name_v, data_v, n_v, seed_v, strat_v, systems_v, upload_v, ref_v, raters_v, names_v,
                  k_v, cal_v, rep_v, protocols_v, gold_v, progress=gr.Progress()):
        try:
            service.require(secret_v)
            req = StudyRequest(name=name_v or "", raters=_names(raters_v), data_path=(data_v or "").strip() or None,
                               n=whole_number(n_v, "Cases (N)", minimum=1),
                               seed=whole_number(seed_v or 0, "Seed"), stratify=bool(strat_v),
                               systems=tuple(systems_v or ()), import_path=upload_v or None,
                               include_reference=bool(ref_v),
                               k=whole_number(k_v, "Raters per case", minimum=0) or None if k_v else None,
                               n_calibration=whole_number(cal_v or 0, "Calibration cases", minimum=0),
                               n_repeats=whole_number(rep_v or 0, "Hidden repeats", minimum=0),
                               display_names=parse_display_names(names_v),
                               protocols=",".join(protocols_v or ()), gold_path=gold_v or None)
            created = service.create_study(secret_v, req, progress=lambda f, msg: progress(f, desc=msg))
            rows = service.invitations(created.rater_tokens)
            key = service.links_download(secret_v, rows, f"study-{created.study_id}-links.csv")
            workloads = service.workloads(secret_v, created.study_id)
        except USER_ERRORS as exc:
            raise gr.Error(user_error_message(exc), print_exception=False) from None
        summary = (f"Created study {created.study_id}: {created.n_cases} cases, {created.n_systems} systems, "
                   f"{created.n_assignments} assignments; protocol {req.protocols}.\n\n")
        summary += "".join(f"**Warning:** {_markdown_text(w)}\n\n" for w in created.warnings)
        return (summary + _workload_markdown(workloads) + "\n\n" + _links_markdown(rows, key) + "\n\n"
                + OPEN_STUDY_NOTE)

    def on_list_studies(secret_v):
        try:
            rows = service.list_studies(secret_v)
        except AdminDenied as exc:
            raise gr.Error(user_error_message(exc), print_exception=False) from None
        return pd.DataFrame(rows)

    def on_list_raters(secret_v, study_v):
        try:
            rows = service.list_raters(secret_v, whole_number(study_v, "Study id", minimum=1))
        except USER_ERRORS as exc:
            raise gr.Error(user_error_message(exc), print_exception=False) from None
        return pd.DataFrame([r.__dict__ for r in rows])

    def _rater_action(action):
        def handler(secret_v, study_v, name_v):
            try:
                study = whole_number(study_v, "Study id", minimum=1)
                if action == "revoke":
                    service.revoke_rater(secret_v, study, name_v or "")
                    return f"Revoked {name_v}."
                fn = service.add_rater if action == "add" else service.reissue_token
                token = fn(secret_v, study, name_v or "")
                rows = service.invitations({(name_v or "").strip(): token})
                key = service.links_download(secret_v, rows, f"study-{study}-{action}-link.csv")
            except USER_ERRORS as exc:
                raise gr.Error(user_error_message(exc), print_exception=False) from None
            return _links_markdown(rows, key)
        return handler

    private = {"api_visibility": "private"}
    create.click(on_create, [secret, name, data_path, n, seed, stratify, chosen, upload, reference, raters,
                             display_names, k, calibration, repeats, protocols, gold], created_md, **private)
    refresh.click(on_list_studies, [secret], studies, **private)
    list_raters.click(on_list_raters, [secret, study_id], raters_table, **private)
    add_btn.click(_rater_action("add"), [secret, study_id, rater_name], rater_md, **private)
    reissue_btn.click(_rater_action("reissue"), [secret, study_id, rater_name], rater_md, **private)
    revoke_btn.click(_rater_action("revoke"), [secret, study_id, rater_name], rater_md, **private)
