"""A Space's start from a fresh clone: seconds from `python app.py` to the first /generate answer.

    python -m bench.bench_space_start [--model-dir PATH] [--loopback-archive] [--clone-from GIT_DIR]

Clones the repository (git clone, committed state) into a new temporary folder with no ../shared
beside it, and starts it the way Hugging Face Spaces start a Gradio app: SPACE_ID set, `python app.py`,
no flags (port from GRADIO_SERVER_PORT). Then it asks /generate (gradio_client, default system) every
half second until one answer comes back, and prints one JSON line: seconds to the first HTTP answer,
seconds to the first impression, which system wrote it, and the app's log lines that matter.

--model-dir PATH copies a prebuilt model (e.g. models/default/final) into the clone's
models/default/final first: "with a prebuilt model". Without it the model is missing.
--hub-cache-model PATH lays a prebuilt model out as the Hub cache would (HOME/models/hub/
models--bench--radllama/snapshots/REV) and sets RADLLAMA_MODEL=bench/radllama: the Hub-id path, offline.
--loopback-archive serves a small Open-i-like archive from 127.0.0.1 (the test-only override), to
time a start whose download succeeds on a machine with no internet; without it the app tries the
real Open-i URL (which fails on a machine with no internet: one error line, the baselines serve).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests.support.app_process import free_port, stop_process
from tests.support.openi_archive import ABNORMAL_FINDINGS, serve_archive, small_archive

KEY_LINES = ("Home folder", "warning:", "error:", "downloading", "kept in", "Building", "Radiology-Llama on")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", type=Path, default=None, help="prebuilt model copied to models/default/final")
    p.add_argument("--hub-cache-model", type=Path, default=None, help="prebuilt model served as Hub id bench/radllama")
    p.add_argument("--loopback-archive", action="store_true", help="serve a small archive from 127.0.0.1")
    p.add_argument("--clone-from", default=str(ROOT), help="repository to clone (default: this one)")
    p.add_argument("--timeout", type=float, default=900.0)
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="radllama-space-"))
    clone = work / "Radiology-Llama"
    subprocess.run(["git", "clone", "-q", args.clone_from, str(clone)], check=True)
    if args.model_dir:
        shutil.copytree(args.model_dir, clone / "models" / "default" / "final")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RADLLAMA_", "HF_", "TRANSFORMERS_"))}
    if args.hub_cache_model:
        revision = "0" * 40
        repo = clone / "models" / "hub" / "models--bench--radllama"
        shutil.copytree(args.hub_cache_model, repo / "snapshots" / revision)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(revision)
        env["RADLLAMA_MODEL"] = "bench/radllama"
    env.update(SPACE_ID="bench/radiology-llama", GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               PYTHONUNBUFFERED="1")
    server = None
    if args.loopback_archive:
        server = serve_archive(small_archive())
        env.update(server.env())
    log_path = work / "app.log"
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT)
    result: dict = {"prebuilt_model": bool(args.model_dir), "hub_cache_model": bool(args.hub_cache_model),
                    "loopback_archive": args.loopback_archive}
    try:
        from gradio_client import Client

        deadline = started + args.timeout
        while "http_s" not in result and time.perf_counter() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/config", timeout=5):
                    result["http_s"] = round(time.perf_counter() - started, 1)
            except OSError:
                time.sleep(0.5)
        while "first_answer_s" not in result and time.perf_counter() < deadline and proc.poll() is None:
            try:
                impression, details = Client(url + "/", verbose=False).predict(ABNORMAL_FINDINGS, api_name="/generate")
                result.update(first_answer_s=round(time.perf_counter() - started, 1), impression=impression,
                              details=details.split("\n")[0])
            except Exception:  # noqa: BLE001 - not ready yet
                time.sleep(0.5)
    finally:
        stop_process(proc)
        if server is not None:
            server.close()
    log_text = log_path.read_text(errors="replace")
    result["log"] = [line[:240] for line in log_text.splitlines() if any(k in line for k in KEY_LINES)]
    result["exit"] = proc.returncode
    print(json.dumps(result, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if "first_answer_s" in result else 1


if __name__ == "__main__":
    sys.exit(main())
