"""Figure 4 for a journal, on a simulated study in a real SQLite file: palette, axis, type sizes, names.

Each check inspects the matplotlib Figure itself (its artists and text objects) or the saved files.
"""
from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import matplotlib.text
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
import pytest
from PIL import Image

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA
from db.models import CRITERION_TITLES as CRITERION_LABELS
from rating.analysis.config import AnalysisConfig
from rating.analysis.figures import (DOUBLE_COLUMN, FIGURE_DPI, MIN_FONT_PT, SIMULATED_MARK, SINGLE_COLUMN, export_figures,
                            figure4, system_styles)
from rating.analysis.summary import analyze_study
from rating.simulate import DISPLAY_NAMES, SimulationConfig, simulate_study

OKABE_ITO_HEX = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
"""Okabe & Ito (2008), written out here independently of rating.figures."""


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    db = tmp_path_factory.mktemp("fig") / "study.db"
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as session:
        result = simulate_study(session, SimulationConfig(seed=2, n_cases=20, n_raters=3, k=2, n_repeats=1))
    with factory() as session:
        return analyze_study(session, result.study_id, AnalysisConfig(n_bootstrap=200, n_bootstrap_alpha=20))


def _colour_by_label(fig) -> dict[str, str]:
    """Legend label -> the marker colour of that system's points (from the errorbar artists)."""
    from matplotlib.colors import to_hex

    ax = fig.axes[0]
    return {c.get_label(): to_hex(c.lines[0].get_markerfacecolor()).upper() for c in ax.containers}


def test_systems_come_in_study_order_with_display_names_from_the_database(analysis):
    assert analysis.systems == ["radiology-llama", "retrieval", "lead", "reference"]  # the order given at creation
    assert analysis.display_names == DISPLAY_NAMES


def test_palette_is_okabe_ito_and_a_system_keeps_its_colour_in_every_figure_of_its_study(analysis):
    styles = system_styles(analysis.systems)
    single = figure4(analysis.figure4, analysis.systems, display_names=analysis.display_names, styles=styles,
                     layout=SINGLE_COLUMN)
    double = figure4(analysis.figure4, analysis.systems, display_names=analysis.display_names, styles=styles,
                     layout=DOUBLE_COLUMN)
    subset = ["lead", "reference"]  # a figure of two systems only
    part = figure4(analysis.figure4[analysis.figure4["system"].isin(subset)], subset,
                   display_names=analysis.display_names, styles=styles)
    colours = _colour_by_label(single)
    assert set(colours) == set(analysis.display_names.values())
    assert set(colours.values()) <= OKABE_ITO_HEX
    assert len(set(colours.values())) == len(analysis.systems)  # distinct
    assert _colour_by_label(double) == colours
    assert _colour_by_label(part) == {analysis.display_names[s]: colours[analysis.display_names[s]] for s in subset}
    # A system's style follows its place in the study, not the figure: drawing the subset
    # without the study's styles would have given "lead" the first colour.
    assert system_styles(subset)["lead"].colour != colours[analysis.display_names["lead"]]


def test_more_systems_than_colours_still_differ_by_colour_or_marker():
    styles = system_styles([f"s{i}" for i in range(20)])
    pairs = [(s.colour, s.marker) for s in styles.values()]
    assert len(set(pairs)) == 20 and {c.upper() for c, _ in pairs} == OKABE_ITO_HEX


def test_points_with_intervals_on_the_1_to_5_axis(analysis):
    fig = figure4(analysis.figure4, analysis.systems, display_names=analysis.display_names, layout=SINGLE_COLUMN)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert low == 1 and high >= 5
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2", "3", "4", "5"]
    assert not ax.patches  # no bars (which would start at 0 or hide the interval)
    table = analysis.figure4.set_index(["system", "criterion"])
    for container, system in zip(ax.containers, analysis.systems):
        ys = container.lines[0].get_ydata()
        assert np.allclose(ys, [table.loc[(system, c), "mean"] for c in CRITERIA])
        segments = container.lines[2][0].get_segments()  # the vertical CI whiskers
        assert np.allclose([s[0][1] for s in segments], [table.loc[(system, c), "ci_low"] for c in CRITERIA])
        assert np.allclose([s[1][1] for s in segments], [table.loc[(system, c), "ci_high"] for c in CRITERIA])


@pytest.mark.parametrize("layout", [SINGLE_COLUMN, DOUBLE_COLUMN], ids=["single", "double"])
def test_every_text_is_at_least_7_pt_and_nothing_overlaps_at_column_width(analysis, layout):
    fig = figure4(analysis.figure4, analysis.systems, display_names=analysis.display_names, simulated=True,
                  layout=layout)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the final constrained layout, as saved
    assert tuple(fig.get_size_inches()) == (layout.width_in, layout.height_in)
    ax = fig.axes[0]
    candidates = [*fig.findobj(matplotlib.text.Text), *ax.get_xticklabels(), *ax.get_yticklabels(),
                  *fig.legends[0].get_texts(), ax.yaxis.label, ax.title, *fig.texts]
    texts = [t for t in dict.fromkeys(candidates) if t.get_visible() and t.get_text().strip()]
    assert len({t.get_text() for t in texts}) >= len(CRITERIA) + 5 + len(analysis.systems) + 1  # ticks, legend, label
    small = {t.get_text(): t.get_fontsize() for t in texts if t.get_fontsize() < MIN_FONT_PT}
    assert small == {}
    renderer = canvas.get_renderer()
    fig_box = fig.bbox
    labels = ax.get_xticklabels()
    ticks = [t.get_window_extent(renderer) for t in labels]
    angle = np.deg2rad(labels[0].get_rotation())
    if angle:  # parallel slanted labels: the gap across the text direction must exceed a line of text
        tick_x = ax.transData.transform([(i, 1) for i in range(len(CRITERIA))])[:, 0]
        line_px = labels[0].get_fontsize() * fig.dpi / 72
        assert np.diff(tick_x).min() * np.sin(angle) > 1.2 * line_px
    else:
        for a, b in itertools.combinations(ticks, 2):
            assert not a.overlaps(b)
    legend = fig.legends[0]
    entries = [t.get_window_extent(renderer) for t in legend.get_texts()]
    for a, b in itertools.combinations(entries, 2):
        assert not a.overlaps(b)
    for box in [*ticks, *entries, legend.get_window_extent(renderer)]:
        assert fig_box.x0 - 1 <= box.x0 and box.x1 <= fig_box.x1 + 1 and fig_box.y0 - 1 <= box.y0


def test_exports_png_at_300_dpi_svg_and_pdf_in_both_sizes_with_display_names(analysis, tmp_path):
    files = export_figures(analysis.figure4, analysis.systems, tmp_path, analysis.display_names, simulated=True)
    assert set(files) == {"png", "svg", "pdf", "png_single", "svg_single", "pdf_single"}
    for key, layout in (("png", DOUBLE_COLUMN), ("png_single", SINGLE_COLUMN)):
        with Image.open(files[key]) as img:
            assert img.size == (round(layout.width_in * FIGURE_DPI), round(layout.height_in * FIGURE_DPI))
            assert tuple(round(d) for d in img.info["dpi"]) == (FIGURE_DPI, FIGURE_DPI)
    for key in ("pdf", "pdf_single"):
        head = files[key].read_bytes()
        assert head.startswith(b"%PDF") and b"/FontFile2" in head  # TrueType fonts embedded (type 42)
    for key in ("svg", "svg_single"):
        texts = [el.text or "" for el in ET.parse(files[key]).iter() if el.tag.endswith("text")]
        joined = " ".join(texts)
        for name in [*DISPLAY_NAMES.values(), *CRITERION_LABELS.values(), SIMULATED_MARK]:
            assert name in joined
        assert "radiology-llama" not in texts  # the internal name is not a legend entry


def _min_distance_for(colours: list[str], cvd_type: str) -> float:
    """Smallest CAM02-UCS distance between the colours as seen with full-severity colour-vision deficiency."""
    from colorspacious import cspace_convert
    from matplotlib.colors import to_rgb

    rgb = np.array([to_rgb(c) for c in colours])
    seen = np.clip(cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": cvd_type, "severity": 100}, "sRGB1"), 0, 1)
    ucs = cspace_convert(seen, "sRGB1", "CAM02-UCS")
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(ucs, 2))


@pytest.mark.parametrize("cvd_type", ["deuteranomaly", "protanomaly"])
def test_system_colours_stay_apart_under_simulated_colour_blindness(cvd_type):
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    ours = [s.colour for s in system_styles([f"s{i}" for i in range(8)]).values()]
    assert _min_distance_for(ours, cvd_type) > 10
    # The check can fail: the previous default (matplotlib's tab10) merges two of its first four.
    assert _min_distance_for([to_hex(c) for c in colormaps["tab10"].colors[:4]], cvd_type) < 10
