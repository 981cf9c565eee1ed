"""CSV injection (OWASP): text cells that a spreadsheet would run as a formula get a leading quote.

A cell beginning with =, +, -, @, a tab or a carriage return is written as "'" + cell, so a
comment like =HYPERLINK("http://...") is shown as text when the analyst opens ratings.csv in
Excel or LibreOffice. Only text columns change: numbers, booleans and timestamps stay as they
are (a negative number stays a number). XLSX cells are typed as strings and need no change.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """The table with every formula-like text cell prefixed by a single quote."""
    columns = []
    for column, field in zip(table.columns, table.schema, strict=True):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
            column = pc.if_else(risky, pc.binary_join_element_wise(pa.scalar("'", field.type), column,
                                                                   pa.scalar("", field.type)), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)
