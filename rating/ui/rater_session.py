"""Rater sign-in and sign-out as plain HTTP routes beside the mounted rater app.

An invitation link `/rate/?token=...` (or the access-code form, POST /rate/sign-in) is exchanged
for a server-side session: the browser gets an HttpOnly, SameSite=Lax cookie holding a random
session secret (stored only as a hash), and is redirected to `/rate/` so the token leaves the
address bar and the history. A wrong, expired or withdrawn code redirects to `/rate/?signin=CODE`,
where the page shows a fixed message beside the access-code form. POST /rate/sign-out ends the
session. Wiring only: RatingService checks tokens and keeps the sessions.
"""
from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.concurrency import run_in_threadpool

from rating.service import AccessDenied, SessionKey
from rating.ui.rater_tab import SESSION_COOKIE, SIGN_IN_NOTICES

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _redirect(path: str, notice: str | None = None) -> RedirectResponse:
    target = f"{path}/" + (f"?signin={notice}" if notice else "")
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


def _sign_in_response(service, request: Request, path: str, token: str) -> Response:
    """Start a session for `token` (ending the browser's previous one) and redirect to the page."""
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        service.end_session(old)
    try:
        key, expires, _name = service.start_session(str(token or "").strip())
    except AccessDenied as exc:
        response = _redirect(path, exc.reason if exc.reason in SIGN_IN_NOTICES else "invalid")
        response.delete_cookie(SESSION_COOKIE, path=path or "/")
        return response
    response = _redirect(path)
    response.set_cookie(SESSION_COOKIE, str(key), expires=expires, path=path or "/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


class TokenLinkMiddleware:
    """Catches GET /rate/?token=... before the rater app sees it and signs the browser in."""

    def __init__(self, app, service, path: str):
        self.app, self.service, self.path = app, service, path

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
                and scope["path"] in {self.path or "/", self.path + "/"}):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if "token" in query:
                request = Request(scope)
                response = await run_in_threadpool(_sign_in_response, self.service, request, self.path,
                                                   query["token"][0])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _routes(service, path: str) -> list[APIRoute]:
    async def rater_sign_in(request: Request):
        form = await request.form()
        return await run_in_threadpool(_sign_in_response, service, request, path, str(form.get("code") or ""))

    async def rater_sign_out(request: Request):
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
