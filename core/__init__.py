"""Pure core: records, cleaning, prompt, splits and metrics.

Nothing here imports gradio, torch or SQLAlchemy, so every other layer can use it.
"""
