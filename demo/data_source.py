"""Report data that arrives after the app has started: the Open-i archive, downloaded once.

When no report data is found (core.paths.default_data_path: --data, $RADLLAMA_DATA, ../shared,
the home folder) and the app may reach the internet (a Space, or --fetch-data), the app starts at
once with the baselines that need no data and downloads the Open-i reports archive in the
background with reports.download_openi into HOME/data/openi/, where later starts find it. The
terminal and the Generate tab say so while it happens; a failed download is one line and the
demo keeps serving the baselines that need no data.

The URL, SHA-256 and size can be changed only for tests (RADLLAMA_TEST_OPENI_*), to serve a
small archive from a loopback HTTP server.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.home import home_dir
from core.paths import HOME_DATA_DIR
from reports import download_openi

TEST_URL_ENV = "RADLLAMA_TEST_OPENI_URL"
TEST_SHA256_ENV = "RADLLAMA_TEST_OPENI_SHA256"
TEST_SIZE_ENV = "RADLLAMA_TEST_OPENI_SIZE"


@dataclass(frozen=True)
class ArchiveSource:
    """Which archive to fetch and how to recognise it."""

    url: str = download_openi.OPENI_REPORTS_URL
    """Where the Open-i reports archive is downloaded from."""
    sha256: str | None = download_openi.OPENI_REPORTS_SHA256
    """SHA-256 the download must have (None: not pinned, the structure is still checked)."""
    size: int | None = download_openi.OPENI_REPORTS_SIZE
    """Size in bytes the download must have (None: not pinned; capped at MAX_ARCHIVE_BYTES)."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"the archive URL must be http(s), not {self.url!r}")
        if self.sha256 is not None and (len(self.sha256) != 64 or not all(c in "0123456789abcdefABCDEF"
                                                                           for c in self.sha256)):
            raise ValueError(f"sha256 must be 64 hex digits, not {self.sha256!r}")
        if self.size is not None and self.size <= 0:
            raise ValueError(f"size must be positive, not {self.size}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ArchiveSource:
        """The known archive, unless a test points elsewhere (RADLLAMA_TEST_OPENI_URL/_SHA256/_SIZE)."""
        if not env.get(TEST_URL_ENV):
            return cls()
        size = env.get(TEST_SIZE_ENV)
        return cls(url=env[TEST_URL_ENV], sha256=env.get(TEST_SHA256_ENV) or None, size=int(size) if size else None)


class ArchiveFetch:
    """One background download of the Open-i archive; `on_ready(path)` runs in its thread when it is kept."""

    def __init__(self, on_ready: Callable[[Path], None], source: ArchiveSource | None = None,
                 folder: Path | None = None, announce: Callable[[str], None] | None = None):
        self.source = source or ArchiveSource.from_env()
        self.destination = (folder or home_dir() / HOME_DATA_DIR) / download_openi.ARCHIVE_NAME
        self.on_ready = on_ready
        self.announce = announce or (lambda line: print(line, file=sys.stderr, flush=True))
        self.state = "fetching"
        """fetching, ready or failed."""
        self.message = ("Downloading the Open-i reports archive (once; kept in the home folder for later starts). "
                        "Retrieval and the model build follow when it is done (the OpenI examples from the next start); "
                        "the other baselines answer now.")
        self._thread = threading.Thread(target=self._run, name="fetch-openi", daemon=True)

    def start(self) -> ArchiveFetch:
        self.announce(f"No report data found: downloading the Open-i reports archive from {self.source.url} "
                      f"into {self.destination} (once). The baselines that need no data answer meanwhile.")
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> str:
        self._thread.join(timeout)
        return self.state

    def _run(self) -> None:
        try:
            download_openi.download(self.source.url, self.destination, progress=False,
                                    sha256=self.source.sha256, size=self.source.size)
            self.on_ready(self.destination)
        except (download_openi.DownloadError, ValueError, OSError) as exc:
            self.state = "failed"
            self.message = (f"Downloading the Open-i reports archive failed ({exc}); the baselines that need "
                            "no data answer.")
            self.announce(f"error: {self.message}")
            return
        self.state = "ready"
        self.message = "Report data: the Open-i reports archive, downloaded into the home folder."
        self.announce(f"Open-i reports archive kept in {self.destination}; retrieval is available (the OpenI "
                      "examples from the next start).")
