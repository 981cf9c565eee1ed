"""Radiology-Llama: the Gradio entry point (as on Hugging Face Spaces).

Wiring only: parse flags and environment, build the services, compose the tabs, launch.
One server holds two Gradio apps:
  /       the workbench: Generate, Study admin, Analysis;
  /rate/  the rater app: only what a blinded rater may see.
While a study is open, the whole workbench (Generate included: it could regenerate the outputs
and unblind a rater) needs the admin: sign in at /admin/sign-in (rating/ui/http_guard.py).
With --rating-only the workbench is not served at all. --public-demo (for a Space) serves the
Generate tab to anyone and no study, admin or rater page at all. On a Hugging Face Space (SPACE_ID
set) that public demo is all the app serves unless the Space opts in (docs/space.md).
"""
from __future__ import annotations

import os
import sys

# Privacy: set before gradio or huggingface_hub is imported, so nothing calls out. Only a Space or
# --fetch-data (RADLLAMA_FETCH_DATA=1) may reach the internet: for the Open-i archive and a Hub --model.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if not (os.environ.get("SPACE_ID") or os.environ.get("RADLLAMA_FETCH_DATA") == "1" or "--fetch-data" in sys.argv):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Gradio's queue rebuilds a pandas summary of up to 10,000 past events after EVERY event, for a
# monitoring page this app never enables: CPU taken from the raters' submits. Once per 1,000.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import argparse
from dataclasses import dataclass

RATER_PATH = "/rate"
RATER_CONCURRENCY = 20
"""Rater requests handled at once: a study's raters can all submit together. Their database
writes queue on db.engine's per-file lock; measured with 20 raters submitting back to back
(bench/bench_rating_submit.py), 20 instead of 8 gives p50 316 vs 365 ms, 58.8 vs 53.8 submits/s."""
TABS = ("generate", "admin", "analysis", "rate")
EXPORTS_DIR = "exports"
"""Analysis exports, inside the home folder (each removed when the next is made and when the app stops)."""
RATER_MAX_UPLOAD = "1mb"
"""Gradio's own upload cap on the rater app (the HTTP guard refuses rater uploads before that)."""
WORKBENCH_STATE_SESSIONS = 200
"""Browser/API sessions whose state Gradio keeps for the workbench (its default: 10,000). Gradio keeps
each session's inputs; every /generate API call is a new session, so 10,000 sessions of inputs up to
the request cap grew the server by ~1.5 MB per 1,000 KB of requests (bench/bench_memory_cap.py).
200 bounds that to ~200 x 1.5 x the request cap and is plenty for a researcher's team."""


@dataclass(frozen=True)
class AppConfig:
    """Everything the app needs to start; each field has a flag and an environment variable."""

    host: str = "127.0.0.1"
    """Interface to listen on (GRADIO_SERVER_NAME). 0.0.0.0 exposes it to the network."""
    port: int = 7860
    """TCP port (GRADIO_SERVER_PORT)."""
    model_path: str | None = None
    """Folder of the project's fine-tuned model (RADLLAMA_MODEL); default models/default/final."""
    systems: tuple[str, ...] = ()
    """More systems to offer in the Generate tab and for studies (RADLLAMA_SYSTEMS, comma-separated): specs
    such as hf:PATH, openai:MODEL@BASE_URL, model:PATH (generation/registry.py), or a checkpoint folder."""
    db_url: str | None = None
    """SQLAlchemy URL or SQLite file path of the study database (RADLLAMA_DB); default radllama.db."""
    data_path: str | None = None
    """Report file for retrieval, examples and new studies (RADLLAMA_DATA); default the shared OpenI CSV."""
    admin_secret: str | None = None
    """Secret for the admin and analysis tabs (RADLLAMA_ADMIN_SECRET); generated and printed if unset."""
    share: bool = False
    """Create a public gradio.live link. Off by default: nothing leaves the machine."""
    rating_only: bool = False
    """Serve only the rater app (no Generate tab, no admin) for a live study."""
    build_model: bool = True
    """Build the default model in the background when it is missing (baselines serve meanwhile)."""
    only_tab: str | None = None
    """Serve one tab on its own at / (generate, admin, analysis or rate) instead of the whole app."""
    public_url: str | None = None
    """Base of the raters' invitation links (RADLLAMA_PUBLIC_URL), e.g. https://ratings.example.org;
    default the server's own address http://HOST:PORT, never the host the admin's browser used."""
    public_demo: bool = False
    """Serve only the Generate tab, to anyone, and no study (RADLLAMA_PUBLIC_DEMO=1; always on a Space
    unless space_study)."""
    fetch_data: bool = False
    """May reach the internet (--fetch-data, RADLLAMA_FETCH_DATA=1; on by default on a Space): download the
    Open-i archive when no report data is found, and a --model given as a Hugging Face Hub id."""
    space_study: bool = False
    """On a Space, serve the whole app (studies, rater page, admin) instead of the public demo
    (--space-study, RADLLAMA_SPACE_STUDY=1); needs RADLLAMA_ADMIN_SECRET set as a Space secret."""
    secure_cookies: bool = False
    """Mark every cookie Secure (RADLLAMA_SECURE_COOKIES=1): the site is served over HTTPS by a proxy that is
    not named in RADLLAMA_TRUSTED_PROXIES (from a trusted one, X-Forwarded-Proto: https does the same)."""
    header_timeout_s: float = 10.0
    """Seconds a connection has to send a request's headers before it is closed (RADLLAMA_HEADER_TIMEOUT_S)."""
    shared_sqlite: bool = False
    """Start even when another app process serves the same SQLite file (RADLLAMA_SHARED_SQLITE=1); refused
    otherwise (db/process_lock.py): SQLite serves one process well, several processes want PostgreSQL."""

    def __post_init__(self) -> None:
        if self.public_demo and (self.rating_only or self.only_tab not in (None, "generate")):
            raise ValueError("--public-demo serves only the Generate tab: it cannot be combined with "
                             "--rating-only or --only " + str(self.only_tab or ""))
        if self.only_tab is not None and self.only_tab not in TABS:
            raise ValueError(f"--only must be one of {', '.join(TABS)}, not {self.only_tab!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must lie in 1..65535, not {self.port}")
        if not 0 < self.header_timeout_s <= 3600:
            raise ValueError(f"header timeout must lie in (0, 3600] seconds, not {self.header_timeout_s}")
        if self.public_url is not None:
            from rating.invitations import normalise_public_url

            object.__setattr__(self, "public_url", normalise_public_url(self.public_url))

    @property
    def links_base_url(self) -> str:
        """Where invitation links point: --public-url, else this server's own address."""
        from rating.invitations import default_public_url

        return self.public_url or default_public_url(self.host, self.port)


def parse_args(argv: list[str] | None = None) -> AppConfig:
    env = os.environ
    p = argparse.ArgumentParser(description="Radiology-Llama demo, rating study and analysis")
    from core.space import SPACE_LISTEN_HOST, SpaceRefused, on_space, space_settings

    p.add_argument("--host", default=env.get("GRADIO_SERVER_NAME") or (SPACE_LISTEN_HOST if on_space(env)
                                                                       else AppConfig.host))
    p.add_argument("--port", type=int, default=int(env.get("GRADIO_SERVER_PORT", AppConfig.port)))
    p.add_argument("--model", dest="model_path", default=env.get("RADLLAMA_MODEL"))
    p.add_argument("--system", "--extra-model", dest="systems", action="append", metavar="SPEC",
                   default=[m.strip() for m in (env.get("RADLLAMA_SYSTEMS") or env.get("RADLLAMA_EXTRA_MODELS", ""))
                            .split(",") if m.strip()],
                   help="another system: hf:PATH, openai:MODEL@BASE_URL, model:PATH (repeatable)")
    p.add_argument("--db", dest="db_url", default=env.get("RADLLAMA_DB"))
    p.add_argument("--data", dest="data_path", default=env.get("RADLLAMA_DATA"))
    p.add_argument("--admin-secret", default=env.get("RADLLAMA_ADMIN_SECRET"))
    p.add_argument("--share", action="store_true", default=False)
    p.add_argument("--rating-only", action="store_true", default=env.get("RADLLAMA_RATING_ONLY") == "1")
    p.add_argument("--no-build-model", dest="build_model", action="store_false",
                   default=env.get("RADLLAMA_BUILD_MODEL", "1") != "0")
    p.add_argument("--only", dest="only_tab", choices=TABS, default=None, help="serve one tab on its own")
    p.add_argument("--public-url", default=env.get("RADLLAMA_PUBLIC_URL") or None,
                   help="base URL of rater links, e.g. https://ratings.example.org (default http://HOST:PORT)")
    p.add_argument("--public-demo", action="store_true", default=env.get("RADLLAMA_PUBLIC_DEMO") == "1",
                   help="serve the Generate tab to anyone and no study, admin or rater page (for a Space)")
    p.add_argument("--fetch-data", action="store_true", default=env.get("RADLLAMA_FETCH_DATA") == "1",
                   help="may use the internet: download the Open-i archive when no data is found, and a Hub --model")
    p.add_argument("--space-study", action="store_true", default=env.get("RADLLAMA_SPACE_STUDY") == "1",
                   help="on a Space, serve studies and the rater page too (needs RADLLAMA_ADMIN_SECRET as a Space secret)")
    p.add_argument("--secure-cookies", action="store_true", default=env.get("RADLLAMA_SECURE_COOKIES") == "1",
                   help="mark cookies Secure (the site is served over HTTPS by a proxy)")
    p.add_argument("--header-timeout", dest="header_timeout_s", type=float,
                   default=float(env.get("RADLLAMA_HEADER_TIMEOUT_S") or AppConfig.header_timeout_s),
                   help="seconds a client has to send a request's headers (default 10)")
    p.add_argument("--shared-sqlite", action="store_true", default=env.get("RADLLAMA_SHARED_SQLITE") == "1",
                   help="start even when another app process serves the same SQLite file (use PostgreSQL instead)")
    a = p.parse_args(argv)
    try:
        a.public_demo, a.fetch_data, a.public_url = space_settings(
            env, public_demo=a.public_demo, fetch_data=a.fetch_data, space_study=a.space_study,
            rating_only=a.rating_only, only_tab=a.only_tab, admin_secret=a.admin_secret, public_url=a.public_url)
    except SpaceRefused as exc:
        p.error(str(exc))
    argv_seen = sys.argv[1:] if argv is None else argv
    if any(arg == "--admin-secret" or arg.startswith("--admin-secret=") for arg in argv_seen):
        print("warning: --admin-secret is visible to every user of this machine in the process list; set "
              "RADLLAMA_ADMIN_SECRET instead, or set none and one is generated and kept in <db>.admin-secret (0600).",
              file=sys.stderr, flush=True)
    try:
        return AppConfig(host=a.host, port=a.port, model_path=a.model_path, systems=tuple(a.systems),
                         db_url=a.db_url, data_path=a.data_path, admin_secret=a.admin_secret, share=a.share,
                         rating_only=a.rating_only, build_model=a.build_model, only_tab=a.only_tab,
                         public_url=a.public_url, public_demo=a.public_demo, fetch_data=a.fetch_data,
                         space_study=a.space_study, secure_cookies=a.secure_cookies,
                         header_timeout_s=a.header_timeout_s, shared_sqlite=a.shared_sqlite)
    except ValueError as exc:
        p.error(str(exc))


@dataclass
class Services:
    generation: object
    rating: object
    admin: object
    analysis: object


def build_services(cfg: AppConfig) -> Services:
    from core.home import NOT_PERSISTENT_WARNING, resolve_home
    from db.engine import make_session_factory, prepare_database
    from demo.service import GenerationService
    from rating.admin import AdminService
    from rating.analysis.service import AnalysisService
    from rating.invitations import OneTimeDownloads
    from rating.service import RatingService
    from rating.ui.request_client import current_client

    home = resolve_home()
    home.folder.mkdir(parents=True, exist_ok=True)
    notices = [] if home.persistent else [NOT_PERSISTENT_WARNING]
    print(f"Home folder (database, admin secret, models, caches, exports): {home.folder} ({home.source})", flush=True)
    if notices:
        print(f"warning: {NOT_PERSISTENT_WARNING}", file=sys.stderr, flush=True)

    def generation_service():
        return GenerationService.from_config(model_path=_local_model(cfg, home.folder), extra_systems=cfg.systems, data_path=cfg.data_path,
                                             build_if_missing=cfg.build_model, fetch_data=cfg.fetch_data,
                                             notices=notices)

    if cfg.public_demo:
        # A public oracle serves no study: no database, no admin, no rater page.
        return Services(generation=generation_service(), rating=None, admin=None, analysis=None)
    factory = make_session_factory(prepare_database(cfg.db_url))
    rating_only = cfg.rating_only or cfg.only_tab == "rate"
    admin = AdminService(factory, admin_secret=cfg.admin_secret, data_path=cfg.data_path, extra_systems=cfg.systems,
                         public_url=cfg.links_base_url, downloads=None if cfg.share else OneTimeDownloads(),
                         reveal_secret=not rating_only, client=current_client)
    rating = RatingService(factory, client=current_client)
    if rating_only:
        # Only the rater page is served: no generator is reachable, so none is loaded (loading and
        # warming one up would take CPU from the raters' requests).
        return Services(generation=None, rating=rating, admin=admin,
                        analysis=AnalysisService(factory, admin=admin, export_root=home.folder / EXPORTS_DIR))
    generation = generation_service()
    # Study creation shares the demo's cache: a model the Generate tab loaded is not loaded twice.
    admin.systems = generation.systems
    return Services(generation=generation, rating=rating, admin=admin,
                    analysis=AnalysisService(factory, admin=admin, export_root=home.folder / EXPORTS_DIR))


def _local_model(cfg: AppConfig, home) -> str | None:
    """--model as a local folder: a Hugging Face Hub id is fetched once into HOME/models/hub (one line if it cannot)."""
    from generation.hub_model import HUB_SUBDIR, HubModelUnavailable, cached_folder, looks_like_repo_id, resolve_model

    try:
        return resolve_model(cfg.model_path, home / HUB_SUBDIR, may_download=cfg.fetch_data)
    except HubModelUnavailable as exc:
        print(f"error: {exc} The baselines serve.", file=sys.stderr, flush=True)
        assert looks_like_repo_id(cfg.model_path)
        return str(cached_folder(cfg.model_path, home / HUB_SUBDIR))


def _tab_builders(services: Services) -> dict:
    """Tab name -> (title, function laying the tab out inside the current gr.Blocks)."""
    from demo.generate_tab import build_generate_tab
    from rating.ui.admin_tab import build_admin_tab
    from rating.ui.analysis_tab import build_analysis_tab
    from rating.ui.rater_tab import build_rater_tab

    return {
        "generate": ("Generate", lambda: build_generate_tab(services.generation)),
        "admin": ("Study admin", lambda: build_admin_tab(services.admin)),
        "analysis": ("Analysis", lambda: build_analysis_tab(services.analysis)),
        "rate": ("Rating", lambda: build_rater_tab(services.rating)),
    }


def build_workbench(services: Services):
    """Generate, Study admin and Analysis tabs for the researcher and the analyst."""
    import gradio as gr

    builders = _tab_builders(services)
    with gr.Blocks(title="Radiology-Llama") as workbench:
        gr.Markdown("# Radiology-Llama\nFindings in, impression out: a demo, blinded expert rating and analysis. "
                    f"Raters use the separate rating page at `{RATER_PATH}/`.")
        for name in ("generate", "admin", "analysis"):
            title, build = builders[name]
            with gr.Tab(title):
                build()
    return workbench


def build_single_tab(services: Services, name: str):
    """One tab on its own page (`python app.py --only NAME`)."""
    import gradio as gr

    title, build = _tab_builders(services)[name]
    with gr.Blocks(title=f"Radiology-Llama: {title}") as page:
        build()
    return page


def build_rater_app(services: Services):
    """The blinded rater page: nothing in it names a system."""
    return build_single_tab(services, "rate")


def create_server(cfg: AppConfig, services: Services | None = None):
    """The ASGI app: the rater app at /rate and (unless rating-only) the workbench at /, behind the HTTP guard."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    from core.request_limits import RequestLimits
    from rating.ui.http_guard import COOKIE, AdminSessions, HttpGuard
    from rating.ui.request_client import current_cookie

    services = services or build_services(cfg)
    server = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Oversized bodies are refused (413) before Gradio keeps them in session state; 422s are not echoed.
    server.add_middleware(RequestLimits)
    sessions = AdminSessions()
    guard = {"admin": services.admin, "rater_prefix": RATER_PATH, "public_demo": cfg.public_demo,
             "sessions": sessions, "secure_cookies": cfg.secure_cookies, "public_url": cfg.public_url}
    if services.admin is not None:  # a signed-in admin is never locked out by others' wrong secrets
        services.admin.signed_in = lambda: sessions.valid(current_cookie(COOKIE))
    if services.admin is not None and services.admin.downloads is not None:
        from rating.ui.links_route import add_links_route

        add_links_route(server, services.admin.downloads)  # before the workbench claims "/"
    from demo.queue_bound import bound_queue

    if cfg.public_demo or (cfg.only_tab and cfg.only_tab != "rate"):
        page = build_single_tab(services, "generate" if cfg.public_demo else cfg.only_tab)
        page.state_session_capacity = WORKBENCH_STATE_SESSIONS
        # Queued jobs are capped per client and in all: one client cannot make a visitor wait behind a flood.
        gr.mount_gradio_app(server, bound_queue(page.queue(default_concurrency_limit=2)), path="",
                            footer_links=["api"])
        return HttpGuard(server, **guard)
    from rating.ui.rater_session import install_rater_session

    # Sign-in routes first: the mount below would otherwise take every /rate/... path. No run
    # history: Gradio would keep every call's inputs and outputs in the rater's localStorage.
    install_rater_session(server, services.rating, RATER_PATH)
    rater_app = build_rater_app(services).queue(default_concurrency_limit=RATER_CONCURRENCY)
    gr.mount_gradio_app(server, rater_app, path=RATER_PATH, footer_links=[], run_history=False,
                        max_file_size=RATER_MAX_UPLOAD)
    if cfg.rating_only or cfg.only_tab == "rate":
        @server.get("/")
        def _to_rating():
            return RedirectResponse(f"{RATER_PATH}/")
    else:
        workbench = bound_queue(build_workbench(services).queue(default_concurrency_limit=2))
        workbench.state_session_capacity = WORKBENCH_STATE_SESSIONS
        gr.mount_gradio_app(server, workbench, path="", footer_links=["api"])
    return HttpGuard(server, **guard)


def launch_shared(cfg: AppConfig, services: Services) -> None:
    """--share: one Gradio app behind a public gradio.live link (this DOES leave the machine).

    The combined server cannot be tunnelled, so only one app is shared: the workbench, or with
    --rating-only the rater app. The other one is not served at all in this mode.
    """
    extra: dict = {}
    auth = None
    if cfg.public_demo:
        app, other = build_single_tab(services, "generate").queue(default_concurrency_limit=2), "study"
    elif cfg.rating_only:
        from rating.ui.rater_session import rater_session_app_kwargs

        app, other = build_rater_app(services).queue(default_concurrency_limit=RATER_CONCURRENCY), "workbench"
        extra = {"app_kwargs": rater_session_app_kwargs(services.rating), "run_history": False}
    else:
        app, other = build_workbench(services).queue(default_concurrency_limit=2), f"rater app ({RATER_PATH}/)"
        if services.admin.has_open_study():  # no public oracle beside an open study: the admin signs in
            admin = services.admin
            auth = lambda _user, password: _admin_ok(admin, password)  # noqa: E731
    print(f"--share: creating a public link through Gradio's share servers (needs internet). "
          f"The {other} is not served in this mode; run without --share for both.", flush=True)
    app.launch(server_name=cfg.host, server_port=cfg.port, share=True, footer_links=[], auth=auth,
               auth_message="A study is open: sign in with any user name and the admin secret.", **extra)


def _admin_ok(admin, secret: str) -> bool:
    try:
        admin.require(secret, client="share-login")
    except PermissionError:
        return False
    return True


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM ends the process through SystemExit, so atexit handlers run (the private file cache is
    removed, a background build is stopped). uvicorn shuts down gracefully, then re-raises the signal,
    whose default handler would end the process before any atexit handler."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def _private_gradio_cache() -> None:
    """Gradio's file cache (uploads, downloads such as analysis exports) in a private folder, removed at exit."""
    if os.environ.get("GRADIO_TEMP_DIR"):
        return
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="radllama-gradio-")  # 0700
    os.environ["GRADIO_TEMP_DIR"] = folder
    atexit.register(shutil.rmtree, folder, True)


def main(argv: list[str] | None = None) -> None:
    import sys

    import uvicorn

    from core.header_timeout import header_timeout_protocol
    from core.request_limits import TruncatingStream
    from db.engine import DatabaseRefused
    from rating.admin import AdminSecretError

    # Gradio prints a refused API call's whole input in its traceback: keep the log short.
    sys.stderr = TruncatingStream(sys.stderr)

    cfg = parse_args(argv)
    _private_gradio_cache()
    try:
        if not cfg.public_demo:  # one app process per SQLite file, unless --shared-sqlite
            from db.process_lock import claim_for_app
            claim_for_app(cfg.db_url, shared=cfg.shared_sqlite, warn=lambda line: print(line, file=sys.stderr,
                                                                                       flush=True))
        services = build_services(cfg)
        if cfg.share:
            launch_shared(cfg, services)
            return
        server = create_server(cfg, services)
    except (AdminSecretError, DatabaseRefused) as exc:  # one line, no traceback
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    raters = "" if cfg.public_demo else f"  (raters: http://{cfg.host}:{cfg.port}{RATER_PATH}/)"
    print(f"Radiology-Llama on http://{cfg.host}:{cfg.port}/{raters}", flush=True)
    # X-Forwarded-For is believed only from the proxies named in $RADLLAMA_TRUSTED_PROXIES: otherwise any
    # local process could pick the client address that the lockout counts against.
    trusted = os.environ.get("RADLLAMA_TRUSTED_PROXIES", "").strip()
    _exit_cleanly_on_sigterm()
    uvicorn.run(server, host=cfg.host, port=cfg.port, log_level="warning", proxy_headers=bool(trusted),
                forwarded_allow_ips=trusted or None, http=header_timeout_protocol(cfg.header_timeout_s))


if __name__ == "__main__":
    main()
