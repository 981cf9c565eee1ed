"""Where the project finds its data and writes its models, overridable by environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "RADLLAMA_DATA"
MODEL_ENV = "RADLLAMA_MODEL"
MODELS_DIR_ENV = "RADLLAMA_MODELS_DIR"
"""Where the app builds the project's model (default: PROJECT_ROOT/models), read once at start."""
SHARED_OPENI = PROJECT_ROOT.parent / "shared" / "data" / "openi" / "indiana_reports.csv"
DEFAULT_RUN_DIR = Path(os.environ.get(MODELS_DIR_ENV) or PROJECT_ROOT / "models").expanduser() / "default"
DEFAULT_MODEL_DIR = DEFAULT_RUN_DIR / "final"
FINAL_META = "radllama.json"
"""The metadata file of a model folder (format, base model, prompt settings, steps): written last
by training.train.write_final, so its presence marks a finished build; read by generation."""

BUILD_COMMAND_TEXT = "python -m training.train --recipe default"
BUILD_TIME_TEXT = "about 15 minutes on 2 quiet CPU cores, longer on a busy machine"
"""The one build-time figure every message and the README use (measured: README, "Training")."""


class DataNotFound(FileNotFoundError):
    pass


def default_data_path(explicit: str | os.PathLike | None = None) -> Path:
    """The report file to use: the argument, else $RADLLAMA_DATA, else the shared OpenI CSV."""
    candidate = explicit or os.environ.get(DATA_ENV)
    if candidate:
        p = Path(candidate).expanduser()
        if not p.exists():
            raise DataNotFound(f"data file {p} does not exist (from {'--data' if explicit else DATA_ENV}).")
        return p
    if SHARED_OPENI.exists():
        return SHARED_OPENI
    raise DataNotFound(
        "No report data found. Expected the OpenI CSV at "
        f"{SHARED_OPENI}, or a path in ${DATA_ENV} / --data. Get OpenI with "
        "`python -m reports.download_openi --out data/openi` (needs internet), or point --data at "
        "a MIMIC-CXR reports folder, an Open-i XML archive, or a JSONL/CSV with findings,impression."
    )


def default_model_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The final folder of the project's own model: argument, else $RADLLAMA_MODEL, else models/default."""
    candidate = explicit or os.environ.get(MODEL_ENV)
    return (Path(candidate).expanduser() if candidate else DEFAULT_MODEL_DIR)
