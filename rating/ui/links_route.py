"""The one-time download of invitation links (CSV), an HTTP route beside the Gradio apps.

Not a Gradio event: Gradio copies every file it serves into its cache, where it would outlive
the download. This route hands the private temp file to the first request with its key and
the store deletes it at once (rating.invitations.OneTimeDownloads).
"""
from __future__ import annotations

from urllib.parse import quote

LINKS_ROUTE = "/admin-links/{key}.csv"
GONE_MESSAGE = ("This links file was already downloaded or has expired. Issue new links in the Study admin tab "
                "(New link for rater).")


def links_href(key: str) -> str:
    """The link the admin tab shows, relative to the workbench page (works behind a path prefix)."""
    return LINKS_ROUTE.format(key=quote(key, safe="")).lstrip("/")


def add_links_route(server, downloads) -> None:
    """GET /admin-links/<key>.csv on a FastAPI app: the CSV once, then 404."""
    from fastapi.responses import PlainTextResponse, Response

    @server.get(LINKS_ROUTE, include_in_schema=False)
    def download_links(key: str):
        taken = downloads.take(key)
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
        if taken is None:
            return PlainTextResponse(GONE_MESSAGE, status_code=404, headers=headers)
        filename, content = taken
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(content, media_type="text/csv; charset=utf-8", headers=headers)
