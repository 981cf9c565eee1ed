"""STUB (to be replaced)."""
import gradio as gr


def build_analysis_tab(service) -> None:
    gr.Markdown("analysis_tab: under construction.")
