"""STUB (to be replaced)."""
import gradio as gr


def build_rater_tab(service) -> None:
    gr.Markdown("rater_tab: under construction.")
