"""Study set-up behind the admin secret: every method takes the secret and checks it first.

The admin secret comes from $RADLLAMA_ADMIN_SECRET (or --admin-secret, which every user of the
machine can read in the process list: app.py warns). It must have at least 16 characters. When
none is set, a secret is generated on first start and kept in a file readable only by its owner
(mode 0600) beside the SQLite database, `<db file>.admin-secret`, so it survives restarts
(delete the file to rotate it); it is printed once, with that path, when it is generated, and
never in rating-only mode (then only the path is printed). For non-SQLite databases without a
configured secret, a fresh one is made at every start.

Wrong secrets count per client (FailureThrottle): after 5 in 10 minutes the client is refused
for 15 minutes, even with the right secret; a browser signed in as admin (signed_in()) is never
refused for others' failures, it still needs the right secret.
"""
from __future__ import annotations

import hmac
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy import func, select

from db.engine import read_only_session, unit_of_work
from db.models import Assignment, Case, Rater, Rating, Study, System
from generation import registry
from generation.service import SystemService
from rating.invitations import Invitation, OneTimeDownloads, links_csv
from rating.protocols.service import unrated_positions
from rating.throttle import FailureThrottle, Throttled
from rating.study_request import StudyRequest, build_study
from rating.study_setup import CreatedStudy, RaterSpec, add_rater, reissue_token, revoke_rater
from rating.tokens import new_token
from rating.workload import RaterWorkload, rater_workloads

RATER_PATH = "/rate/"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:7860"
MIN_SECRET_CHARS = 16
OPEN_STUDY_CACHE_S = 2.0


def user_error_message(exc: BaseException) -> str:
    """What the admin tab shows for a user error: its one-line message, never a raw codec message.

    A lone surrogate (e.g. "\\ud800" sent through the API) cannot be stored: SQLite's driver raises
    UnicodeEncodeError ("'utf-8' codec can't encode character ..."), which says nothing useful."""
    if isinstance(exc, UnicodeError):
        return ("The text holds characters that are not valid text (a lone surrogate such as U+D800); "
                "nothing was changed. Retype it, or fix the program that produced it.")
    return " ".join(str(exc).split())


class AdminDenied(PermissionError):
    """Wrong or missing admin secret."""


class AdminLockedOut(AdminDenied):
    """Too many wrong admin secrets from this client; the message says for how long."""


class AdminSecretError(ValueError):
    """The configured admin secret is unusable (too short); the message says why."""


def secret_file_for(url: str) -> Path | None:
    """Where a generated admin secret is kept for a SQLite URL (None for other databases)."""
    if not url.startswith("sqlite") or ":memory:" in url or url.rstrip("/").endswith("sqlite:"):
        return None
    return Path(url.split(":///", 1)[1] + ".admin-secret")


def resolve_admin_secret(explicit: str | None, db_url: str, announce: Callable[[str], None] = print,
                         reveal: bool = True) -> str:
    """The configured secret, else the stored one, else a new one (stored 0600 and announced once).

    reveal=False (rating-only mode) announces where a generated secret is kept, never the secret.
    Raises AdminSecretError for a configured secret shorter than MIN_SECRET_CHARS.
    """
    if explicit and explicit.strip():
        secret = explicit.strip()
        if len(secret) < MIN_SECRET_CHARS:
            raise AdminSecretError(f"The admin secret must have at least {MIN_SECRET_CHARS} characters "
                                   f"(it has {len(secret)}). Set a longer RADLLAMA_ADMIN_SECRET, or set none "
                                   f"and one is generated.")
        return secret
    path = secret_file_for(db_url)
    if path is not None and path.exists():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    secret = new_token()
    if path is not None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secret + "\n")
        announce(f"Admin secret generated and stored in {path} (mode 0600)"
                 + (f": {secret}" if reveal else "; read it from that file (it is not printed in rating-only mode)."))
    elif reveal:
        announce(f"Admin secret for this run (set RADLLAMA_ADMIN_SECRET to keep one): {secret}")
    else:
        announce("No admin secret is configured (set RADLLAMA_ADMIN_SECRET); admin pages are not served in "
                 "rating-only mode.")
    return secret


@dataclass(frozen=True)
class RaterRow:
    """A rater as the admin sees it."""

    study_id: int
    name: str
    pseudonym: str
    role: str
    revoked: bool
    n_assigned: int
    n_rated: int


def invitation_link(base_url: str, token: str) -> str:
    """The personal link a rater opens (base_url like http://host:port)."""
    return f"{base_url.rstrip('/')}{RATER_PATH}?token={token}"


class AdminService:
    """Admin operations for the CLI-less path (the admin tab); each checks the secret.

    public_url is the base of every invitation link (the server's public address, never the
    host the admin's browser used). downloads holds the one-time links CSVs (None: no CSV).
    reveal_secret=False: a generated secret is not printed (rating-only mode); client: who is calling.
    """

    def __init__(self, session_factory, admin_secret: str | None = None, systems: SystemService | None = None,
                 data_path=None, extra_systems: Sequence[str] = (), public_url: str = DEFAULT_PUBLIC_URL,
                 downloads: OneTimeDownloads | None = None, reveal_secret: bool = True,
                 throttle: FailureThrottle | None = None, client: Callable[[], str | None] = lambda: None,
                 signed_in: Callable[[], bool] = lambda: False):
        self.session_factory = session_factory
        self.systems = systems
        """The app's shared system cache (None: each study creation builds its own)."""
        self.data_path = data_path
        self.extra_systems = list(extra_systems)
        self.public_url = public_url.rstrip("/")
        self.downloads = downloads
        self.throttle = throttle or FailureThrottle()
        self.client = client
        self.signed_in = signed_in
        """True while the current request comes from a browser signed in as admin (app.py wires it)."""
        url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
        self._secret = resolve_admin_secret(admin_secret, url, reveal=reveal_secret)
        self._open_cache: tuple[float, bool] | None = None
        self._open_lock = threading.Lock()

    def require(self, secret: object, client: str | None = None) -> None:
        """Raise AdminDenied unless `secret` is the admin secret (constant-time comparison), or is empty
        and the request comes from a browser signed in as admin (signed_in()).

        Wrong secrets count against the client (default: self.client()); a locked-out client gets
        AdminLockedOut even with the right secret.
        """
        client = client if client is not None else self.client()
        try:
            if not self.signed_in():
                self.throttle.check(client)
        except Throttled as exc:
            raise AdminLockedOut(str(exc)) from None
        if not isinstance(secret, str) or not secret.strip():
            if self.signed_in():
                return  # signed in at /admin/sign-in: the browser's session stands for the secret
            raise AdminDenied("Admin secret missing or wrong.")
        if not hmac.compare_digest(secret.strip().encode(), self._secret.encode()):
            self.throttle.failed(client)
            raise AdminDenied("Admin secret missing or wrong.")

    def has_open_study(self) -> bool:
        """True while a (non-simulated) study has a rater whose link works: the workbench is then admin-only.

        Cached for a couple of seconds: the HTTP guard asks on every workbench request.
        """
        now = time.monotonic()
        with self._open_lock:
            if self._open_cache is not None and now - self._open_cache[0] < OPEN_STUDY_CACHE_S:
                return self._open_cache[1]
        from datetime import datetime, timezone

        with unit_of_work(self.session_factory) as session:
            found = session.scalar(
                select(Rater.id).join(Study).where(Study.simulated.is_(False), Rater.revoked.is_(False),
                                                   (Rater.expires_at.is_(None))
                                                   | (Rater.expires_at > datetime.now(timezone.utc)))
                .limit(1)) is not None
        with self._open_lock:
            self._open_cache = (now, found)
        return found

    def available_systems(self) -> list[str]:
        """Plain registry names, then the systems given on the command line (hf:, openai:, model: specs)."""
        return [n for n in registry.NAMED] + [s for s in self.extra_systems if s not in registry.NAMED]

    def create_study(self, secret: str, request: StudyRequest,
                     progress: Callable[[float, str], None] | None = None) -> CreatedStudy:
        self.require(secret)
        if request.data_path is None and self.data_path:
            from dataclasses import replace
            request = replace(request, data_path=self.data_path)
        # The shared cache retrieves from the app's data; a study on other data gets its own systems.
        same_data = request.data_path is None or request.data_path == self.data_path
        return build_study(self.session_factory, request, progress, systems=self.systems if same_data else None)

    def list_studies(self, secret: str) -> list[dict]:
        self.require(secret)
        with read_only_session(self.session_factory) as session:
            rows = []
            for study in session.scalars(select(Study).order_by(Study.id)):
                rows.append({
                    "id": study.id, "name": study.name, "simulated": study.simulated, "protocols": study.protocols,
                    "created": study.created_at.strftime("%Y-%m-%d %H:%M"),
                    "cases": session.scalar(select(func.count(Case.id)).where(Case.study_id == study.id)),
                    "systems": ", ".join(session.scalars(select(System.name).where(System.study_id == study.id)
                                                         .order_by(System.name))),
                    "raters": session.scalar(select(func.count(Rater.id)).where(Rater.study_id == study.id)),
                    "ratings": session.scalar(select(func.count(Rating.id)).join(Rater)
                                              .where(Rater.study_id == study.id)),
                })
            return rows

    def list_raters(self, secret: str, study_id: int) -> list[RaterRow]:
        self.require(secret)
        with read_only_session(self.session_factory) as session:
            rows = []
            for r in session.scalars(select(Rater).where(Rater.study_id == int(study_id)).order_by(Rater.id)):
                n_assigned = session.scalar(select(func.count(Assignment.id)).where(Assignment.rater_id == r.id))
                n_rated = (n_assigned or 0) - len(unrated_positions(session, r.id, r.study_id))
                rows.append(RaterRow(r.study_id, r.name, r.pseudonym, r.role, r.revoked, n_assigned or 0,
                                     n_rated or 0))
            return rows

    def add_rater(self, secret: str, study_id: int, name: str, role: str = "radiologist") -> str:
        self.require(secret)
        with unit_of_work(self.session_factory) as session:
            return add_rater(session, int(study_id), RaterSpec(name=name, role=role))

    def revoke_rater(self, secret: str, study_id: int, name: str) -> None:
        self.require(secret)
        with unit_of_work(self.session_factory) as session:
            revoke_rater(session, int(study_id), name)

    def reissue_token(self, secret: str, study_id: int, name: str) -> str:
        self.require(secret)
        with unit_of_work(self.session_factory) as session:
            return reissue_token(session, int(study_id), name)

    def invitations(self, tokens: dict[str, str]) -> list[Invitation]:
        """rater name -> token, as links on the public URL (with the token as access code)."""
        return [Invitation(name, invitation_link(self.public_url, token), token) for name, token in tokens.items()]

    def links_download(self, secret: str, rows: list[Invitation], filename: str) -> str | None:
        """Store the links as a CSV for ONE download; returns its key (None: downloads are off)."""
        self.require(secret)
        if self.downloads is None or not rows:
            return None
        return self.downloads.put(links_csv(rows), filename)

    def workloads(self, secret: str, study_id: int) -> list[RaterWorkload]:
        """Cases, candidates and estimated time per rater of a study."""
        self.require(secret)
        with unit_of_work(self.session_factory) as session:
            return rater_workloads(session, int(study_id))
