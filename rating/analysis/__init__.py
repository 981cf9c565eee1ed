"""Analysis and export of a rating study (the third wing of `rating/`, beside set-up and the rater).

Modules, in the direction of their imports (each imports only those above it, `db`, `core`
and libraries; nothing here imports the rater UI or `rating.ui`):

    config           AnalysisConfig (every knob, checked)
    bootstrap        the one resampling routine (case / rater multiplicities) and percentile intervals
    metrics          automatic metrics per output (ROUGE, CheXpert-style F1s, omission/addition)
    load             database -> plain DataFrames (the tidy ratings table, outputs, expected work)
    scores           Figure 4 means and Table 1 (metrics per system), with bootstrap intervals
    agreement        Krippendorff's alpha, ICC (pingouin), self-consistency on hidden repeats
    comparisons      paired tests between systems (Wilcoxon, permutation), effect sizes, Holm
    metric_validity  automatic metrics against the experts: Kendall's tau-b, leave one reader out
    progress         ratings done against expected
    summary          StudyAnalysis and SUMMARY_BUILDERS (the list of summary tables; add one there)
    tables           summary tables as readers see them
    figures          Figure 4 (matplotlib, journal sizes and fonts)
    xlsx             a fast XLSX writer
    report           report.md: Figure 4, the tables and a methods-and-results paragraph
    export           every export file; `python -m rating.export` is its command line
    service          what the admin's Analysis tab may call (behind the admin secret)

This __init__ imports nothing, so `import rating.analysis.x` loads only what x needs.
"""
