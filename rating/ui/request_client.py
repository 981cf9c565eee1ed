"""Who is calling: the client address of the Gradio request being handled (for per-client throttles).

Gradio keeps the request of the event being handled in a context variable while the handler
runs; services get this function (app.py wires it) and call it without importing gradio.
"""
from __future__ import annotations


def current_client() -> str | None:
    """The calling client's IP address, or None outside a Gradio event."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    client = getattr(request, "client", None) if request is not None else None
    return getattr(client, "host", None)


def current_cookie(name: str) -> str | None:
    """A cookie of the Gradio request being handled, or None outside a Gradio event."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    cookies = getattr(request, "cookies", None) if request is not None else None
    return cookies.get(name) if cookies else None
