"""Study protocols as data of a study: what a rater records per case.

- likert: five 1-5 scores per candidate (the Radiology-Llama2 paper's protocol; rating/service.py).
- errors: ReXVal/GREEN error counts per candidate, six categories x clinically significant or not.
- pairwise: clin-summ blinded A/B preferences (-2..2) per attribute, with an AHRQ harm block per
  text marked as holding an error.

A study has one or more of them (`likert,errors`), stored in Study.protocols. definitions.py holds
the names and the validation of form values (pure); service.py stores and reads them; gold.py the
gold (attention) cases. Their analysis and files live with the rest of the analysis:
rating/analysis/protocol_load.py, protocol_stats.py, protocol_study.py, protocol_figures.py, protocol_files.py.
"""
