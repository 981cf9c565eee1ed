"""Download the Open-i chest X-ray reports archive (NLMCXR_reports.tgz) for users with internet.

    python -m reports.download_openi --out data/openi [--url URL] [--force]

The archive is fetched to OUT/NLMCXR_reports.tgz.part with a progress bar on stderr, checked to
be a readable tar of Open-i XML reports (at least one report with FINDINGS and IMPRESSION), and
only then renamed to OUT/NLMCXR_reports.tgz. Load it with
`--data OUT/NLMCXR_reports.tgz --data-format openi-xml`. The data are Open-i's; see its terms.
"""
from __future__ import annotations

import argparse
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


class DownloadError(RuntimeError):
    """The download failed or did not produce a usable archive."""


def download(url: str, destination: Path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Stream `url` into `destination` (via a .part file) and return it once verified."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=destination.name,
                      file=sys.stderr, disable=not progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"could not download {url}: {exc}") from None
    try:
        n_reports = verify_archive(part)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    part.replace(destination)
    print(f"{destination}: {n_reports} XML reports with findings and impression", file=sys.stderr)
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
            download(args.url, destination, timeout=args.timeout)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(destination)
    return 0


if __name__ == "__main__":
    sys.exit(main())
