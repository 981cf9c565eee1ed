"""Figure 4 for a journal: mean expert score per system and criterion, with 95% intervals.

Points (one marker shape and Okabe-Ito colour per system) with 95% CI whiskers, criteria on
the x axis, on the 1-5 score axis (nothing drawn from 0). A system's colour and marker come
from its place in the study's system order (System.position), so it looks the same in every
figure of its study, whatever subset a figure shows. Two sizes for journals:
single column (3.5 in wide) and double column (7.2 in), drawn at print size so that every text
is 5-7 pt as journals ask, in Liberation Sans (metric-compatible with Arial/Helvetica; Debian
package fonts-liberation, SIL Open Font License), no gridlines unless asked for, saved as PNG
(300 dpi), SVG (text kept as text) and PDF (TrueType fonts embedded). Without Liberation Sans
installed the figure falls back to matplotlib's DejaVu Sans and `figure_font()` says so (the
export notes it in its `about` sheet).

Matplotlib with the Agg backend (no display needed). Input is `rating.analysis.figure4_table`.
Built on matplotlib.figure.Figure alone: pyplot (its global figure manager) is never imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from db.models import CRITERIA, CRITERION_TITLES

OKABE_ITO = {
    "blue": "#0072B2", "vermillion": "#D55E00", "bluish green": "#009E73", "reddish purple": "#CC79A7",
    "orange": "#E69F00", "sky blue": "#56B4E9", "black": "#000000", "yellow": "#F0E442",
}
"""Okabe & Ito (2008) colour-blind-safe palette, in the order systems get them (yellow, faint on
white, last)."""
PALETTE = tuple(OKABE_ITO.values())
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
"""Marker shapes: a second cue besides colour (greyscale print, more than 8 systems)."""
FIGURE_DPI = 300
MIN_FONT_PT = 5
MAX_FONT_PT = 7
"""Every text of the figure (at print size) lies in MIN_FONT_PT..MAX_FONT_PT, except the
SIMULATED DATA watermark of a simulated study (never published)."""
FONT_FAMILY = "Liberation Sans"
FALLBACK_FONT = "DejaVu Sans"
FONT_DIRS = ("/usr/share/fonts/truetype/liberation", "/usr/share/fonts/liberation-sans", "/usr/share/fonts/liberation",
             "/usr/share/fonts/TTF", "/usr/local/share/fonts")
"""Where Linux distributions put LiberationSans-Regular.ttf (Debian/Ubuntu first)."""
SCORE_RANGE = (1, 5)
SIMULATED_MARK = "SIMULATED DATA"


@dataclass(frozen=True)
class FigureLayout:
    """Size and type sizes of one journal variant."""

    name: str
    width_in: float
    height_in: float
    label_pt: float
    """Axis labels."""
    tick_pt: float
    """Tick labels and legend entries."""
    marker_pt: float
    rotate_criteria: bool
    """Slant the criterion names (they do not fit side by side in one column)."""
    legend_columns: int
    stem: str
    """File name stem of its exports."""


SINGLE_COLUMN = FigureLayout("single column", 3.5, 3.0, label_pt=7, tick_pt=6, marker_pt=4, rotate_criteria=True,
                             legend_columns=2, stem="figure4_single_column")
DOUBLE_COLUMN = FigureLayout("double column", 7.2, 3.2, label_pt=7, tick_pt=7, marker_pt=5, rotate_criteria=False,
                             legend_columns=4, stem="figure4")
LAYOUTS = (DOUBLE_COLUMN, SINGLE_COLUMN)
FIGURE_FORMATS = ("png", "svg", "pdf")


@lru_cache(maxsize=1)
def figure_font() -> str:
    """The family the figures use: Liberation Sans when its files are installed (registered with
    matplotlib from FONT_DIRS, so a stale font cache does not hide it), else DejaVu Sans."""
    from matplotlib import font_manager

    for folder in FONT_DIRS:
        regular = Path(folder) / "LiberationSans-Regular.ttf"
        if regular.is_file():
            for style in ("Regular", "Bold"):
                path = Path(folder) / f"LiberationSans-{style}.ttf"
                if path.is_file():
                    font_manager.fontManager.addfont(str(path))
            return FONT_FAMILY
    return FALLBACK_FONT


def _font_rc() -> dict:
    return {"font.family": "sans-serif", "font.sans-serif": [figure_font(), FALLBACK_FONT],
            "svg.fonttype": "none", "pdf.fonttype": 42}


@dataclass(frozen=True)
class SystemStyle:
    colour: str
    marker: str


def system_styles(study_systems: Sequence[str]) -> dict[str, SystemStyle]:
    """Colour and marker per system from its index in the study's system order.

    Systems 1-8 get the eight Okabe-Ito colours; from the 9th on colours repeat with another
    marker, so every (colour, marker) pair stays distinct for up to 64 systems.
    """
    return {name: SystemStyle(PALETTE[i % len(PALETTE)], MARKERS[(i + i // len(PALETTE)) % len(MARKERS)])
            for i, name in enumerate(study_systems)}


def figure4(table: pd.DataFrame, systems: Sequence[str] | None = None, title: str | None = None,
            simulated: bool = False, display_names: Mapping[str, str] | None = None,
            styles: Mapping[str, SystemStyle] | None = None, layout: FigureLayout = DOUBLE_COLUMN,
            grid: bool = False) -> Figure:
    """Means with 95% CI whiskers on the 1-5 axis: criteria on x, one colour and marker per system.

    systems: which systems, in legend order (default: the table's order). styles: colour and
    marker per system (default: system_styles(systems); pass the study-wide styles when
    drawing a subset). display_names: legend text per system (default: the name). grid: light
    horizontal gridlines (off by default, as journals prefer).
    """
    with matplotlib.rc_context(_font_rc()):
        return _draw(table, systems, title, simulated, display_names, styles, layout, grid)


def _draw(table, systems, title, simulated, display_names, styles, layout: FigureLayout, grid: bool) -> Figure:
    if not systems:
        systems = list(dict.fromkeys(table["system"])) if len(table) else []
    styles = dict(styles) if styles else system_styles(systems)
    names = dict(display_names or {})
    fig = Figure(figsize=(layout.width_in, layout.height_in), dpi=FIGURE_DPI, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(CRITERIA), dtype=float)
    spread = min(0.7, 0.16 * len(systems))
    offsets = np.linspace(-spread / 2, spread / 2, len(systems)) if len(systems) > 1 else np.zeros(1)
    for offset, system in zip(offsets, systems, strict=True):
        style = styles.get(system) or system_styles([system])[system]
        rows = table[table["system"] == system].set_index("criterion").reindex(list(CRITERIA))
        means = rows["mean"].to_numpy(dtype=float)
        lower = np.clip(means - rows["ci_low"].to_numpy(dtype=float), 0, None)
        upper = np.clip(rows["ci_high"].to_numpy(dtype=float) - means, 0, None)
        drawn = ax.errorbar(x + offset, means, yerr=np.nan_to_num(np.vstack([lower, upper])), fmt=style.marker,
                            color=style.colour, markersize=layout.marker_pt, markeredgecolor="#222222",
                            markeredgewidth=0.4, elinewidth=0.9, capsize=layout.marker_pt * 0.5, capthick=0.9,
                            label=names.get(system, system))
        for artist in (drawn.lines[0], *drawn.lines[1], *drawn.lines[2]):
            artist.set_clip_on(False)  # a mean or interval end at exactly 5 stays visible
    labels = [CRITERION_TITLES[c] for c in CRITERIA]
    if layout.rotate_criteria:
        ax.set_xticks(x, labels, fontsize=layout.tick_pt, rotation=30, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(x, labels, fontsize=layout.tick_pt)
    ax.set_xlim(-0.5, len(CRITERIA) - 0.5)
    ax.set_ylim(*SCORE_RANGE)
    ax.set_yticks(range(SCORE_RANGE[0], SCORE_RANGE[1] + 1))
    ax.tick_params(axis="y", labelsize=layout.tick_pt)
    ax.set_ylabel("Mean score (95% CI)", fontsize=layout.label_pt)
    if grid:
        ax.grid(axis="y", alpha=0.3, linewidth=0.5)
        ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    heading = " ".join(t for t in (title, f"[{SIMULATED_MARK}]" if simulated else None) if t)
    if heading:
        ax.set_title(heading, fontsize=layout.label_pt, color="#b00000" if simulated else "black")
    if systems:
        fig.legend(loc="outside lower center", ncols=min(layout.legend_columns, len(systems)),
                   fontsize=layout.tick_pt, frameon=False, handletextpad=0.3, columnspacing=1.2)
    if simulated:
        fig.text(0.5, 0.55, SIMULATED_MARK, fontsize=4 * layout.width_in + 14, color="red", alpha=0.15, ha="center",
                 va="center", rotation=20, fontweight="bold")
    return fig


def save_figure(fig: Figure, out_dir: str | Path, stem: str = "figure4") -> dict[str, Path]:
    """Write <stem>.png (300 dpi), .svg (text kept as text) and .pdf (fonts embedded) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {fmt: out / f"{stem}.{fmt}" for fmt in FIGURE_FORMATS}
    fig.savefig(paths["png"], dpi=FIGURE_DPI)
    with matplotlib.rc_context(_font_rc()):
        fig.savefig(paths["svg"])
        fig.savefig(paths["pdf"])
    return paths


def export_figures(table: pd.DataFrame, study_systems: Sequence[str], out_dir: str | Path,
                   display_names: Mapping[str, str] | None = None, simulated: bool = False,
                   prefix: str = "") -> dict[str, Path]:
    """Both journal variants in every format. Keys: png, svg, pdf (double column) and
    png_single, svg_single, pdf_single (single column)."""
    styles = system_styles(study_systems)
    for layout in LAYOUTS:
        fig = figure4(table, list(study_systems), simulated=simulated, display_names=display_names, styles=styles,
                      layout=layout)
        save_figure(fig, out_dir, prefix + layout.stem)
    return figure_files(out_dir, prefix)


def figure_files(out_dir: str | Path, prefix: str = "") -> dict[str, Path]:
    """The files export_figures writes, by key (png, svg, pdf, png_single, svg_single, pdf_single)."""
    return {f"{fmt}{'' if layout is DOUBLE_COLUMN else '_single'}": Path(out_dir) / f"{prefix}{layout.stem}.{fmt}"
            for layout in LAYOUTS for fmt in FIGURE_FORMATS}
