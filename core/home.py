"""The app's home folder: the one place everything the app writes lives ($RADLLAMA_HOME).

The home folder holds the study database (radllama.db, with its WAL/SHM files and the generated
admin secret radllama.db.admin-secret beside it), models/ (the built project model and Hub
downloads in models/hub/), runs/output-cache/ (outputs kept while a study is being created),
exports/ (analysis exports, removed when the app stops) and data/openi/ (the Open-i archive when
the app downloads it). Default: the project folder, as before.

On a Hugging Face Space (SPACE_ID is set) the container's own disk is lost on every restart. When
RADLLAMA_HOME is unset there, the home folder is the Space's mounted storage at /data when one is
attached and writable (persistent storage; a bucket volume mounted at /data), else the project
folder, and `Home.persistent` is False: the app then warns, on start and in the page, that studies
and the built model will not survive a restart.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOME_ENV = "RADLLAMA_HOME"
SPACE_ENV = "SPACE_ID"
"""Set by Hugging Face Spaces in every Space container (owner/name)."""
SPACE_STORAGE = Path("/data")
"""Where a Space's persistent storage (or a storage bucket attached as a volume at /data) is mounted."""

NOT_PERSISTENT_WARNING = (
    "This Space has no persistent storage: the built model (and any study) live on the Space's temporary "
    "disk and are lost when the Space restarts or wakes from sleep. Attach storage mounted at /data, or set "
    "RADLLAMA_HOME to the mount path of an attached volume (docs/space.md).")


def on_space(env: Mapping[str, str] = os.environ) -> bool:
    """True inside a Hugging Face Space container."""
    return bool(env.get(SPACE_ENV, "").strip())


@dataclass(frozen=True)
class Home:
    """Where the app writes, and whether it survives a restart."""

    folder: Path
    """The home folder (absolute)."""
    source: str
    """Why this folder: "RADLLAMA_HOME", "Space storage", or "project folder"."""
    persistent: bool
    """False only on a Space whose home is the container's temporary disk."""

    def __post_init__(self) -> None:
        if not self.folder.is_absolute():
            raise ValueError(f"the home folder must be an absolute path, not {self.folder}")
        if self.source not in ("RADLLAMA_HOME", "Space storage", "project folder"):
            raise ValueError(f"unknown home source {self.source!r}")


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def resolve_home(env: Mapping[str, str] = os.environ, space_storage: Path = SPACE_STORAGE) -> Home:
    """$RADLLAMA_HOME, else (on a Space) the mounted storage, else the project folder."""
    explicit = env.get(HOME_ENV, "").strip()
    if explicit:
        return Home(Path(explicit).expanduser().resolve(), "RADLLAMA_HOME", True)
    if on_space(env):
        if _writable_dir(space_storage):
            return Home(space_storage.resolve(), "Space storage", True)
        return Home(PROJECT_ROOT, "project folder", False)
    return Home(PROJECT_ROOT, "project folder", True)


def home_dir() -> Path:
    """The home folder for this process (read from the environment at each call)."""
    return resolve_home().folder
