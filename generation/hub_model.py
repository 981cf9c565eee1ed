"""--model / RADLLAMA_MODEL as a Hugging Face Hub model id: downloaded once into the home folder.

`python app.py --model acme/radllama-openi` (or RADLLAMA_MODEL on a Space) names a model repository
on the Hub, e.g. a `models/default/final` folder pushed with huggingface_hub's upload_folder
(docs/space.md). The repository is fetched with huggingface_hub.snapshot_download into
HOME/models/hub (the hub's own cache layout: models--OWNER--NAME/snapshots/REVISION/) the first
time, and later starts use that copy without asking the hub (local_files_only first).

Reaching the hub is allowed only when the app may reach the internet (a Space, or --fetch-data);
otherwise a model id that is not in the cache is one error line and the baselines serve.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

HUB_SUBDIR = Path("models") / "hub"
"""Where, inside the home folder, Hub downloads are kept."""
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class HubModelUnavailable(RuntimeError):
    """The Hub model is neither cached nor downloadable; str() is one line saying why and what to do."""


def looks_like_repo_id(spec: str | None) -> bool:
    """True for `owner/name` that is not an existing path (a path always wins)."""
    if not spec or Path(spec).expanduser().exists():
        return False
    return bool(REPO_ID.match(spec)) and not spec.startswith((".", "~"))


def cached_folder(repo_id: str, cache_dir: Path) -> Path:
    """Where the hub cache keeps a model repository (whether or not it is there)."""
    return Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))


def resolve_model(spec: str | None, cache_dir: Path, may_download: bool,
                  announce: Callable[[str], None] | None = None) -> str | None:
    """The local folder for `spec`: unchanged unless it is a Hub model id, then its snapshot folder.

    Raises HubModelUnavailable when the id is not cached and may_download is False, or the download fails.
    """
    if not looks_like_repo_id(spec):
        return spec
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
    )

    announce = announce or (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        return snapshot_download(spec, cache_dir=cache_dir, local_files_only=True)
    except LocalEntryNotFoundError:
        if not may_download:
            raise HubModelUnavailable(
                f"model {spec!r} is not a folder here and not in the Hub cache {cache_dir}; the app does not reach "
                "the Hugging Face Hub unless it runs on a Space or with --fetch-data.") from None
    announce(f"Downloading the model {spec} from the Hugging Face Hub into {cache_dir} (once; later starts use it).")
    try:
        folder = snapshot_download(spec, cache_dir=cache_dir)
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubModelUnavailable(f"could not download the model {spec!r} from the Hugging Face Hub: {first}") from None
    announce(f"Model {spec} ready in {folder}.")
    return folder
