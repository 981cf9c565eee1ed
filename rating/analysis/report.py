"""report.md: Figure 4, the main tables and a methods-and-results paragraph an author can paste.

Every number in the paragraph comes from the analysed study (the ratings, its configuration and
the summary tables of rating.analysis.summary), so the paragraph and the tables cannot disagree
(tests/test_report.py reads the numbers back). Pure: DataFrames in, Markdown text out.
"""
from __future__ import annotations

import pandas as pd

from db.models import CRITERIA, CRITERION_TITLES
from rating.analysis.summary import StudyAnalysis
from rating.analysis.tables import METRIC_LABELS, format_p

PRIMARY_CRITERION = "clinical_utility"
"""The criterion the paragraph reports system by system (the others are in Figure 4 and Table 2)."""


def fmt(value: object, digits: int = 2) -> str:
    """A number for the paragraph: fixed decimals, n/a when undefined."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if pd.isna(v) else f"{v:.{digits}f}"


def interval(low: object, high: object, digits: int = 2) -> str:
    return f"95% CI {fmt(low, digits)} to {fmt(high, digits)}"


def _names(analysis: StudyAnalysis, systems) -> list[str]:
    return [analysis.display_names.get(s, s) for s in systems]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else "none"


SOURCE_NAMES = {"openi": "OpenI", "mimic": "MIMIC-CXR", "mimic-cxr": "MIMIC-CXR", "simulated": "a simulated data set"}
"""How the paragraph names a case source (anything else as stored: a PI's own file name)."""


def study_counts(analysis: StudyAnalysis) -> dict:
    """The counts the paragraph states, from the ratings themselves."""
    r = analysis.ratings
    first = r[r["repeat_index"] == 0]
    config = analysis.info.get("config") or {}
    return {"n_cases": int(first["case_id"].nunique()), "n_raters": int(r["rater"].nunique()),
            "n_systems": int(first["system"].nunique()), "n_ratings": int(len(r)), "n_first": int(len(first)),
            "n_repeats": int((r["repeat_index"] == 1).sum()),
            "n_calibration": int(first.loc[first["calibration"].astype(bool), "case_id"].nunique()),
            "n_outputs": int(first["output_id"].nunique()), "k": config.get("k"),
            "sources": sorted(set(first["case_source"].dropna().astype(str).unique()))}


def _methods(analysis: StudyAnalysis, c: dict) -> str:
    cfg = analysis.config
    rated = set(analysis.ratings["system"].unique())
    systems = _join(_names(analysis, [s for s in analysis.systems if s in rated]))
    roles = analysis.ratings.drop_duplicates("rater")["rater_role"].dropna().astype(str)
    roles = [r for r in roles if r.strip()]
    role_text = f" ({_join(sorted(set(roles)))})" if roles else ""
    k = c["k"]
    allocation = (f"each remaining case was allocated to {k} of the {c['n_raters']} raters" if k else
                  "every rater was allocated every case")
    criteria = _join([CRITERION_TITLES[x] for x in CRITERIA])
    tests = analysis.comparisons["test"].replace("", pd.NA).dropna().unique() if not analysis.comparisons.empty \
        else []
    methods = _join([t.replace("Wilcoxon signed-rank, ", "") for t in tests]) if len(tests) else "none needed"
    perm = (f", and an approximate-randomization test ({cfg.n_permutations:,} sign flips of the paired "
            "differences) as a check" if cfg.n_permutations else "")
    return (
        f"**Methods.** {c['n_cases']} cases"
        f"{' from ' + _join([SOURCE_NAMES.get(x.lower(), x) for x in c['sources']]) if c['sources'] else ''} were "
        f"summarised by {c['n_systems']} systems ({systems}). {c['n_raters']} raters{role_text} scored each output "
        f"they were shown on five criteria ({criteria}) on a 1-5 scale with anchored end points. "
        f"{c['n_calibration']} calibration cases were rated by every rater and {allocation} (seeded allocation, "
        "case order shuffled per rater). Raters were blinded: a case's outputs were shown side by side under the "
        "labels A, B, ... in an order drawn per rater and case from the operating system's random generator and "
        "stored with each rating; system names were never shown, and identical texts were shown once and their "
        f"rating counted for every system that wrote them. The study holds {c['n_ratings']} ratings: "
        f"{c['n_first']} first ratings of {c['n_outputs']} outputs and {c['n_repeats']} hidden repeats of earlier "
        "cases, used only for self-consistency and excluded from Figure 4 and every table. Mean scores are given "
        f"with {round(cfg.confidence * 100)}% percentile intervals from a two-level bootstrap resampling cases and "
        f"raters ({cfg.n_bootstrap:,} resamples, seed {cfg.seed}). Systems were compared per criterion on "
        f"case-level mean scores with the Wilcoxon signed-rank test (used here: {methods}; exact only without "
        f"ties or zero differences and with at most {cfg.wilcoxon_exact_max_n} cases), Holm-corrected over the "
        "pairs of systems within each criterion, with the matched-pairs rank-biserial correlation as effect "
        f"size{perm}. Inter-rater agreement is Krippendorff's alpha ({cfg.alpha_level}; interval from resampling "
        "outputs) and the intraclass correlation (two-way random effects, absolute agreement, single rater "
        "ICC(2,1) and mean of raters ICC(2,k), F-based 95% CI; pingouin) over the outputs rated by every rater. "
        "Each automatic metric was set against the mean expert score by Kendall's tau-b per output and per system, "
        "with a 95% bootstrap interval resampling cases, and against held-out readers (leave one reader out).")


def _results(analysis: StudyAnalysis, c: dict) -> str:
    parts = []
    fig = analysis.figure4
    if not fig.empty:
        rows = fig[(fig["criterion"] == PRIMARY_CRITERION) & fig["mean"].notna()].sort_values("mean",
                                                                                              ascending=False)
        items = [f"{analysis.display_names.get(r.system, r.system)} {fmt(r.mean)} ({interval(r.ci_low, r.ci_high)})"
                 for r in rows.itertuples()]
        if items:
            parts.append(f"Mean {CRITERION_TITLES[PRIMARY_CRITERION].lower()} scores were {_join(items)}.")
    cmp = analysis.comparisons
    if not cmp.empty:
        sig = cmp[cmp["significant"].astype(bool)]
        text = (f"{len(sig)} of {len(cmp)} paired comparisons were significant after Holm correction "
                f"(level {analysis.config.significance})")
        primary = cmp[(cmp["criterion"] == PRIMARY_CRITERION) & cmp["rank_biserial"].notna()]
        if not primary.empty:
            top = primary.loc[primary["mean_diff"].abs().idxmax()]
            text += (f"; the largest {CRITERION_TITLES[PRIMARY_CRITERION].lower()} difference was "
                     f"{analysis.display_names.get(top.system_a, top.system_a)} minus "
                     f"{analysis.display_names.get(top.system_b, top.system_b)}, {fmt(top.mean_diff)} points "
                     f"(rank-biserial r = {fmt(top.rank_biserial)}, Holm-adjusted p {_p_text(top.p_holm)})")
        parts.append(text + ".")
    alpha = analysis.agreement.dropna(subset=["alpha"]) if not analysis.agreement.empty else analysis.agreement
    if not alpha.empty:
        lo, hi = alpha.loc[alpha["alpha"].idxmin()], alpha.loc[alpha["alpha"].idxmax()]
        parts.append(f"Krippendorff's alpha ranged from {fmt(lo.alpha)} ({CRITERION_TITLES[lo.criterion]}, "
                     f"{interval(lo.ci_low, lo.ci_high)}) to {fmt(hi.alpha)} ({CRITERION_TITLES[hi.criterion]}, "
                     f"{interval(hi.ci_low, hi.ci_high)}).")
    icc = analysis.icc
    single = icc[(icc["icc_type"] == "ICC2") & icc["icc"].notna()] if not icc.empty else icc
    if not single.empty:
        lo, hi = single.loc[single["icc"].idxmin()], single.loc[single["icc"].idxmax()]
        parts.append(f"ICC(2,1) over {int(single['n_outputs'].iloc[0])} outputs rated by all "
                     f"{int(single['n_raters'].iloc[0])} raters ranged from {fmt(lo.icc)} "
                     f"({CRITERION_TITLES[lo.criterion]}, {interval(lo.ci_low, lo.ci_high)}) to {fmt(hi.icc)} "
                     f"({CRITERION_TITLES[hi.criterion]}, {interval(hi.ci_low, hi.ci_high)}).")
    mv = analysis.metric_validity
    out = mv[(mv["level"] == "output") & (mv["criterion"] == PRIMARY_CRITERION) & mv["kendall_tau_b"].notna()] \
        if not mv.empty else mv
    if not out.empty:
        best = out.loc[out["kendall_tau_b"].idxmax()]
        parts.append(f"Against the mean {CRITERION_TITLES[PRIMARY_CRITERION].lower()} score per output, the "
                     f"best automatic metric was {METRIC_LABELS.get(best.metric, best.metric)} (Kendall's tau-b "
                     f"{fmt(best.kendall_tau_b)}, {interval(best.ci_low, best.ci_high)}, n = {int(best.n)}).")
    loro = analysis.leave_one_reader_out
    done = loro[loro["tau_metric"].notna()] if not loro.empty else loro
    if not done.empty:
        closer = done[done["metric_closer"].astype(bool)]
        parts.append(f"Leaving one reader out, a metric agreed with the other readers at least as well as the "
                     f"held-out reader did in {len(closer)} of {len(done)} metric-criterion pairs.")
    return "**Results.** " + " ".join(parts) if parts else "**Results.** No ratings yet."


def _p_text(p: object) -> str:
    text = format_p(p)
    return text if text.startswith("<") or text == "n/a" else f"= {text}"


def methods_paragraph(analysis: StudyAnalysis) -> str:
    """The methods and results paragraphs (Markdown, two paragraphs)."""
    counts = study_counts(analysis)
    return _methods(analysis, counts) + "\n\n" + _results(analysis, counts)


def _markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(empty: no ratings yet)_"
    return frame.to_markdown(index=False)


def report_markdown(analysis: StudyAnalysis, tables: dict[str, pd.DataFrame], figure_file: str | None = None) -> str:
    """The whole report: title, notes, the paragraph, Figure 4 (figure_file, relative) and the tables.

    tables: readable tables by sheet name (rating.analysis.tables), plus "figure4_wide".
    """
    info = analysis.info
    lines = [f"# {info['name']}: analysis report (study {info['study_id']})", ""]
    if info.get("simulated"):
        lines += ["> **SIMULATED DATA**: generated by `rating.simulate`, not rated by people.", ""]
    lines += [f"- {n}" for n in analysis.notes if not n.startswith("SIMULATED")]
    lines += ["", "## Methods and results", "", methods_paragraph(analysis), ""]
    if figure_file:
        lines += ["## Figure 4", "", f"![Figure 4]({figure_file})", ""]
    lines += ["*Figure 4. Mean expert score per system and criterion (1-5) with 95% intervals from a two-level "
              "bootstrap over cases and raters; hidden repeats excluded.*", ""]
    captions = [("figure4_wide", "Table 1. Mean score [95% CI] per system and criterion (Figure 4 as numbers)"),
                ("table1_rouge", "Table 2. Automatic metrics per system on the rated cases"),
                ("comparisons", "Table 3. Paired comparisons (Wilcoxon signed-rank, Holm, rank-biserial r)"),
                ("agreement", "Table 4. Krippendorff's alpha per criterion"),
                ("icc", "Table 5. ICC per criterion (two-way random, absolute agreement)"),
                ("metric_validity", "Table 6. Automatic metrics against the experts (Kendall's tau-b)"),
                ("leave_one_reader_out", "Table 7. Leave one reader out")]
    for key, caption in captions:
        if key in tables:
            lines += [f"### {caption}", "", _markdown_table(tables[key]), ""]
    return "\n".join(lines)
