"""Command line of the export: `python -m rating.export --db PATH --out DIR [--study ID]`.

The export itself lives in rating.analysis.export (see its docstring for the files written).
"""
from __future__ import annotations

import sys

from rating.analysis.export import main

if __name__ == "__main__":
    sys.exit(main())
