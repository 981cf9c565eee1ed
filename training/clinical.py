"""Label reports with the rule-based CheXpert labeler; registers the clinical F1 columns.

    python -m training.clinical < reports.txt

Reads one report text per line on standard input and prints, for each line in order, one JSON
object mapping each of the 14 CheXpert observations (spelled as in core.chexpert_rules) to 1
(positive), 0 (negative), -1 (uncertain) or null (not mentioned). A blank line gives all null.

The agreement metric built on these labels (core.clinical: chexpert_micro_f1, chexpert_macro_f1,
chexpert_micro_f1_top5, chexpert_macro_f1_top5, per report and from pooled counts) is wired into
`python -m training.evaluate` by training.metric_registry. See core.clinical for the conventions.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable, TextIO

from core.clinical import label_report


def label_lines(lines: Iterable[str]) -> Iterable[str]:
    """One JSON line of labels per input line."""
    for line in lines:
        yield json.dumps(label_report(line.rstrip("\r\n")))


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.clinical",
        description="Label one report per stdin line with the 14 CheXpert observations; "
                    "prints one JSON object per line (1 positive, 0 negative, -1 uncertain, null not mentioned).")
    parser.parse_args(argv)
    source = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout
    raw = source.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            print(f"error: standard input is not UTF-8 text (byte {exc.start}); nothing was labelled",
                  file=sys.stderr)
            return 2
    lines = raw.splitlines()
    for row in label_lines(lines):
        out.write(row + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
