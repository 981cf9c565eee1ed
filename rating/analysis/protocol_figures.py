"""The errors figure: mean errors per report per category and system, with 95% intervals.

The same journal rules as Figure 4 (rating/figures.py): each system keeps its Okabe-Ito colour and
marker from its place in the study's order, points with 95% CI whiskers, two journal widths (3.5
and 7.2 in), every text at 7 pt or more, PNG at 300 dpi, SVG with text as text, PDF with TrueType
fonts, "SIMULATED DATA" on simulated studies. Two panels share the category axis: all errors, and
the clinically significant ones. The axis starts at 0 (a count). Input: errors_per_category().
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from core.protocol_scales import ERROR_CATEGORIES
from rating.analysis.figures import (DOUBLE_COLUMN, FIGURE_DPI, LAYOUTS, SIMULATED_MARK, FigureLayout, save_figure,
                            system_styles)

CATEGORY_LABELS = {"false_finding": "False\nfinding", "missed_finding": "Missed\nfinding",
                   "wrong_location": "Wrong\nlocation", "wrong_severity": "Wrong\nseverity",
                   "false_comparison": "False\ncomparison", "missed_comparison": "Missed\ncomparison"}


def errors_figure(table: pd.DataFrame, systems: Sequence[str], display_names: Mapping[str, str] | None = None,
                  simulated: bool = False, layout: FigureLayout = DOUBLE_COLUMN,
                  styles: Mapping | None = None) -> Figure:
    styles = dict(styles) if styles else system_styles(systems)
    names = dict(display_names or {})
    fig = Figure(figsize=(layout.width_in, layout.height_in * 1.7), dpi=FIGURE_DPI, layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(ERROR_CATEGORIES), dtype=float)
    spread = min(0.7, 0.16 * len(systems))
    offsets = np.linspace(-spread / 2, spread / 2, len(systems)) if len(systems) > 1 else np.zeros(1)
    top = 0.0
    for ax, what, ylabel in ((axes[0], "total", "All errors\nper report (95% CI)"),
                             (axes[1], "significant", "Clinically significant\nerrors per report (95% CI)")):
        for offset, system in zip(offsets, systems, strict=True):
            rows = table[table["system"] == system].set_index("category").reindex(list(ERROR_CATEGORIES))
            means = rows[f"{what}_mean"].to_numpy(dtype=float)
            lower = np.clip(means - rows[f"{what}_ci_low"].to_numpy(dtype=float), 0, None)
            upper = np.clip(rows[f"{what}_ci_high"].to_numpy(dtype=float) - means, 0, None)
            top = max(top, float(np.nanmax(np.append(rows[f"{what}_ci_high"].to_numpy(dtype=float), 0))))
            style = styles[system]
            drawn = ax.errorbar(x + offset, means, yerr=np.nan_to_num(np.vstack([lower, upper])), fmt=style.marker,
                        color=style.colour, markersize=layout.marker_pt, markeredgecolor="#222222",
                        markeredgewidth=0.4, elinewidth=0.9, capsize=layout.marker_pt * 0.5, capthick=0.9,
                        label=names.get(system, system) if what == "total" else None)
            for artist in (drawn.lines[0], *drawn.lines[1], *drawn.lines[2]):
                artist.set_clip_on(False)  # a mean or interval end at exactly 0 stays visible
        ax.set_ylabel(ylabel, fontsize=layout.label_pt)
        ax.tick_params(axis="y", labelsize=layout.tick_pt)
        ax.grid(axis="y", alpha=0.3, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes:
        ax.set_ylim(0, max(0.5, top * 1.1))
        ax.set_xlim(-0.5, len(ERROR_CATEGORIES) - 0.5)
    labels = [CATEGORY_LABELS[c] for c in ERROR_CATEGORIES]
    if layout.rotate_criteria:
        axes[1].set_xticks(x, [lab.replace("\n", " ") for lab in labels], fontsize=layout.tick_pt, rotation=30,
                           ha="right", rotation_mode="anchor")
    else:
        axes[1].set_xticks(x, labels, fontsize=layout.tick_pt)
    if simulated:
        axes[0].set_title(f"[{SIMULATED_MARK}]", fontsize=layout.label_pt, color="#b00000")
        fig.text(0.5, 0.55, SIMULATED_MARK, fontsize=4 * layout.width_in + 14, color="red", alpha=0.15, ha="center",
                 va="center", rotation=20, fontweight="bold")
    if systems:
        fig.legend(loc="outside lower center", ncols=min(layout.legend_columns, len(systems)),
                   fontsize=layout.tick_pt, frameon=False, handletextpad=0.3, columnspacing=1.2)
    return fig


def export_errors_figures(table: pd.DataFrame, study_systems: Sequence[str], out_dir: str | Path,
                          display_names: Mapping[str, str] | None = None, simulated: bool = False,
                          prefix: str = "") -> dict[str, Path]:
    """<prefix>errors_figure.{png,svg,pdf} (double column) and <prefix>errors_figure_single_column.* ."""
    styles = system_styles(study_systems)
    shown = [s for s in study_systems if s in set(table["system"])]
    files: dict[str, Path] = {}
    for layout in LAYOUTS:
        fig = errors_figure(table, shown, display_names, simulated, layout, styles)
        stem = "errors_figure" if layout is DOUBLE_COLUMN else "errors_figure_single_column"
        suffix = "" if layout is DOUBLE_COLUMN else "_single"
        files.update({f"errors_{fmt}{suffix}": p for fmt, p in save_figure(fig, out_dir, prefix + stem).items()})
    return files
