"""The blinded rater page: layout and event wiring only (all logic lives in RatingService).

API (what gradio_client sees): sign_in(token), previous_case(token, position), next_case(token, position), submit(token, position, *slots).
Every one takes the rater's token and the service checks it. The page-load handler (which reads
?token=... from the link) is private. Nothing here holds a session or a system name; the only
per-user values in the page are the token the rater typed and a 0-based queue position.

The rater events skip Gradio's per-component pre- and postprocessing (`preprocess=False,
postprocess=False`): for these components it changes no value (RatingService validates every
input itself; the one transformation, Markdown's dedent, is done here), but Gradio runs each one
as a separate hop to a worker thread, 135 hops per submit, which was half of the server's CPU
per submit (27 -> 16 ms).
"""
from __future__ import annotations

import inspect

import gradio as gr

from db.models import CRITERIA, MAX_COMMENT_CHARS
from rating.assignments import LABELS
from db.engine import DatabaseUnavailable
from rating.service import ANCHORS, CRITERION_TITLES, CaseView, RatingError

MAX_CANDIDATES = 8
"""Candidate slots laid out on the page (a study with more systems needs a larger number here)."""
SLOT_INPUTS = (*CRITERIA, "comment", "significant_error")
"""The order of one slot's inputs in the submit endpoint: five scores, comment, flag."""

INTRO = ("## Radiology impression rating\n"
         "Read the findings, then rate each candidate impression on five criteria from 1 (worst) to 5 (best). "
         "Candidates are labelled A, B, C... in an order chosen for you; their authors are not shown.")


RAW_VALUES = {"preprocess": False, "postprocess": False}
"""Event options of the rater endpoints: handlers get the raw values and return final ones."""


def _markdown(text: str) -> str:
    """What gr.Markdown's postprocess would make of `text` (the events skip it)."""
    return inspect.cleandoc(text)


def _view_updates(view: CaseView, token: str | None = None) -> list:
    """Component values for a case view, in the order of `outputs` built below."""
    head = [view.position, _markdown(f"### {view.progress}"), _markdown(view.findings) if not view.finished else "",
            _markdown(view.message), gr.update(visible=not view.finished)]
    if token is not None:
        head = [token, gr.update(visible=False), *head]
    slots = []
    for i in range(MAX_CANDIDATES):
        c = view.candidates[i] if i < len(view.candidates) else None
        slots += [gr.update(visible=c is not None),
                  _markdown(f"**Candidate {LABELS[i]}**\n\n{c.text}") if c else "",
                  *[(c.scores.get(k) if c else None) for k in CRITERIA],
                  c.comment if c else "", bool(c.significant_error) if c else False]
    return head + slots


def build_rater_tab(service) -> None:
    """Lay out the rater page inside the current gr.Blocks and wire it to `service` (a RatingService)."""
    gr.Markdown(INTRO)
    with gr.Group(visible=True) as login_box:
        token = gr.Textbox(label="Access code", type="password", elem_id="rate-token", max_lines=1,
                           placeholder="Paste the code from your invitation (or open your personal link)")
        sign_in = gr.Button("Sign in", variant="primary", elem_id="rate-login")
    status = gr.Markdown("", elem_id="rate-status")
    progress = gr.Markdown("", elem_id="rate-progress")
    position = gr.Number(value=None, visible=False, precision=0, elem_id="rate-position")
    with gr.Column(visible=False) as case_box:
        gr.Markdown("### Findings")
        findings = gr.Markdown("", elem_id="rate-findings")
        slot_components = []
        slot_inputs = []
        for i in range(MAX_CANDIDATES):
            label = LABELS[i]
            with gr.Group(visible=False) as group:
                text = gr.Markdown("", elem_id=f"cand-{label}-text")
                radios = [gr.Radio(choices=[1, 2, 3, 4, 5], value=None, label=CRITERION_TITLES[c],
                                   info=f"1 = {ANCHORS[c][0]}; 5 = {ANCHORS[c][1]}", elem_id=f"cand-{label}-{c}")
                          for c in CRITERIA]
                comment = gr.Textbox(label="Comment (optional)", lines=1, max_length=MAX_COMMENT_CHARS,
                                     elem_id=f"cand-{label}-comment")
                flag = gr.Checkbox(label="Clinically significant error", value=False, elem_id=f"cand-{label}-error")
            slot_components += [group, text, *radios, comment, flag]
            slot_inputs += [*radios, comment, flag]
        with gr.Row():
            prev_btn = gr.Button("Previous", elem_id="rate-prev")
            submit_btn = gr.Button("Submit and next", variant="primary", elem_id="rate-submit")
            next_btn = gr.Button("Next", elem_id="rate-next")
    with gr.Row():
        back_btn = gr.Button("Back to my last case", visible=True, elem_id="rate-back", size="sm")

    view_outputs = [position, progress, findings, status, case_box, *slot_components]
    login_outputs = [token, login_box, *view_outputs]

    def _call(fn, *args):
        try:
            return fn(*args)
        except (RatingError, DatabaseUnavailable) as exc:  # plain words; database details go to the log
            raise gr.Error(str(exc), print_exception=False) from None

    def on_sign_in(access_code: str):
        return _view_updates(_call(service.resume, access_code), token=access_code)

    def on_back(access_code: str):
        """Where the rater left off; from the end-of-study page, their last case (to review or edit)."""
        view = _call(service.resume, access_code)
        if view.finished and view.total:
            view = _call(service.open_case, access_code, view.total - 1)
        return _view_updates(view, token=access_code)

    def on_page_load(request: gr.Request):
        code = (request.query_params.get("token") or "").strip() if request else ""
        if not code:
            return [gr.update() for _ in login_outputs]
        return on_sign_in(code)

    def _step(pos, delta: int) -> int:
        try:
            return max(0, int(float(pos or 0)) + delta)
        except (TypeError, ValueError):
            raise gr.Error("Unknown case position.", print_exception=False) from None

    def on_previous(access_code: str, pos):
        return _view_updates(_call(service.open_case, access_code, _step(pos, -1)))

    def on_next(access_code: str, pos):
        return _view_updates(_call(service.open_case, access_code, _step(pos, +1)))

    def on_submit(access_code: str, pos, *values):
        width = len(SLOT_INPUTS)
        if len(values) != width * MAX_CANDIDATES:
            raise gr.Error("Malformed submission.")
        forms = []
        for i in range(MAX_CANDIDATES):
            chunk = dict(zip(SLOT_INPUTS, values[i * width:(i + 1) * width]))
            if any(chunk[c] not in (None, "") for c in CRITERIA) or chunk["comment"] or chunk["significant_error"]:
                forms.append({"label": LABELS[i], **chunk})
        return _view_updates(_call(service.submit, access_code, pos, forms))

    sign_in.click(on_sign_in, [token], login_outputs, api_name="sign_in", **RAW_VALUES)
    token.submit(on_sign_in, [token], login_outputs, api_visibility="private", **RAW_VALUES)
    submit_btn.click(on_submit, [token, position, *slot_inputs], view_outputs, api_name="submit", **RAW_VALUES)
    prev_btn.click(on_previous, [token, position], view_outputs, api_name="previous_case", **RAW_VALUES)
    next_btn.click(on_next, [token, position], view_outputs, api_name="next_case", **RAW_VALUES)
    back_btn.click(on_back, [token], login_outputs, api_visibility="private", **RAW_VALUES)
    demo = gr.context.Context.root_block
    demo.load(on_page_load, None, login_outputs, api_visibility="private", **RAW_VALUES)
