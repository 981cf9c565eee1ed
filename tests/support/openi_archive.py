"""Test helpers: a small Open-i reports archive, served from a loopback HTTP server, and a clone of the project."""
from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import subprocess
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE_NAME = "NLMCXR_reports.tgz"
ABNORMAL_FINDINGS = "Large right pleural effusion with adjacent atelectasis. Heart size is normal."
ABNORMAL_IMPRESSION = "Large right pleural effusion."


def report_xml(i: int, findings: str, impression: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<eCitation><uId id="CXR{i}"/><MedlineCitation><Article>'
            f'<Abstract><AbstractText Label="FINDINGS">{escape(findings)}</AbstractText>'
            f'<AbstractText Label="IMPRESSION">{escape(impression)}</AbstractText></Abstract>'
            f'</Article></MedlineCitation></eCitation>\n').encode()


def small_archive(n: int = 40) -> bytes:
    """A .tgz laid out like NLMCXR_reports.tgz (ecgen-radiology/N.xml), n reports, every 4th the same effusion."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(1, n + 1):
            if i % 4 == 0:
                findings, impression = f"{ABNORMAL_FINDINGS} Case {i}.", ABNORMAL_IMPRESSION
            else:
                findings, impression = (f"The heart is normal in size. The lungs are clear, case {i}.",
                                        "No acute cardiopulmonary abnormality.")
            data = report_xml(i, findings, impression)
            info = tarfile.TarInfo(f"ecgen-radiology/{i}.xml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class ArchiveServer:
    """A loopback HTTP server that serves one archive at /NLMCXR_reports.tgz once `release` is set."""

    server: http.server.ThreadingHTTPServer
    body: bytes
    release: threading.Event
    requests: list

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{ARCHIVE_NAME}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def env(self, sha256: str | None = None, size: int | None = None) -> dict:
        """The test-only overrides that point the app at this server."""
        return {"RADLLAMA_TEST_OPENI_URL": self.url, "RADLLAMA_TEST_OPENI_SHA256": sha256 or self.sha256,
                "RADLLAMA_TEST_OPENI_SIZE": str(size if size is not None else len(self.body))}

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def serve_archive(body: bytes, released: bool = True) -> ArchiveServer:
    release = threading.Event()
    if released:
        release.set()
    requests: list = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            release.wait(600)
            if self.path != f"/{ARCHIVE_NAME}":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return ArchiveServer(server, body, release, requests)


def clone_project(destination: Path) -> Path:
    """The project as `git clone` gives it (tracked files plus new, not ignored ones), with no ../shared beside it."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (destination.parent / "shared").exists()
    return destination
