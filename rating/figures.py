"""Figure 4: mean expert score per system and criterion, grouped bars with 95% intervals.

Matplotlib with the Agg backend (no display needed). Input is `rating.analysis.figure4_table`.
Built on matplotlib.figure.Figure alone: pyplot (its global figure manager) is never imported.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from db.models import CRITERIA  # noqa: E402
from rating.analysis import CRITERION_LABELS  # noqa: E402

FIGURE_SIZE_IN = (10.0, 5.0)
"""Width and height in inches; at FIGURE_DPI the PNG is 1500 x 750 pixels."""
FIGURE_DPI = 150
SIMULATED_MARK = "SIMULATED DATA"


def figure4(table: pd.DataFrame, systems: list[str] | None = None, title: str = "Expert ratings",
            simulated: bool = False) -> Figure:
    """Grouped bars: criteria on the x axis, one bar (and colour) per system, 95% CI error bars."""
    if not systems:
        systems = list(dict.fromkeys(table["system"])) if len(table) else []
    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(CRITERIA))
    width = 0.8 / max(1, len(systems))
    colours = matplotlib.colormaps["tab10"].colors
    for i, system in enumerate(systems):
        rows = table[table["system"] == system].set_index("criterion").reindex(list(CRITERIA))
        means = rows["mean"].to_numpy(dtype=float)
        lower = np.clip(means - rows["ci_low"].to_numpy(dtype=float), 0, None)
        upper = np.clip(rows["ci_high"].to_numpy(dtype=float) - means, 0, None)
        errors = np.nan_to_num(np.vstack([lower, upper]))
        ax.bar(x + (i - (len(systems) - 1) / 2) * width, np.nan_to_num(means), width, label=system,
               color=colours[i % len(colours)], yerr=errors, capsize=3, error_kw={"elinewidth": 1})
    ax.set_xticks(x, [CRITERION_LABELS[c] for c in CRITERIA], fontsize=11)
    ax.set_ylim(0, 5.4)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.set_ylabel("Mean score (1-5), 95% CI", fontsize=11)
    ax.set_xlabel("Criterion", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    full_title = f"{title} [{SIMULATED_MARK}]" if simulated else title
    ax.set_title(full_title, fontsize=13)
    ax.legend(title="System", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10, title_fontsize=10)
    if simulated:
        fig.text(0.5, 0.5, SIMULATED_MARK, fontsize=46, color="red", alpha=0.18, ha="center", va="center",
                 rotation=20, fontweight="bold")
    return fig


def save_figure(fig: Figure, out_dir: str | Path, stem: str = "figure4") -> tuple[Path, Path]:
    """Write <stem>.png and <stem>.svg (text kept as text) into out_dir; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{stem}.png", out / f"{stem}.svg"
    fig.savefig(png, dpi=FIGURE_DPI)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(svg)
    return png, svg
