"""Download the Open-i chest X-ray reports archive (NLMCXR_reports.tgz) for users with internet.

    python -m reports.download_openi --out data/openi [--url URL] [--force]

The archive is fetched to OUT/NLMCXR_reports.tgz.part with a progress bar on stderr, checked to
be a readable tar of Open-i XML reports (at least one report with FINDINGS and IMPRESSION), and
only then renamed to OUT/NLMCXR_reports.tgz. Load it with
`--data OUT/NLMCXR_reports.tgz --data-format openi-xml`. The data are Open-i's; see its terms.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from core.records import LoadResult
from reports.openi_xml import parse_report_xml

OPENI_REPORTS_URL = "https://openi.nlm.nih.gov/imgs/collections/NLMCXR_reports.tgz"
ARCHIVE_NAME = "NLMCXR_reports.tgz"
CHUNK = 1 << 16
OPENI_REPORTS_SHA256: str | None = None
"""SHA-256 of the known archive at OPENI_REPORTS_URL. Not pinned yet: this project's machines have no
internet, so nobody here has downloaded it. `download` prints the digest of every archive it keeps;
pin the first one verified by hand here (with OPENI_REPORTS_SIZE). Until then only the archive's
structure is checked (verify_archive)."""
OPENI_REPORTS_SIZE: int | None = None
"""Size in bytes of the known archive (see OPENI_REPORTS_SHA256)."""
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
"""Refuse a download larger than this when no size is pinned (the reports archive is a few MB)."""


class DownloadError(RuntimeError):
    """The download failed or did not produce a usable archive."""


def download(url: str, destination: Path, timeout: float = 60.0, progress: bool = True,
             sha256: str | None = None, size: int | None = None) -> Path:
    """Stream `url` into `destination` (via a .part file) and return it once verified.

    sha256 / size: the known archive's digest and size in bytes; a download that differs is refused
    (and deleted). Without them, downloads over MAX_ARCHIVE_BYTES are refused.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    limit = size if size is not None else MAX_ARCHIVE_BYTES
    digest = hashlib.sha256()
    n_bytes = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=destination.name,
                      file=sys.stderr, disable=not progress) as bar:
                while chunk := response.read(CHUNK):
                    n_bytes += len(chunk)
                    if n_bytes > limit:
                        raise DownloadError(f"{url} sent more than {limit:,} bytes"
                                            + (" (the known archive's size)" if size is not None else ""))
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"could not download {url}: {exc}") from None
    try:
        if size is not None and n_bytes != size:
            raise DownloadError(f"{url}: got {n_bytes:,} bytes, the known archive has {size:,}")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise DownloadError(f"{url}: SHA-256 {digest.hexdigest()} is not the known archive's {sha256.lower()}")
        n_reports = verify_archive(part)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    part.replace(destination)
    print(f"{destination}: {n_reports} XML reports with findings and impression; {n_bytes:,} bytes, "
          f"SHA-256 {digest.hexdigest()}" + ("" if sha256 else " (no known digest pinned)"), file=sys.stderr)
    return destination


def verify_archive(path: Path) -> int:
    """Number of usable reports in the archive; DownloadError if it is not a tar of Open-i XML reports."""
    result = LoadResult(reports=[])
    n_xml = 0
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not (member.isfile() and member.name.lower().endswith(".xml")):
                    continue
                n_xml += 1
                fh = tar.extractfile(member)
                report = parse_report_xml(fh.read(), Path(member.name).stem, result) if fh else None
                if report is not None:
                    result.reports.append(report)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{path} is not a readable tar archive ({exc}); the server may have sent an error page") from None
    if n_xml == 0:
        raise DownloadError(f"{path} holds no .xml files; it is not the Open-i reports archive")
    if not result.reports:
        raise DownloadError(f"{path}: none of its {n_xml} XML files is an Open-i report with findings and impression")
    return len(result.reports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.download_openi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write NLMCXR_reports.tgz into")
    parser.add_argument("--url", default=OPENI_REPORTS_URL, help=f"archive URL (default {OPENI_REPORTS_URL})")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server (default 60)")
    parser.add_argument("--force", action="store_true", help="download again even if a valid archive exists")
    args = parser.parse_args(argv)
    destination = args.out / ARCHIVE_NAME
    try:
        if destination.exists() and not args.force:
            n = verify_archive(destination)
            print(f"{destination} already present ({n} reports); use --force to download again", file=sys.stderr)
        else:
            known = args.url == OPENI_REPORTS_URL
            download(args.url, destination, timeout=args.timeout, sha256=OPENI_REPORTS_SHA256 if known else None,
                     size=OPENI_REPORTS_SIZE if known else None)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(destination)
    return 0


if __name__ == "__main__":
    sys.exit(main())
