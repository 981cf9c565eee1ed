"""The Generate tab: findings in, impression out, streamed, with the time it took.

Layout and event wiring only; the work is in demo/service.py. The Generate button is the
public API endpoint `/generate`:

    from gradio_client import Client
    impression, details = Client("http://127.0.0.1:7860/").predict("The lungs are clear ...", api_name="/generate")

Its other inputs (system, strategy, num_beams, max_new_tokens) are optional. After an impression,
systems that can chat take follow-up questions about the report (`/follow_up`). Run this tab alone
with `python app.py --only generate [--model PATH] [--no-build-model]`.
"""
from __future__ import annotations

import gradio as gr

from demo.service import GenerationService
from generation.base import MAX_FINDINGS_CHARS, STRATEGIES, FindingsError, GenerationError, GenerationSettings

STATUS_POLL_S = 5.0
CLINICAL_USE_NOTE = ("**Research demo - not for clinical use.** Generated impressions can miss or invent findings; "
                     "never use them for diagnosis or patient care.")


def make_generate_handler(service: GenerationService):
    """The streaming handler behind the Generate button (and the /generate API)."""

    def generate(findings: str, system: str | None = None, strategy: str = "rerank", num_beams: float = 4,
                 max_new_tokens: float = 96):
        """Write the impression for `findings`; yields (impression so far, details line)."""
        try:
            settings = GenerationSettings(strategy=strategy or "rerank", num_beams=int(num_beams or 4),
                                          max_new_tokens=int(max_new_tokens or 96))
            for update in service.stream(findings, system, settings):
                yield update.impression, update.details()
        except (FindingsError, GenerationError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return generate


def make_follow_up_handlers(service: GenerationService):
    """(reset after a new impression, ask a question): the follow-up chat's handlers."""

    def reset_follow_up(system: str | None):
        """A fresh conversation for the impression just shown; disabled, with the reason, for non-chat systems."""
        available, note = service.follow_up_status(system)
        return note, [], gr.Textbox(value="", interactive=available), gr.Button(interactive=available)

    def ask_follow_up(findings: str, impression: str, history: list, question: str, system: str | None = None):
        """Answer a question about the report; yields (conversation so far, cleared question box)."""
        try:
            for conversation in service.follow_up(findings, impression, history, question, system):
                yield conversation, ""
        except (FindingsError, GenerationError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return reset_follow_up, ask_follow_up


def make_status_handler(service: GenerationService):
    def refresh_model_status():
        """The model status line and the picker's labels (which say who answers for the project model);
        stops polling once the model is ready."""
        state = service.model_status().state
        picker = gr.Dropdown(choices=[(c.label, c.key) for c in service.choices()])
        return service.status_markdown(), picker, gr.Timer(active=state in ("building", "building-elsewhere"))

    return refresh_model_status


def build_generate_tab(service: GenerationService) -> None:
    choices = service.choices()
    gr.Markdown(CLINICAL_USE_NOTE, elem_id="clinical-use-note")
    with gr.Row():
        with gr.Column(scale=3):
            findings = gr.Textbox(label="Findings", lines=8, max_lines=20, elem_id="findings",
                                  max_length=MAX_FINDINGS_CHARS,
                                  placeholder="Paste the FINDINGS section of a chest X-ray report ...")
            system = gr.Dropdown(choices=[(c.label, c.key) for c in choices], value=choices[0].key,
                                 label="System", elem_id="system")
            with gr.Accordion("Decoding options", open=False):
                strategy = gr.Radio(list(STRATEGIES), value="rerank", label="Decoding", elem_id="strategy",
                                    info="rerank (best quality, keeps the positive findings), beam and constrained "
                                         "(greedy that never contradicts itself) answer whole; greedy streams")
                num_beams = gr.Slider(1, 8, value=4, step=1, label="Beams (beam search only)", elem_id="num-beams")
                max_new_tokens = gr.Slider(8, 256, value=96, step=8, label="Max new tokens", elem_id="max-new-tokens")
            generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
        with gr.Column(scale=2):
            impression = gr.Textbox(label="Impression", lines=6, interactive=False, elem_id="impression")
            omissions = gr.Markdown(elem_id="omission-check")
            consistency = gr.Markdown(elem_id="consistency-check")
            details = gr.Markdown(elem_id="generation-details")
            follow_up_note = gr.Markdown("Follow-up questions: generate an impression first.", elem_id="follow-up-status")
            chat = gr.Chatbot(label="Follow-up questions", height=240, render_markdown=False, elem_id="follow-up-chat")
            with gr.Row():
                question = gr.Textbox(show_label=False, placeholder="Why not pneumonia?", interactive=False, scale=4,
                                      elem_id="follow-up-question")
                ask = gr.Button("Ask", interactive=False, scale=1, elem_id="follow-up-ask")
            model_status = gr.Markdown(service.status_markdown(), elem_id="model-status")
    gr.Examples(examples=[[e.findings] for e in service.examples], inputs=[findings],
                example_labels=[e.label for e in service.examples], label="Examples")

    building = service.model_status().state in ("building", "building-elsewhere")
    timer = gr.Timer(STATUS_POLL_S, active=building)
    timer.tick(make_status_handler(service), None, [model_status, system, timer], api_visibility="private",
               show_progress="hidden", queue=False)
    reset_follow_up, ask_follow_up = make_follow_up_handlers(service)
    generate_button.click(make_generate_handler(service), [findings, system, strategy, num_beams, max_new_tokens],
                          [impression, details], api_name="generate",
                          api_description="Findings in; (impression, details line) out. Streams."
                          ).then(service.omission_markdown, [findings, impression], [omissions], api_visibility="private",
                                 show_progress="hidden").then(
        service.consistency_markdown, [findings, impression], [consistency], api_visibility="private",
        show_progress="hidden").then(
        reset_follow_up, [system], [follow_up_note, chat, question, ask], api_visibility="private")
    follow_up_io = ([findings, impression, chat, question, system], [chat, question])
    ask.click(ask_follow_up, *follow_up_io, api_name="follow_up",
              api_description="(findings, impression, conversation, question, system) in; conversation out. Streams.")
    question.submit(ask_follow_up, *follow_up_io, api_visibility="private")

