"""A study created from an endpoint system, interrupted (SIGKILL of the CLI), resumes without
asking the endpoint again for outputs it already gave; the interrupted run stores no study.
Requests are counted at the server (`transformers serve`'s access log)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Output, Study, System
from tests.support.app_process import ROOT
from tests.support.tiny_lm import tiny_reports, write_jsonl

N = 12
API_KEY = "sk-study-secret-never-stored-42"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("transformers_serve")]


def _create(tmp, db, data, spec, cache):
    env = {**os.environ, "RADLLAMA_OUTPUT_CACHE": str(cache), "OMP_NUM_THREADS": "1", "OPENAI_API_KEY": API_KEY}
    return subprocess.Popen([sys.executable, "-m", "rating.study", "create", "--db", str(db), "--data", str(data),
                             "--n", str(N), "--split", "train", "--systems", spec, "--raters", "Dr A,Dr B",
                             "--name", "endpoint-pilot"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _cached_lines(cache) -> int:
    return sum(len(p.read_text().splitlines()) for p in cache.glob("*.jsonl")) if cache.exists() else 0


def _settled_count(served, quiet_s: float = 2.0) -> int:
    count, since = served.requests("/v1/completions"), time.time()
    while time.time() - since < quiet_s:
        time.sleep(0.2)
        now = served.requests("/v1/completions")
        if now != count:
            count, since = now, time.time()
    return count


def test_interrupted_endpoint_study_resumes_without_re_requesting(served_tiny_model, tmp_path):
    db, cache = tmp_path / "study.db", tmp_path / "cache"
    data = write_jsonl(tmp_path / "reports.jsonl", tiny_reports(60))
    spec = served_tiny_model.spec("max_concurrency=2")  # two at a time, so the run is slow enough to interrupt
    start = served_tiny_model.requests("/v1/completions")

    first = _create(tmp_path, db, data, spec, cache)
    deadline = time.time() + 120
    while _cached_lines(cache) < 2 and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.kill()
    first.wait(10)
    kept = _cached_lines(cache)
    assert all(API_KEY not in p.read_text() for p in cache.glob("*"))
    assert 2 <= kept < N, first.stdout.read()
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as session:
        assert session.scalar(select(func.count(Study.id))) == 0  # never a half-created study
    asked_first = _settled_count(served_tiny_model) - start  # requests in flight at the kill end on the server
    assert asked_first >= kept

    second = _create(tmp_path, db, data, spec, cache)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    assert "kept from an interrupted run" in out
    asked_second = served_tiny_model.requests("/v1/completions") - start - asked_first
    assert asked_second == N - kept  # the kept outputs were not asked for again
    assert _cached_lines(cache) == 0  # discarded once the study is stored

    with unit_of_work(factory) as session:
        system = session.scalar(select(System))
        texts = session.scalars(select(Output.text).where(Output.system_id == system.id)).all()
        assert system.name == spec and system.kind == "endpoint"
        assert system.config["base_url"] == served_tiny_model.base_url and system.config["api"] == "completions"
    # The stored outputs are the endpoint's greedy outputs for those cases.
    from generation.registry import build

    with unit_of_work(factory) as session:
        from db.models import Case
        rows = session.execute(select(Case.findings, Output.text).join(Output, Output.case_id == Case.id)).all()
    findings = [f for f, _ in rows]
    assert build(f"hf:{served_tiny_model.model}").generate(findings) == [t for _, t in rows]
    assert len(texts) == N and json.dumps(system.config)
    # The API key was in the environment of both runs; it is nowhere in the database or its output.
    assert API_KEY not in out and API_KEY.encode() not in db.read_bytes()
    assert not any(API_KEY.encode() in p.read_bytes() for p in tmp_path.glob("study.db*"))
