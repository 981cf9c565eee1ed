"""Radiology-Llama: the Gradio entry point (as on Hugging Face Spaces).

Wiring only: parse flags and environment, build the services, compose the tabs, launch.
One server holds two Gradio apps:
  /       the workbench: Generate, Study admin, Analysis;
  /rate/  the rater app: only what a blinded rater may see.
With --rating-only the workbench is not served at all (recommended while a study runs on a
shared network, so no reachable endpoint can regenerate outputs and unblind a rater).
"""
from __future__ import annotations

import os

# Privacy: set before gradio or huggingface_hub is imported, so nothing calls out.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Gradio's queue rebuilds a pandas summary of up to 10,000 past events after EVERY event, for a
# monitoring page this app never enables: CPU taken from the raters' submits. Once per 1,000.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import argparse  # noqa: E402
from dataclasses import dataclass  # noqa: E402

RATER_PATH = "/rate"
RATER_CONCURRENCY = 20
"""Rater requests handled at once: a study's raters can all submit together. Their database
writes queue on db.engine's per-file lock; measured with 20 raters submitting back to back
(bench/bench_rating_submit.py), 20 instead of 8 gives p50 316 vs 365 ms, 58.8 vs 53.8 submits/s."""
TABS = ("generate", "admin", "analysis", "rate")
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

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must lie in 1..65535, not {self.port}")
        if self.only_tab is not None and self.only_tab not in TABS:
            raise ValueError(f"--only must be one of {', '.join(TABS)}, not {self.only_tab!r}")


def parse_args(argv: list[str] | None = None) -> AppConfig:
    env = os.environ
    p = argparse.ArgumentParser(description="Radiology-Llama demo, rating study and analysis")
    p.add_argument("--host", default=env.get("GRADIO_SERVER_NAME", AppConfig.host))
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
    a = p.parse_args(argv)
    return AppConfig(host=a.host, port=a.port, model_path=a.model_path, systems=tuple(a.systems),
                     db_url=a.db_url, data_path=a.data_path, admin_secret=a.admin_secret, share=a.share,
                     rating_only=a.rating_only, build_model=a.build_model, only_tab=a.only_tab)


@dataclass
class Services:
    generation: object
    rating: object
    admin: object
    analysis: object


def build_services(cfg: AppConfig) -> Services:
    from db.engine import make_session_factory, prepare_database
    from demo.service import GenerationService
    from generation.service import SystemService
    from rating.admin import AdminService
    from rating.analysis_service import AnalysisService
    from rating.service import RatingService

    factory = make_session_factory(prepare_database(cfg.db_url))
    if cfg.rating_only or cfg.only_tab == "rate":
        # Only the rater page is served: no generator is reachable, so none is loaded (loading and
        # warming one up would take CPU from the raters' requests).
        admin = AdminService(factory, admin_secret=cfg.admin_secret, data_path=cfg.data_path)
        return Services(generation=None, rating=RatingService(factory), admin=admin,
                        analysis=AnalysisService(factory, admin=admin))
    generation = GenerationService.from_config(model_path=cfg.model_path, extra_systems=cfg.systems,
                                               data_path=cfg.data_path,
                                               build_if_missing=cfg.build_model and not cfg.rating_only)
    # Study creation shares the demo's cache: a model the Generate tab loaded is not loaded twice.
    admin = AdminService(factory, admin_secret=cfg.admin_secret, systems=generation.systems,
                         data_path=cfg.data_path, extra_systems=cfg.systems)
    return Services(generation=generation, rating=RatingService(factory), admin=admin,
                    analysis=AnalysisService(factory, admin=admin))


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
    """A FastAPI app with the rater app at /rate and (unless rating-only) the workbench at /."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    from core.request_limits import RequestLimits

    services = services or build_services(cfg)
    server = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Oversized bodies are refused (413) before Gradio keeps them in session state; 422s are not echoed.
    server.add_middleware(RequestLimits)
    if cfg.only_tab and cfg.only_tab != "rate":
        page = build_single_tab(services, cfg.only_tab).queue(default_concurrency_limit=2)
        page.state_session_capacity = WORKBENCH_STATE_SESSIONS
        return gr.mount_gradio_app(server, page, path="", footer_links=["api"])
    rater_app = build_rater_app(services).queue(default_concurrency_limit=RATER_CONCURRENCY)
    gr.mount_gradio_app(server, rater_app, path=RATER_PATH, footer_links=[])
    if cfg.rating_only or cfg.only_tab == "rate":
        @server.get("/")
        def _to_rating():
            return RedirectResponse(f"{RATER_PATH}/")
    else:
        workbench = build_workbench(services).queue(default_concurrency_limit=2)
        workbench.state_session_capacity = WORKBENCH_STATE_SESSIONS
        gr.mount_gradio_app(server, workbench, path="", footer_links=["api"])
    return server


def launch_shared(cfg: AppConfig, services: Services) -> None:
    """--share: one Gradio app behind a public gradio.live link (this DOES leave the machine).

    The combined server cannot be tunnelled, so only one app is shared: the workbench, or with
    --rating-only the rater app. The other one is not served at all in this mode.
    """
    if cfg.rating_only:
        app, other = build_rater_app(services).queue(default_concurrency_limit=RATER_CONCURRENCY), "workbench"
    else:
        app, other = build_workbench(services).queue(default_concurrency_limit=2), f"rater app ({RATER_PATH}/)"
    print(f"--share: creating a public link through Gradio's share servers (needs internet). "
          f"The {other} is not served in this mode; run without --share for both.", flush=True)
    app.launch(server_name=cfg.host, server_port=cfg.port, share=True, footer_links=[])


def main(argv: list[str] | None = None) -> None:
    import sys

    import uvicorn

    from core.request_limits import TruncatingStream
    from db.engine import DatabaseRefused

    # Gradio prints a refused API call's whole input in its traceback: keep the log short.
    sys.stderr = TruncatingStream(sys.stderr)

    cfg = parse_args(argv)
    try:
        services = build_services(cfg)
    except DatabaseRefused as exc:  # a read-only, newer, corrupt or foreign database: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
    if cfg.share:
        launch_shared(cfg, services)
        return
    server = create_server(cfg, services)
    print(f"Radiology-Llama on http://{cfg.host}:{cfg.port}/  (raters: http://{cfg.host}:{cfg.port}{RATER_PATH}/)",
          flush=True)
    uvicorn.run(server, host=cfg.host, port=cfg.port, log_level="warning")


if __name__ == "__main__":
    main()
