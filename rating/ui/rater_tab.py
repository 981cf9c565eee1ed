"""The blinded rater page: layout and event wiring only (all logic lives in RatingService).

The page is one gr.HTML "workstation" (rater_page/page.html, page.css, page.js): the findings in
view beside a score grid with the candidates as columns and the five criteria as rows, keyboard
first, drafts saved on the server as the rater works. Its script talks to the server through the
component's server functions below (`rater_resume`, `rater_open`, `rater_draft`, `rater_submit`),
which identify the rater by the HttpOnly session cookie set by rating/ui/rater_session.py: the
page never holds a token, and nothing is kept in the browser's storage.

API (what gradio_client sees): sign_in(token), previous_case(token, position),
next_case(token, position), submit(token, position, ratings). Every one takes the rater's token
and the service checks it; each returns the case view as a dict (CaseView.as_dict()).
"""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
from markdown_it import MarkdownIt

from db.models import ANCHORS, CRITERIA, CRITERION_TITLES, MAX_COMMENT_CHARS
from db.engine import DatabaseUnavailable
from rating.protocols.page_meta import protocol_page_meta
from rating.service import AccessDenied, CaseView, RatingError, SessionKey

PAGE_DIR = Path(__file__).resolve().parent / "rater_page"
SESSION_COOKIE = "radllama_rater"
"""Name of the HttpOnly cookie that carries a rater's browser session."""
SIGN_IN_NOTICES = {
    "invalid": ("This access code or link is not valid. Check the link in your invitation, or enter your access "
                "code below.", True),
    "expired": ("This invitation has expired. Please contact the study coordinator.", True),
    "withdrawn": ("This invitation has been withdrawn. Please contact the study coordinator.", True),
    "closed": ("This study has closed: its invitations have expired. Please contact the study coordinator.", True),
    "too_many": ("Too many attempts from this address. Try again in 15 minutes.", True),
    "signed_out": ("You are signed out. Open your invitation link or enter your access code to continue.", False),
}
"""Messages the page shows after a sign-in redirect (?signin=CODE): fixed texts, nothing reflected."""

_markdown = MarkdownIt("commonmark", {"html": False})


def instructions_html(markdown: str) -> str:
    """The study's Markdown instructions as HTML; raw HTML in them is escaped, not rendered."""
    return _markdown.render(markdown or "")


def _page_script(meta: dict) -> str:
    css = (PAGE_DIR / "page.css").read_text() + (PAGE_DIR / "protocols.css").read_text()
    js = (PAGE_DIR / "protocols.js").read_text() + (PAGE_DIR / "page.js").read_text()
    return f"const META = {json.dumps(meta)};\nconst CSS = {json.dumps(css)};\n{js}"


def _session_key(request: gr.Request | None) -> SessionKey | None:
    value = request.cookies.get(SESSION_COOKIE) if request is not None else None
    return SessionKey(value) if value else None


def _view(view: CaseView) -> dict:
    data = view.as_dict()
    data["instructions_html"] = instructions_html(data.pop("instructions", ""))
    return data


def build_rater_tab(service) -> None:
    """Lay out the rater page inside the current gr.Blocks and wire it to `service` (a RatingService)."""

    def _page_call(request: gr.Request | None, fn, *args) -> dict:
        """Run a service call for the signed-in browser; never raises (the page shows `error` in place)."""
        key = _session_key(request)
        if key is None:
            return {"ok": False, "signed_out": True, "had_session": False,
                    "error": "Please sign in with the access code from your invitation."}
        try:
            return {"ok": True, **fn(key, *args)}
        except AccessDenied as exc:
            return {"ok": False, "signed_out": True, "had_session": True, "error": str(exc)}
        except (RatingError, DatabaseUnavailable) as exc:  # plain words; database details go to the log
            return {"ok": False, "error": str(exc)}

    def _field(data, name, default=None):
        return data.get(name, default) if isinstance(data, dict) else default

    def rater_resume(data, request: gr.Request):
        return _page_call(request, lambda key: {"view": _view(service.resume(key))})

    def rater_open(data, request: gr.Request):
        return _page_call(request, lambda key: {"view": _view(service.open_case(
            key, _field(data, "position"), _field(data, "active_ms", 0), _field(data, "from")))})

    def rater_draft(data, request: gr.Request):
        return _page_call(request, lambda key: {"saved_at": service.save_draft(
            key, _field(data, "position"), _field(data, "draft"), _field(data, "active_ms", 0),
            _field(data, "protocol")).strftime("%H:%M:%S")})

    def rater_submit(data, request: gr.Request):
        ratings = _field(data, "ratings", [])
        return _page_call(request, lambda key: {"view": _view(service.submit(
            key, _field(data, "position"), ratings, _field(data, "active_ms", 0), _field(data, "protocol")))})

    meta = {"criteria": list(CRITERIA), "titles": CRITERION_TITLES, "anchors": ANCHORS,
            "max_comment": MAX_COMMENT_CHARS, "protocol": protocol_page_meta(),
            "notices": {code: {"text": text, "bad": bad} for code, (text, bad) in SIGN_IN_NOTICES.items()}}

    gr.HTML("", html_template=(PAGE_DIR / "page.html").read_text(), js_on_load=_page_script(meta),
            apply_default_css=False, elem_id="rate-workstation",
            server_functions=[rater_resume, rater_open, rater_draft, rater_submit])

    # --- the programmatic API (token first, as before) -------------------------------------
    def _api(fn, *args) -> dict:
        try:
            return _view(fn(*args))
        except (RatingError, DatabaseUnavailable) as exc:  # plain words; database details go to the log
            raise gr.Error(str(exc), print_exception=False) from None

    def _step(position, delta: int) -> int:
        try:
            return max(0, int(float(position)) + delta)
        except (TypeError, ValueError, OverflowError):
            raise gr.Error("Unknown case position.", print_exception=False) from None

    def sign_in(token: str) -> dict:
        """Sign in with an access code: the case where the rater left off."""
        return _api(service.resume, token)

    def previous_case(token: str, position: int) -> dict:
        """Open the case before `position` (0-based)."""
        return _api(service.open_case, token, _step(position, -1))

    def next_case(token: str, position: int) -> dict:
        """Open the case after `position` (0-based), without rating it."""
        return _api(service.open_case, token, _step(position, +1))

    def submit(token: str, position: int, ratings: list, protocol: dict | None = None) -> dict:
        """Save every candidate's rating of the case at `position` and open the next case.

        ratings: [{"label": "A", "understandability": 1-5, ..., "comment": "", "significant_error": false}, ...]
        ([] in a study without the likert protocol); protocol: {"errors": {label: ...}, "pairs": {"A-B": ...}}
        in a study with the errors or pairwise protocol (rating/protocols/definitions.py).
        """
        return _api(service.submit, token, position, ratings, 0, protocol)

    for fn in (sign_in, previous_case, next_case, submit):
        gr.api(fn, api_name=fn.__name__)
