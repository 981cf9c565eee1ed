"""Bounds on what Gradio's queue keeps for Generate calls whose results nobody reads (issue 22).

Measured with tracemalloc (bench/bench_generate_memory.py, in-process runs of 1,200 accepted
/gradio_api/call/generate POSTs of 50 KB that never fetch their results): memory grew linearly,
about 230 MB traced per 1,000 requests, in three places of Gradio 6's queue:
- pending events: requests arrive faster than a 2-core server answers them, and every waiting
  event keeps its request (the 50 KB body as bytes, as the parsed JSON, and in the findings box's
  per-session config): 711 events waiting after 1,200 requests;
- `pending_messages_per_session` (an LRU of 2,000 sessions): each API call is a new session, and
  every queue-position broadcast adds an EstimationMessage (pydantic) to the queue of each waiting
  session, read by nobody (63 MB of pydantic objects after 1,200 requests);
- `event_analytics`: one entry per event, up to GRADIO_ANALYTICS_MAX_EVENTS (10,000).
So the Generate queue takes at most GENERATE_QUEUE_MAX waiting events (more are answered "queue
is full" at once), unread messages are kept for PENDING_RESULT_SESSIONS sessions, and app.py sets
GRADIO_ANALYTICS_MAX_EVENTS to 1,000 before Gradio is imported. RADLLAMA_GENERATE_QUEUE_MAX=0 restores Gradio's defaults (the
bench's "before").
"""
from __future__ import annotations

import os

GENERATE_QUEUE_ENV = "RADLLAMA_GENERATE_QUEUE_MAX"
GENERATE_QUEUE_MAX = 64
"""Generate/follow-up events that may wait in the workbench's queue (2 run at once); the 65th is refused."""
PENDING_RESULT_SESSIONS = 200
"""Sessions whose unread results Gradio keeps (its default: 2,000); an API client reads its result at once."""


def queue_max() -> int | None:
    """The workbench queue's max_size: RADLLAMA_GENERATE_QUEUE_MAX (0: unbounded, Gradio's default)."""
    raw = os.environ.get(GENERATE_QUEUE_ENV, "").strip()
    value = int(raw) if raw.isdigit() else GENERATE_QUEUE_MAX
    return value or None


def bounded_queue(blocks, concurrency: int):
    """`blocks.queue(...)` with the bounds above; returns the Blocks (as .queue() does)."""
    limit = queue_max()
    blocks = blocks.queue(default_concurrency_limit=concurrency, max_size=limit)
    pending = getattr(getattr(blocks, "_queue", None), "pending_messages_per_session", None)
    if limit is not None and pending is not None and hasattr(pending, "max_size"):
        pending.max_size = PENDING_RESULT_SESSIONS
    return blocks
