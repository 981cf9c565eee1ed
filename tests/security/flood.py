"""A client flooding the public demo's Generate queue, and a visitor beside it (tests and bench)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

FLOOD_FINDINGS = ("Heart size is normal. The lungs are clear without focal consolidation. " * 250)[:16000]
VISITOR_FINDINGS = "Heart size normal. Lungs clear. No pleural effusion or pneumothorax."


def generate_fn(url: str) -> tuple[int, list]:
    """(fn_index, the page's default input values) of the /generate endpoint, from the app's config."""
    with urllib.request.urlopen(url + "/config", timeout=60) as resp:
        config = json.load(resp)
    values = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
    for index, dep in enumerate(config["dependencies"]):
        if dep.get("api_name") == "generate":
            return dep.get("id", index), [values.get(i) for i in dep["inputs"]]
    raise LookupError("no /generate endpoint in the app's config")


def join(url: str, findings: str, address: str, fn: tuple[int, list]) -> tuple[int, str, str]:
    """Queue one Generate job as `address` (X-Forwarded-For): (status, body, session hash)."""
    fn_index, defaults = fn
    session = uuid.uuid4().hex
    body = json.dumps({"data": [findings, *defaults[1:]], "fn_index": fn_index, "session_hash": session}).encode()
    req = urllib.request.Request(url + "/gradio_api/queue/join", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Forwarded-For": address})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read().decode(), session
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), session


def answer(url: str, findings: str, address: str, fn: tuple[int, list], timeout: float = 300) -> tuple[float, str]:
    """Seconds until a Generate job of `address` completes (join, then read its event stream), and the
    last message; a refused join returns at once with its body."""
    start = time.perf_counter()
    status, body, session = join(url, findings, address, fn)
    if status != 200:
        return time.perf_counter() - start, body
    req = urllib.request.Request(url + f"/gradio_api/queue/data?session_hash={session}",
                                 headers={"X-Forwarded-For": address})
    last = ""
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data:"):
                last = line
                if '"process_completed"' in line:
                    break
    return time.perf_counter() - start, last
