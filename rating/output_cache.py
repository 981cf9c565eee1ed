"""Finished system outputs kept on disk while a study is being created, so an interrupted
creation (a crash, a closed terminal, a rate-limited endpoint) resumes without asking again.

One JSON-lines file per (system spec, generation settings), one line per finished output,
keyed by the SHA-256 of the findings (the findings themselves are not written). Lines are
appended as batches finish. A study is stored only once every output exists (one transaction),
after which its cache files are discarded. Location: $RADLLAMA_OUTPUT_CACHE, else
runs/output-cache/ in the home folder (core.home; git-ignored); files are private to their owner (0600).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Mapping, Sequence

from core.home import home_dir

CACHE_ENV = "RADLLAMA_OUTPUT_CACHE"
CACHE_SUBDIR = Path("runs") / "output-cache"
"""Inside the home folder (read when a cache is made)."""


def findings_key(findings: str) -> str:
    return hashlib.sha256(findings.encode("utf-8")).hexdigest()


class OutputCache:
    """Outputs by (spec, settings, findings hash); safe to share between threads."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder or os.environ.get(CACHE_ENV) or home_dir() / CACHE_SUBDIR)
        self._lock = threading.Lock()

    def path(self, spec: str, settings: Mapping) -> Path:
        key = json.dumps({"system": spec.strip(), "settings": dict(settings)}, sort_keys=True)
        return self.folder / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.jsonl"

    def load(self, spec: str, settings: Mapping) -> dict[str, str]:
        """{findings hash: output} kept from earlier runs (a torn last line is ignored)."""
        path = self.path(spec, settings)
        out: dict[str, str] = {}
        if not path.exists():
            return out
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                out[str(row["findings_sha256"])] = str(row["text"])
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def add(self, spec: str, settings: Mapping, findings: Sequence[str], texts: Sequence[str]) -> None:
        """Append finished outputs (flushed to the file before returning)."""
        lines = "".join(json.dumps({"findings_sha256": findings_key(f), "text": t}) + "\n"
                        for f, t in zip(findings, texts, strict=True))
        path = self.path(spec, settings)
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())

    def discard(self, spec: str, settings: Mapping) -> None:
        self.path(spec, settings).unlink(missing_ok=True)
