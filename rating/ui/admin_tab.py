"""STUB (to be replaced)."""
import gradio as gr


def build_admin_tab(service) -> None:
    gr.Markdown("admin_tab: under construction.")
