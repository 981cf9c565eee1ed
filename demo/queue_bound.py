"""A bound on the Generate queue: queued jobs per client and in all.

Without it one client queued 600 Generate jobs with 16,000-character findings and a visitor then
waited 24.6 s (baselines; a real model is slower). Gradio's own `queue(max_size=...)` bounds only
the total, so one client could still fill it. Here each client (its address; behind a proxy named
in RADLLAMA_TRUSTED_PROXIES the forwarded one, as uvicorn rewrites it) may have `per_client` jobs
waiting or running, and all clients together `total`; a request over either limit is refused at once
(HTTP 503 with the message below; the page shows an error) instead of waiting behind the flood.
bench/bench_queue_flood.py measures a visitor's answer time with and without a flood.

Gradio has no per-client limit, so its queue's `push` is wrapped: the count reads the events Gradio
itself holds (waiting and running), so nothing has to be released when a job ends or is cancelled.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

PER_CLIENT_ENV = "RADLLAMA_QUEUE_PER_CLIENT"
TOTAL_ENV = "RADLLAMA_QUEUE_TOTAL"


@dataclass(frozen=True)
class QueueLimits:
    """How many Generate (and other workbench) jobs may wait or run at once."""

    per_client: int = 8
    """Jobs one client address may have waiting or running (RADLLAMA_QUEUE_PER_CLIENT; 0: no limit, for
    the benchmark's comparison only). 8 lets one address (a lab behind one NAT, a script sending six
    requests at once as tests/test_demo_app.py does) work as before; with 2 jobs running at once a
    visitor waits behind at most 8 jobs of any one flooder (bench/bench_queue_flood.py)."""
    total: int = 64
    """Jobs all clients together may have waiting (RADLLAMA_QUEUE_TOTAL; 0: no limit)."""

    def __post_init__(self) -> None:
        for name in ("per_client", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"queue limit {name} must be a whole number of at least 0, not {value!r}")

    @classmethod
    def from_env(cls) -> QueueLimits:
        def read(name: str, default: int) -> int:
            text = os.environ.get(name, "").strip()
            try:
                return int(text) if text else default
            except ValueError:
                raise ValueError(f"{name} must be a whole number, not {text!r}") from None

        return cls(per_client=read(PER_CLIENT_ENV, cls.per_client), total=read(TOTAL_ENV, cls.total))


def _client(request) -> str:
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def _jobs_by_client(queue) -> tuple[Counter, int]:
    """(jobs per client, jobs waiting in all) of a Gradio queue: waiting events and running ones."""
    per_client: Counter = Counter()
    waiting = 0
    for event_queue in list(queue.event_queue_per_concurrency_id.values()):
        for event in list(event_queue.queue):
            per_client[_client(event.request)] += 1
            waiting += 1
    for events in list(queue.active_jobs):
        for event in events or ():
            per_client[_client(event.request)] += 1
    return per_client, waiting


def bound_queue(blocks, limits: QueueLimits | None = None):
    """Wrap `blocks`' queue (after blocks.queue()) so it refuses jobs over `limits`; returns blocks."""
    limits = limits or QueueLimits.from_env()
    queue = blocks._queue
    push = queue.push
    joining: Counter = Counter()  # pushes in progress (a push may await before the event is queued)

    async def bounded_push(body, request, username):
        client = _client(request)
        per_client, waiting = _jobs_by_client(queue)
        mine = per_client[client] + joining[client]
        if limits.per_client and mine >= limits.per_client:
            message = (f"You already have {mine} requests waiting or running (at most {limits.per_client} "
                       "per visitor). Wait for them to finish, then try again.")
            return False, message, "queue_full"
        if limits.total and waiting + sum(joining.values()) >= limits.total:
            return (False, f"The demo is busy: {waiting} requests are waiting. Please try again in a minute.",
                    "queue_full")
        joining[client] += 1
        try:
            return await push(body, request, username)
        finally:
            joining[client] -= 1
            if not joining[client]:
                del joining[client]

    queue.push = bounded_push
    return blocks
