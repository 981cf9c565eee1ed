"""A fresh machine: the home folder, the data search order, the Open-i download (offline, from a loopback
server), a Hub model id (against a folder laid out like the hub cache), the Space rules, .gitignore and
the CPU requirements file."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.openi_archive import ABNORMAL_FINDINGS, ARCHIVE_NAME, ROOT, serve_archive, small_archive


# -- home folder and data search order ---------------------------------------------------------------------
def test_home_is_radllama_home_else_space_storage_else_project(tmp_path):
    from core.home import PROJECT_ROOT, resolve_home

    assert resolve_home({}).folder == PROJECT_ROOT and resolve_home({}).persistent
    home = resolve_home({"RADLLAMA_HOME": str(tmp_path / "h")})
    assert (home.folder, home.source, home.persistent) == (tmp_path / "h", "RADLLAMA_HOME", True)
    space = {"SPACE_ID": "lab/demo"}
    assert resolve_home(space, space_storage=tmp_path / "absent") == resolve_home(space, tmp_path / "absent")
    no_storage = resolve_home(space, space_storage=tmp_path / "absent")
    assert (no_storage.folder, no_storage.persistent) == (PROJECT_ROOT, False)
    mounted = resolve_home(space, space_storage=tmp_path)
    assert (mounted.folder, mounted.source, mounted.persistent) == (tmp_path, "Space storage", True)
    assert resolve_home({**space, "RADLLAMA_HOME": str(tmp_path / "v")}).folder == tmp_path / "v"


def test_defaults_follow_the_home_folder(tmp_path, monkeypatch):
    from db.engine import database_url
    from rating.admin import secret_file_for
    from rating.output_cache import OutputCache

    monkeypatch.setenv("RADLLAMA_HOME", str(tmp_path))
    monkeypatch.delenv("RADLLAMA_DB", raising=False)
    monkeypatch.delenv("RADLLAMA_OUTPUT_CACHE", raising=False)
    url = database_url()
    assert url == f"sqlite:///{tmp_path / 'radllama.db'}"
    assert secret_file_for(url) == tmp_path / "radllama.db.admin-secret"
    assert OutputCache().folder == tmp_path / "runs" / "output-cache"
    code = "from core.paths import DEFAULT_MODEL_DIR; print(DEFAULT_MODEL_DIR)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "RADLLAMA_HOME": str(tmp_path)}).stdout.strip()
    assert out == str(tmp_path / "models" / "default" / "final")


def test_data_search_order(tmp_path, monkeypatch):
    from core import paths

    shared = tmp_path / "shared.csv"
    monkeypatch.setattr(paths, "SHARED_OPENI", shared)
    monkeypatch.setenv("RADLLAMA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RADLLAMA_DATA", raising=False)
    with pytest.raises(paths.DataNotFound, match="--fetch-data"):
        paths.default_data_path()
    in_home = tmp_path / "home" / "data" / "openi" / ARCHIVE_NAME
    in_home.parent.mkdir(parents=True)
    in_home.write_bytes(small_archive(4))
    assert paths.default_data_path() == in_home
    shared.write_text("uid,MeSH\n")
    assert paths.default_data_path() == shared  # ../shared before the home folder
    env_file = tmp_path / "env.jsonl"
    env_file.write_text("")
    monkeypatch.setenv("RADLLAMA_DATA", str(env_file))
    assert paths.default_data_path() == env_file
    assert paths.default_data_path(str(in_home)) == in_home  # --data first


# -- the Open-i download, offline ------------------------------------------------------------------------------
@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No ../shared, an empty home folder."""
    from core import paths

    monkeypatch.setattr(paths, "SHARED_OPENI", tmp_path / "no-shared.csv")
    monkeypatch.setenv("RADLLAMA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RADLLAMA_DATA", raising=False)
    return tmp_path / "home"


def _service(capsys):
    from demo.service import GenerationService

    service = GenerationService.from_config(model_path=str(Path("/nonexistent-model")), build_if_missing=False,
                                            fetch_data=True)
    return service


def test_download_once_into_the_home_folder_then_retrieval(no_data, monkeypatch, capsys):
    server = serve_archive(small_archive(), released=False)
    try:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        service = _service(capsys)
        # while the download runs: the terminal and the Generate tab say so; baselines without data answer
        assert "Downloading the Open-i reports archive" in service.status_markdown()
        assert "downloading the Open-i reports archive from " + server.url in capsys.readouterr().err
        early = service.generate(ABNORMAL_FINDINGS, "retrieval")  # offered, but answered by lead until the data is here
        assert early.system == "lead" and "not by the retrieval baseline, which needs the report data" in early.details()
        assert service.generate(ABNORMAL_FINDINGS, "lead").impression
        server.release.set()
        assert service.data_fetch.wait(120) == "ready"
        archive = no_data / "data" / "openi" / ARCHIVE_NAME
        assert archive.read_bytes() == server.body
        assert "retrieval" in {c.key for c in service.choices()}
        assert service.generate(ABNORMAL_FINDINGS, "retrieval").impression == "Large right pleural effusion."
        assert service.generate(ABNORMAL_FINDINGS, "default").system == "retrieval"  # the fallback uses the data
        assert "Downloading" not in service.status_markdown()
        # a second start finds the archive in the home folder and does not download again
        again = _service(capsys)
        assert again.data_fetch is None and again.train
        assert server.requests == [f"/{ARCHIVE_NAME}"]
    finally:
        server.close()


def test_no_data_means_no_build_is_announced(no_data, monkeypatch, capsys, tmp_path):
    """Before: with no data the app said "Building the project model ... about 15 minutes" and the build died
    within a second ("No report data found")."""
    import demo.service as service_module
    from demo.service import GenerationService

    final = tmp_path / "models" / "default" / "final"
    monkeypatch.setattr(service_module, "DEFAULT_MODEL_DIR", final)
    monkeypatch.setenv("RADLLAMA_MODEL", str(final))
    service = GenerationService.from_config(build_if_missing=True, fetch_data=False)
    try:
        assert "Building the project model" not in capsys.readouterr().err
        assert service.builder is not None and service.builder._proc is None
        assert service.model_status().state == "missing" and "No report data" in service.status_markdown()
    finally:
        service.builder.stop()


def test_a_model_that_cannot_load_here_falls_back_with_a_note(no_data, tmp_path):
    """Seen from a fresh clone: a prebuilt model that retrieves training examples, on a Space whose data download
    failed, made every /generate for the default system an error ("System 'default' is not available")."""
    from demo.service import GenerationService

    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # looks like a checkpoint, cannot be loaded
    service = GenerationService.from_config(model_path=str(broken), build_if_missing=False)
    answer = service.generate(ABNORMAL_FINDINGS)
    assert answer.system == "lead" and answer.impression
    assert "not by Radiology-Llama, which cannot answer on this server" in answer.details()


@pytest.mark.parametrize("override, why", [({"sha256": "0" * 64}, "SHA-256"), ({"size": 100}, "bytes")])
def test_a_bad_download_is_one_line_and_the_baselines_serve(no_data, monkeypatch, capsys, override, why):
    server = serve_archive(small_archive())
    try:
        for key, value in server.env(**override).items():
            monkeypatch.setenv(key, value)
        service = _service(capsys)
        assert service.data_fetch.wait(120) == "failed"
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Downloading the Open-i reports archive failed" in errors[0] and why in errors[0]
        assert not (no_data / "data" / "openi" / ARCHIVE_NAME).exists()
        assert not list((no_data / "data" / "openi").glob("*.part"))
        assert "failed" in service.status_markdown()
        assert service.generate(ABNORMAL_FINDINGS, "lead").impression
        assert service.generate(ABNORMAL_FINDINGS, "default").system == "lead"
    finally:
        server.close()


def test_unreachable_server_is_one_line(no_data, monkeypatch, capsys):
    from tests.support.app_process import free_port

    monkeypatch.setenv("RADLLAMA_TEST_OPENI_URL", f"http://127.0.0.1:{free_port()}/{ARCHIVE_NAME}")
    service = _service(capsys)
    assert service.data_fetch.wait(120) == "failed"
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not download" in errors[0]


# -- a Hub model id, offline against a hub-cache layout -----------------------------------------------------------
def test_hub_model_id_resolves_from_the_hub_cache_in_the_home_folder(tmp_path):
    from generation.hub_model import HubModelUnavailable, looks_like_repo_id, resolve_model

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models" / "hub" / "models--acme--radllama-openi"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    cache = tmp_path / "models" / "hub"
    assert Path(resolve_model("acme/radllama-openi", cache, may_download=False)) == snapshot
    assert resolve_model(str(snapshot), cache, may_download=False) == str(snapshot)  # a path stays a path
    assert resolve_model(None, cache, may_download=False) is None
    assert not looks_like_repo_id("models/default/final") or not Path("models/default/final").exists()
    with pytest.raises(HubModelUnavailable, match="--fetch-data"):
        resolve_model("acme/not-cached", cache, may_download=False)


def test_a_hub_download_that_fails_is_one_line(tmp_path, monkeypatch):
    """May download, but the hub cannot be reached (here: huggingface_hub's offline mode): one line, no traceback."""
    from generation.hub_model import HubModelUnavailable, resolve_model

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(HubModelUnavailable) as caught:
        resolve_model("acme/radllama-openi", tmp_path / "hub", may_download=True, announce=lambda line: None)
    assert "could not download the model 'acme/radllama-openi'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_app_serves_a_hub_model_id_from_the_cache(tmp_path, monkeypatch):
    """The app's own path: --model OWNER/NAME -> HOME/models/hub snapshot -> the model the Generate tab runs."""
    import app

    revision = "89abcdef0123456789abcdef0123456789abcdef"
    snapshot = tmp_path / "models" / "hub" / "models--acme--tiny" / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text(revision)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setenv("RADLLAMA_HOME", str(tmp_path))
    cfg = app.parse_args(["--model", "acme/tiny", "--no-build-model"])
    assert Path(app._local_model(cfg, tmp_path)) == snapshot
    missing = app.parse_args(["--model", "acme/absent", "--no-build-model"])
    assert app._local_model(missing, tmp_path) == str(tmp_path / "models" / "hub" / "models--acme--absent")


# -- the Space rules ------------------------------------------------------------------------------------------------
def test_space_rules():
    from core.space import SpaceRefused, space_settings

    base = dict(public_demo=False, fetch_data=False, space_study=False, rating_only=False, only_tab=None,
                admin_secret=None, public_url=None)
    assert space_settings({}, **base) == (False, False, None)
    space = {"SPACE_ID": "lab/demo", "SPACE_HOST": "lab-demo.hf.space"}
    assert space_settings(space, **base) == (True, True, None)  # the public demo, may fetch
    with pytest.raises(SpaceRefused, match="RADLLAMA_SPACE_STUDY"):
        space_settings(space, **{**base, "rating_only": True})
    with pytest.raises(SpaceRefused, match="RADLLAMA_ADMIN_SECRET"):
        space_settings(space, **{**base, "space_study": True})
    assert space_settings(space, **{**base, "space_study": True, "admin_secret": "x" * 20}) == \
        (False, True, "https://lab-demo.hf.space")


def test_on_a_space_the_app_is_the_public_demo_on_every_interface(monkeypatch):
    import app

    for name in ("GRADIO_SERVER_NAME", "RADLLAMA_PUBLIC_DEMO", "RADLLAMA_SPACE_STUDY", "RADLLAMA_ADMIN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPACE_ID", "lab/demo")
    cfg = app.parse_args([])
    assert (cfg.public_demo, cfg.fetch_data, cfg.host) == (True, True, "0.0.0.0")
    with pytest.raises(SystemExit):
        app.parse_args(["--space-study"])  # no admin secret as a Space secret: refused, nothing generated
    monkeypatch.delenv("SPACE_ID")
    cfg = app.parse_args([])
    assert (cfg.public_demo, cfg.fetch_data, cfg.host) == (False, False, "127.0.0.1")


# -- what must never be committed ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["radllama.db", "radllama.db-wal", "radllama.db-shm", "radllama.db-journal",
                                  "radllama.db.admin-secret", "other/site-a.admin-secret", "models/default/final/x",
                                  "runs/output-cache/a.jsonl", "exports/study1/figure4.png",
                                  "data/openi/NLMCXR_reports.tgz", "study.sqlite3"])
def test_gitignore_covers_what_the_app_writes(path):
    result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
    assert result.returncode == 0, f"{path} is not git-ignored"


# -- CPU requirements -----------------------------------------------------------------------------------------------
def _requirement_lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()]


def test_cpu_requirements_pin_the_cpu_torch_first_and_match_requirements_txt():
    runtime = _requirement_lines(ROOT / "requirements.txt")
    torch_pin = next(line for line in runtime if line.startswith("torch=="))
    for name in ("requirements-cpu.txt", "pre-requirements.txt"):
        lines = _requirement_lines(ROOT / name)
        assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines, name
        packages = [line for line in lines if not line.startswith("-")]
        assert packages[0] == torch_pin + "+cpu", f"{name}: the CPU torch must come first"
    assert "-r requirements.txt" in _requirement_lines(ROOT / "requirements-cpu.txt")


@pytest.mark.slow
def test_cpu_requirements_resolve_with_pip(tmp_path):
    """pip itself parses requirements-cpu.txt and finds every pin satisfiable (by what is installed: no index)."""
    import torch

    if not re.fullmatch(r"\d+\.\d+\.\d+\+cpu", torch.__version__):
        pytest.skip(f"installed torch is {torch.__version__}, not a +cpu build")
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--report", str(report),
                             "-r", "requirements-cpu.txt"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"already satisfied: torch==2\.13\.0\+cpu", result.stdout), result.stdout[-2000:]
