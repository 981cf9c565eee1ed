"""What every response tells the browser, and which browser requests count as cross-site.

- cross_site(): a state-changing request whose Origin is not this host (or is `null`), or that the
  browser marks Sec-Fetch-Site: cross-site, is refused (login CSRF, lockout by foreign pages, and
  cross-site calls of the rater page's server functions). Requests without those headers come from
  API clients, not from a browser visiting another site, and pass.
- CONTENT_SECURITY_POLICY: only the app's own origin; a remote image in the study's instructions is
  never fetched. Gradio needs inline scripts and styles and eval (its js_on_load), so those stay.
- secure_cookie(): Set-Cookie gets Secure when the request came over HTTPS (behind a proxy named in
  RADLLAMA_TRUSTED_PROXIES uvicorn takes the scheme from X-Forwarded-Proto) or --secure-cookies is set.
- CORS: no Access-Control-Allow-* header leaves the server: the app's own pages are same-origin and
  need none, and Gradio would reflect any origin (`null` included) with credentials.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHECKED = "radllama.origin_checked"
"""Scope key the HTTP guard sets once it has checked a request's origin (its rules know the public URL)."""


def cross_site(headers: Mapping[str, str], also_allowed: Collection[str] = ()) -> bool:
    """True for a browser request from another origin (headers: lower-case names). also_allowed: more
    host[:port] values that count as this site (the public URL, behind a proxy that rewrites Host)."""
    origin = headers.get("origin")
    if origin is not None:
        netloc = urlsplit(origin).netloc.lower()
        return origin == "null" or (netloc != (headers.get("host") or "").lower() and netloc not in also_allowed)
    return headers.get("sec-fetch-site") == "cross-site"


def refused_cross_site(scope, headers: Mapping[str, str]) -> bool:
    """For routes that may run without the HTTP guard (the rater app launched alone): cross_site,
    unless the guard in front already checked the request."""
    return not scope.get(CHECKED) and cross_site(headers)


def secure_cookie(value: bytes) -> bytes:
    """A Set-Cookie value with the Secure attribute (unchanged if it has it)."""
    return value if b"secure" in value.lower().replace(b" ", b"").split(b";") else value + b"; Secure"


def response_headers(headers: list[tuple[bytes, bytes]], https: bool) -> list[tuple[bytes, bytes]]:
    """The headers of a response as they leave the server: no CORS grants, Secure cookies over HTTPS,
    and the app's Content-Security-Policy unless the response set its own."""
    out = []
    has_policy = False
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(b"access-control-allow-"):
            continue
        if lower == b"set-cookie" and https:
            value = secure_cookie(value)
        has_policy = has_policy or lower == b"content-security-policy"
        out.append((name, value))
    if not has_policy:
        out.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
    return out
