"""STUB (to be replaced by the demo engineer)."""
import gradio as gr


def build_generate_tab(service) -> None:
    gr.Markdown("Generate tab: under construction.")
