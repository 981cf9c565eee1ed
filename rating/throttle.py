"""Slowing down guessers: a client with too many wrong access codes (or admin secrets) is refused.

    throttle = FailureThrottle()
    throttle.check(client)          # raises Throttled while the client is locked out
    throttle.failed(client)         # after a wrong code

A client (its IP address) gets `max_failures` wrong codes within `window_s`; the next one locks
it out for `lockout_s`, during which even the right code is refused. Success does not reset the
count (else a rater with a valid code could interleave guesses). Other clients are not
affected. In memory: a restart forgets the counts (192-bit tokens stay unguessable anyway; this
caps the noise and protects short admin secrets). Behind a reverse proxy named in
RADLLAMA_TRUSTED_PROXIES the client is the forwarded address (uvicorn rewrites it); see README
"Threat model".
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


class Throttled(PermissionError):
    """Too many wrong codes from this client; the message says for how long."""


class FailureThrottle:
    def __init__(self, max_failures: int = 5, window_s: float = 600.0, lockout_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: dict[str, deque] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, client: str | None) -> None:
        """Raise Throttled while `client` is locked out."""
        key = client or "unknown"
        with self._lock:
            until = self._locked_until.get(key)
            if until is None:
                return
            left = until - self.clock()
            if left <= 0:
                del self._locked_until[key]
                self._failures.pop(key, None)
                return
        minutes = max(1, round(left / 60))
        raise Throttled(f"Too many attempts from this address. Try again in about {minutes} minute"
                        f"{'s' if minutes != 1 else ''}.")

    def failed(self, client: str | None) -> None:
        """Count one wrong code from `client` (locks it out at the limit)."""
        key = client or "unknown"
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.max_clients and key not in self._failures:
                self._failures.pop(next(iter(self._failures)))  # bounded memory: forget the oldest client
            recent = self._failures.setdefault(key, deque())
            recent.append(now)
            while recent and recent[0] < now - self.window_s:
                recent.popleft()
            if len(recent) >= self.max_failures:
                self._locked_until[key] = now + self.lockout_s
