"""The app as a Space starts it, and where the app writes: in a clone of the project with no ../shared beside it.

1. SPACE_ID set, no flags: the public Generate demo only (no study, rater page, admin routes or admin
   secret), the Open-i archive downloaded once (from a loopback server here) while the page says so,
   and a warning that nothing survives a restart without persistent storage.
2. RADLLAMA_HOME moves every file the app writes: a start, a study and an export write only inside it
   (and the private temp folders they remove at exit).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.app_process import start_app, start_timeout
from tests.support.openi_archive import ABNORMAL_FINDINGS, ABNORMAL_IMPRESSION, ARCHIVE_NAME, clone_project, serve_archive, \
    small_archive

pytestmark = pytest.mark.slow


def _status(url: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _files(folder: Path) -> set[str]:
    if not folder.exists():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_a_space_serves_the_public_demo_only_and_downloads_its_data(tmp_path):
    clone = clone_project(tmp_path / "Radiology-Llama")
    before = _files(clone)
    server = serve_archive(small_archive(), released=False)  # held until the page has been checked
    app = None
    try:
        app = start_app(tmp_path, [], cwd=clone, extra_env={"SPACE_ID": "lab/radiology-llama",
                                                            "GRADIO_SERVER_NAME": "127.0.0.1",  # as a Space sets it
                                                            "RADLLAMA_BUILD_MODEL": "0", **server.env()})
        config = urllib.request.urlopen(app.url + "/config", timeout=60).read().decode()
        assert "Downloading the Open-i reports archive" in config  # the Generate tab says so while it happens
        assert "no persistent storage" in config
        for marker in ('"admin-secret"', '"analysis-secret"', "Study admin", '"Analysis"'):
            assert marker not in config, f"{marker} is served on a Space"
        assert '"findings"' in config
        for path, method in (("/rate/", "GET"), ("/rate/config", "GET"), ("/admin/sign-in", "GET"),
                             ("/admin/sign-in", "POST")):
            assert _status(app.url + path, method) == 404, f"{method} {path} is served on a Space"
        server.release.set()
        deadline = time.time() + start_timeout()
        while "Open-i reports archive kept" not in app.log() and time.time() < deadline:
            assert "error:" not in app.log(), app.log()
            time.sleep(0.5)
        from gradio_client import Client

        impression, _ = Client(app.url + "/", verbose=False).predict(ABNORMAL_FINDINGS, "retrieval",
                                                                     api_name="/generate")
        assert impression == ABNORMAL_IMPRESSION
        log = app.log()
        assert "downloading the Open-i reports archive" in log and "no persistent storage" in log
        assert "Admin secret" not in log and "admin-secret" not in log
        assert app.outbound() == []
    finally:
        if app is not None:
            app.stop()
        server.close()
    written = _files(clone) - before
    assert not [f for f in written if f.endswith(".admin-secret") or f.endswith(".db")], written
    assert written == {f"data/openi/{ARCHIVE_NAME}"}, written  # the home folder of a Space without storage


HOME_SCRIPT = r"""
import json, os, sys
from pathlib import Path

import app
from rating.study_request import StudyRequest

home = Path(os.environ["RADLLAMA_HOME"])
steps = {}
def record(step, folder):
    steps[step] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

app._private_gradio_cache()
cfg = app.parse_args(["--no-build-model"])
services = app.build_services(cfg)
app.create_server(cfg, services)
record("start", home)
secret = (home / "radllama.db.admin-secret").read_text().strip()
created = services.admin.create_study(secret, StudyRequest(name="home", raters=("Dr A",), n=2,
                                                           systems=("lead", "constant")))
record("study", home)
view = services.analysis.analyze_and_export(secret, created.study_id)
record("export", home)
steps["export_files"] = sorted(str(p) for p in view.files.values())
print("STEPS " + json.dumps(steps))
"""


def test_radllama_home_moves_every_file_the_app_writes(tmp_path):
    clone = clone_project(tmp_path / "Radiology-Llama")
    data = tmp_path / "reports" / ARCHIVE_NAME
    data.parent.mkdir()
    data.write_bytes(small_archive())
    home, temp, user = tmp_path / "home", tmp_path / "tmp", tmp_path / "user"
    temp.mkdir()
    user.mkdir()
    before = _files(clone)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLLAMA_")}
    env.update(RADLLAMA_HOME=str(home), RADLLAMA_DATA=str(data), TMPDIR=str(temp), HOME=str(user),
               PYTHONPATH=str(clone), MPLCONFIGDIR=str(user / ".config" / "matplotlib"))
    result = subprocess.run([sys.executable, "-c", HOME_SCRIPT], cwd=clone, env=env, capture_output=True, text=True,
                            timeout=start_timeout())
    assert result.returncode == 0, result.stderr[-3000:]
    steps = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("STEPS "))[6:])
    print(json.dumps(steps, indent=1))  # what a start, a study and an export write (shown with -s)
    assert {"radllama.db", "radllama.db.admin-secret"} <= set(steps["start"])
    assert all(Path(f).is_relative_to(home / "exports") for f in steps["export_files"]), steps["export_files"]
    assert any(f.startswith("exports/") for f in steps["export"])
    assert _files(clone) == before, f"written into the project folder: {_files(clone) - before}"
    assert _files(temp) == set(), f"left in the temp folder: {_files(temp)}"
    assert {f for f in _files(user) if not f.startswith(".config/matplotlib")} == set(), _files(user)
    assert not list((home / "exports").rglob("*.*")), "exports are removed when the app stops"
    assert (home / "radllama.db").stat().st_size > 0


def test_a_lab_opts_in_to_a_study_on_its_own_space(tmp_path):
    """RADLLAMA_SPACE_STUDY=1 with the admin secret as a Space secret: the whole app, and no secret in the log."""
    secret = "space-secret-0123456789"
    app = start_app(tmp_path, ["--no-build-model", "--db", str(tmp_path / "study.db")],
                    extra_env={"SPACE_ID": "lab/radiology-llama", "SPACE_HOST": "lab-radiology-llama.hf.space",
                               "GRADIO_SERVER_NAME": "127.0.0.1", "RADLLAMA_SPACE_STUDY": "1",
                               "RADLLAMA_ADMIN_SECRET": secret, "RADLLAMA_DATA": str(_archive(tmp_path))},
                    ready_path="/rate/config")
    try:
        assert _status(app.url + "/rate/config") == 200
        assert _status(app.url + "/admin/sign-in") != 404
        config = urllib.request.urlopen(app.url + "/config", timeout=60).read().decode()
        assert "Study admin" in config
        assert secret not in app.log() and not (tmp_path / "study.db.admin-secret").exists()
    finally:
        app.stop()


def _archive(tmp_path: Path) -> Path:
    path = tmp_path / "reports" / ARCHIVE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(small_archive())
    return path
