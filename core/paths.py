"""Where the project finds its data and writes its models, overridable by environment."""
from __future__ import annotations

import os
from pathlib import Path

from core.home import PROJECT_ROOT, home_dir

DATA_ENV = "RADLLAMA_DATA"
MODEL_ENV = "RADLLAMA_MODEL"
MODELS_DIR_ENV = "RADLLAMA_MODELS_DIR"
"""Where the app builds the project's model (default: HOME/models, core.home), read once at start."""
SHARED_OPENI = PROJECT_ROOT.parent / "shared" / "data" / "openi" / "indiana_reports.csv"
HOME_DATA_DIR = Path("data") / "openi"
"""Where, inside the home folder, downloaded report data is kept (reports.download_openi's archive)."""
HOME_DATA_NAMES = ("NLMCXR_reports.tgz", "indiana_reports.csv")
"""Report files looked for in HOME/data/openi, in this order, after --data, $RADLLAMA_DATA and ../shared."""
DEFAULT_RUN_DIR = Path(os.environ.get(MODELS_DIR_ENV) or home_dir() / "models").expanduser() / "default"
DEFAULT_MODEL_DIR = DEFAULT_RUN_DIR / "final"
FINAL_META = "radllama.json"
"""The metadata file of a model folder (format, base model, prompt settings, steps): written last
by training.train.write_final, so its presence marks a finished build; read by generation."""

BUILD_COMMAND_TEXT = "python -m training.train --recipe default"
BUILD_TIME_TEXT = "about 15 minutes on 2 quiet CPU cores, longer on a busy machine"
"""The one build-time figure every message and the README use (measured: README, "Training")."""


class DataNotFound(FileNotFoundError):
    pass


def home_data_candidates() -> list[Path]:
    """The report files looked for in the home folder (HOME/data/openi/...)."""
    return [home_dir() / HOME_DATA_DIR / name for name in HOME_DATA_NAMES]


def default_data_path(explicit: str | os.PathLike | None = None) -> Path:
    """The report file to use. One search order everywhere: the argument (--data), else $RADLLAMA_DATA,
    else the shared OpenI CSV (../shared/data/openi/indiana_reports.csv), else the home folder's
    data/openi/NLMCXR_reports.tgz or indiana_reports.csv (where the app keeps a downloaded archive)."""
    candidate = explicit or os.environ.get(DATA_ENV)
    if candidate:
        p = Path(candidate).expanduser()
        if not p.exists():
            raise DataNotFound(f"data file {p} does not exist (from {'--data' if explicit else DATA_ENV}).")
        return p
    for p in [SHARED_OPENI, *home_data_candidates()]:
        if p.exists():
            return p
    raise DataNotFound(
        "No report data found: no --data or $" + DATA_ENV + ", no ../shared/data/openi/indiana_reports.csv, "
        f"nothing in {home_dir() / HOME_DATA_DIR}. Get OpenI with `python app.py --fetch-data` or "
        f"`python -m reports.download_openi --out {home_dir() / HOME_DATA_DIR}` (needs internet), or point --data "
        "at a MIMIC-CXR reports folder, an Open-i XML archive, or a JSONL/CSV with findings,impression."
    )


def default_model_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The final folder of the project's own model: argument, else $RADLLAMA_MODEL, else models/default."""
    candidate = explicit or os.environ.get(MODEL_ENV)
    return (Path(candidate).expanduser() if candidate else DEFAULT_MODEL_DIR)
