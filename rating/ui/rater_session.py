"""Rater sign-in and sign-out as plain HTTP routes beside the mounted rater app.

An invitation link `/rate/?token=...` never signs in by itself (a GET any web page can fire, by a
link or an image tag): it answers a small page whose form posts the code to POST /rate/sign-in,
on the rater's click, or at once by its script when the browser says the link was opened directly
(Sec-Fetch-Site: none, e.g. from a mail program or the address bar). A GET counts no wrong code.
POST /rate/sign-in (that form, or the access-code form) exchanges the code for a server-side
session: the browser gets an HttpOnly, SameSite=Lax cookie holding a random session secret (stored
only as a hash), and is redirected to `/rate/`. A wrong, expired or withdrawn code redirects to
`/rate/?signin=CODE`, where the page shows a fixed message beside the access-code form. Wrong codes
count per client address (behind RADLLAMA_TRUSTED_PROXIES, the forwarded one). POST
/rate/sign-out ends the session. Both POST routes refuse cross-site requests (Origin not this
host). Wiring only: RatingService checks tokens and keeps the sessions.
"""
from __future__ import annotations

import html
import secrets
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.concurrency import run_in_threadpool

from rating.service import MAX_TOKEN_CHARS, AccessDenied, SessionKey
from rating.ui.browser_rules import refused_cross_site
from rating.ui.rater_tab import SESSION_COOKIE, SIGN_IN_NOTICES

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _redirect(path: str, notice: str | None = None) -> RedirectResponse:
    target = f"{path}/" + (f"?signin={notice}" if notice else "")
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


LINK_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="same-origin">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Rating study: sign in</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 4em auto; padding: 0 1em">
<h1>Rating study</h1><form id="sign-in" method="post" action="{action}">
<input type="hidden" name="code" value="{code}"><p>Open the rating page with your invitation link:</p>
<button type="submit" autofocus>Continue to the rating page</button></form>
<script nonce="{nonce}">history.replaceState(null, "", location.pathname);{auto}</script></body></html>"""
"""What GET /rate/?token= answers: the code goes on by POST (same origin) on the rater's click or script."""
AUTO_SUBMIT = 'document.getElementById("sign-in").submit();'
DIRECT_OPENINGS = {"none", "same-origin"}
"""Sec-Fetch-Site values of a link the rater opened directly (mail program, address bar) or from this
app: the page then signs in by script; a link from another web page waits for the rater's click."""


def _client(request: Request) -> str:
    """The caller's address (uvicorn puts the forwarded one here when the proxy is trusted)."""
    return request.client.host if request.client else "unknown"


def link_page(request: Request, path: str, token: str) -> Response:
    """The page a GET of an invitation link gets: it signs in by POST, never by the GET itself."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return _redirect(path, "invalid")
    nonce = secrets.token_urlsafe(16)
    direct = request.headers.get("sec-fetch-site") in DIRECT_OPENINGS
    page = LINK_PAGE.format(action=html.escape(f"{path}/sign-in"), code=html.escape(token), nonce=nonce,
                            auto=AUTO_SUBMIT if direct else "")
    policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; form-action 'self'; "
              "frame-ancestors 'none'; base-uri 'none'")
    # Referrer-Policy same-origin, not no-referrer: under no-referrer the browser sends `Origin: null`
    # with the form's POST, which the sign-in route must refuse as cross-site.
    return Response(page, media_type="text/html; charset=utf-8",
                    headers={**NO_STORE, "Referrer-Policy": "same-origin", "Content-Security-Policy": policy,
                             "X-Frame-Options": "DENY"})


def _sign_in_response(service, request: Request, path: str, token: str) -> Response:
    """Start a session for `token` (ending the browser's previous one) and redirect to the page."""
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        service.end_session(old)
    try:
        key, expires, _name = service.start_session(str(token or "").strip(), client=_client(request))
    except AccessDenied as exc:
        response = _redirect(path, exc.reason if exc.reason in SIGN_IN_NOTICES else "invalid")
        response.delete_cookie(SESSION_COOKIE, path=path or "/")
        return response
    response = _redirect(path)
    response.set_cookie(SESSION_COOKIE, str(key), expires=expires, path=path or "/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


class TokenLinkMiddleware:
    """Catches GET /rate/?token=... before the rater app sees it and answers the sign-in page."""

    def __init__(self, app, service, path: str):
        self.app, self.service, self.path = app, service, path

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
                and scope["path"] in {self.path or "/", self.path + "/"}):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if "token" in query:
                response = link_page(Request(scope), self.path, query["token"][0].strip())
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _routes(service, path: str) -> list[APIRoute]:
    async def rater_sign_in(request: Request):
        if refused_cross_site(request.scope, request.headers):
            return Response("Cross-site request refused.", status_code=403, headers=NO_STORE)
        form = await request.form()
        return await run_in_threadpool(_sign_in_response, service, request, path, str(form.get("code") or ""))

    async def rater_sign_out(request: Request):
        if refused_cross_site(request.scope, request.headers):
            return Response("Cross-site request refused.", status_code=403, headers=NO_STORE)
        key = request.cookies.get(SESSION_COOKIE)
        if key:
            await run_in_threadpool(service.end_session, SessionKey(key))
        response = _redirect(path, "signed_out")
        response.delete_cookie(SESSION_COOKIE, path=path or "/")
        return response

    return [APIRoute(f"{path}/sign-in", rater_sign_in, methods=["POST"], include_in_schema=False),
            APIRoute(f"{path}/sign-out", rater_sign_out, methods=["POST"], include_in_schema=False)]


def install_rater_session(server: FastAPI, service, path: str) -> None:
    """Add the sign-in/sign-out routes for the rater app mounted at `path` (call before mounting it)."""
    server.add_middleware(TokenLinkMiddleware, service=service, path=path)
    server.router.routes.extend(_routes(service, path))


def rater_session_app_kwargs(service) -> dict:
    """The same routes for a rater app launched on its own at / (`Blocks.launch(app_kwargs=...)`)."""
    return {"middleware": [Middleware(TokenLinkMiddleware, service=service, path="")], "routes": _routes(service, "")}
