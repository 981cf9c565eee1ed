"""What the app serves on a Hugging Face Space: the public demo, unless the Space opts in to studies.

A Space is public by default and its log is readable by visitors of a public Space, so on a Space
(SPACE_ID set) the app serves the Generate tab alone: no study, no rater page, no admin routes, and
no admin secret is generated or printed. A lab that wants a study on its own Space opts in with
RADLLAMA_SPACE_STUDY=1 (or --space-study) and sets RADLLAMA_ADMIN_SECRET as a Space *secret*; the
study then needs persistent storage (core.home), or every rating is lost at the next restart.
On a Space the app may reach the internet (fetch_data), and rater links default to
https://$SPACE_HOST, the Space's public address, not the container's host name.
"""
from __future__ import annotations

from collections.abc import Mapping

from core.home import on_space

__all__ = ["SPACE_LISTEN_HOST", "SpaceRefused", "on_space", "space_settings"]

SPACE_LISTEN_HOST = "0.0.0.0"
"""Interface to listen on, on a Space, when GRADIO_SERVER_NAME is unset: the Space's proxy reaches the
container from outside, so 127.0.0.1 would serve nobody."""
SPACE_HOST_ENV = "SPACE_HOST"
"""Set by Spaces to the Space's public host name (owner-name.hf.space)."""


class SpaceRefused(ValueError):
    """A combination of settings that a Space must not run with; str() is one line saying what to set."""


def space_settings(env: Mapping[str, str], *, public_demo: bool, fetch_data: bool, space_study: bool,
                   rating_only: bool, only_tab: str | None, admin_secret: str | None,
                   public_url: str | None) -> tuple[bool, bool, str | None]:
    """(public_demo, fetch_data, public_url) after the Space rules; the settings unchanged off a Space."""
    if not on_space(env):
        return public_demo, fetch_data, public_url
    if not space_study:
        if rating_only or only_tab not in (None, "generate"):
            raise SpaceRefused("on a Hugging Face Space the app serves only the public Generate demo; set "
                               "RADLLAMA_SPACE_STUDY=1 and the Space secret RADLLAMA_ADMIN_SECRET to serve studies")
        return True, True, public_url
    if not (admin_secret or "").strip():
        raise SpaceRefused("RADLLAMA_SPACE_STUDY=1 needs the admin secret as a Space secret (RADLLAMA_ADMIN_SECRET, "
                           "Settings > Variables and secrets): a generated one would be printed to the Space's log")
    host = env.get(SPACE_HOST_ENV, "").strip()
    return public_demo, True, public_url or (f"https://{host}" if host else None)
