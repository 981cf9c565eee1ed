"""A fast writer of plain DataFrames to an .xlsx workbook (one sheet per frame).

openpyxl and XlsxWriter format every cell in Python and need 10-25 s for 100,000 rating rows;
this writer builds each sheet's XML column by column with vectorised string operations and
stores every text cell in the shared-string table, which takes about a second. It writes
values only: a bold, frozen header row, numbers, booleans, text, and timestamps as Excel dates
(UTC, shown as yyyy-mm-dd hh:mm:ss). The package follows ECMA-376 (SpreadsheetML): cells
without explicit references are placed left to right, rows top to bottom.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MAX_ROWS = 1_048_576
MAX_SHEET_NAME = 31
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STYLE_DATE, _STYLE_HEADER = 1, 2
_STYLES = (_XML_HEAD + f'<styleSheet xmlns="{_MAIN_NS}">'
           '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
           '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
           '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
           '<fills count="2"><fill><patternFill patternType="none"/></fill>'
           '<fill><patternFill patternType="gray125"/></fill></fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
           '</styleSheet>')


def _escape(text: str) -> str:
    text = _ILLEGAL_XML.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _SharedStrings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.count = 0

    def codes(self, values: pd.Series) -> np.ndarray:
        """Shared-string index of every value (object array of str; values must be strings)."""
        local_codes, uniques = pd.factorize(values, sort=False)
        mapping = np.array([self.index.setdefault(u, len(self.index)) for u in uniques], dtype=np.int64)
        self.count += len(values)
        return mapping[local_codes] if len(mapping) else np.zeros(0, dtype=np.int64)

    def xml(self) -> str:
        items = "".join(f'<si><t xml:space="preserve">{_escape(s)}</t></si>' for s in self.index)
        return _XML_HEAD + f'<sst xmlns="{_MAIN_NS}" count="{self.count}" uniqueCount="{len(self.index)}">{items}</sst>'


def _wrap(values: pa.Array, before: str, after: str) -> pa.Array:
    return pc.binary_join_element_wise(before, pc.cast(values, pa.string()), after, "")


_NA_CELL = '<c t="inlineStr"><is><t>n/a</t></is></c>'
"""An undefined statistic in a summary sheet: the text n/a (its reason is in the row's note column)."""


def _cell_pieces(values: pa.Array, before: str, after: str, present: pa.Array | None, missing: str = "<c/>") -> list:
    """`before + value + after` per row, or "<c/>" where `present` is false.

    A column with every value present stays three pieces (two constants around the values as
    text), so the whole row is joined in one pass without a per-column copy.
    """
    if present is None or pc.all(present).as_py():
        return [before, pc.cast(values, pa.string()), after]
    return [pc.if_else(present, _wrap(values, before, after), missing)]


def _number_pieces(values: np.ndarray, style: str = "", missing: str = "<c/>") -> list:
    arr = pa.array(values, type=pa.float64())
    finite = pc.fill_null(pc.is_finite(arr), False)
    return _cell_pieces(pc.fill_null(arr, 0.0), f"<c{style}><v>", "</v></c>", finite, missing)


def _column_pieces(col: pd.Series, strings: _SharedStrings, na_cells: bool = False) -> list:
    """One XML <c> element per value of a column, as pieces of the row join: constant strings
    (the same for every row) and Arrow string arrays (one string per row)."""
    if pd.api.types.is_bool_dtype(col) and not col.isna().any():
        return ['<c t="b"><v>', pc.if_else(pa.array(col.to_numpy(dtype=bool)), "1", "0"), "</v></c>"]
    if pd.api.types.is_datetime64_any_dtype(col):
        naive = col.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(col.dt, "tz", None) else col
        days = ((naive - _EXCEL_EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)
        return _number_pieces(days, f' s="{_STYLE_DATE}"')
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        if pd.api.types.is_integer_dtype(col) and not col.isna().any():
            return _cell_pieces(pa.array(col.to_numpy(dtype=np.int64)), "<c><v>", "</v></c>", None)
        return _number_pieces(col.to_numpy(dtype=float, na_value=np.nan),
                              missing=_NA_CELL if na_cells and pd.api.types.is_float_dtype(col) else "<c/>")
    present = col.notna().to_numpy()
    codes = np.full(len(col), -1, dtype=np.int64)
    if present.any():
        text = col[present]
        if not isinstance(text.dtype, pd.StringDtype):
            text = text.map(lambda v: v if isinstance(v, str) else str(v))
        codes[present] = strings.codes(text)
    return _cell_pieces(pa.array(codes), '<c t="s"><v>', "</v></c>", pa.array(present))


def _merge_constants(pieces: list) -> list:
    """Adjacent constant strings merged into one (fewer, longer arguments for the join)."""
    out: list = []
    for p in pieces:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return out


def _concatenated_bytes(values: pa.Array) -> memoryview:
    """All strings of an Arrow string array back to back: a view of its data buffer (no copy)."""
    if not len(values):
        return memoryview(b"")
    values = values.cast(pa.large_string()) if values.type != pa.large_string() else values
    _, offsets, data = values.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[values.offset:values.offset + len(values) + 1]
    return memoryview(data)[int(bounds[0]):int(bounds[-1])]


def _sheet_xml(frame: pd.DataFrame, strings: _SharedStrings, na_cells: bool = False
               ) -> tuple[bytes, memoryview, bytes]:
    """A sheet's XML in three parts (head, rows, tail), to be written one after the other."""
    header = "".join(f'<c t="s" s="{_STYLE_HEADER}"><v>{strings.index.setdefault(str(c), len(strings.index))}</v></c>'
                     for c in frame.columns)
    strings.count += len(frame.columns)
    parts = [_XML_HEAD, f'<worksheet xmlns="{_MAIN_NS}"><sheetViews><sheetView workbookViewId="0">'
             '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
             f"<sheetData><row>{header}</row>"]
    if len(frame):
        pieces = ["<row>", *(p for name in frame.columns for p in _column_pieces(frame[name], strings, na_cells)),
                  "</row>"]
        pieces = _merge_constants(pieces)
        if not any(isinstance(p, pa.Array) for p in pieces):  # a row of constants only (cannot happen today)
            pieces.insert(1, pa.array([""] * len(frame)))
        rows = pc.binary_join_element_wise(*pieces, "")
        body = _concatenated_bytes(rows)
    else:
        body = memoryview(b"")
    return "".join(parts).encode("utf-8"), body, b"</sheetData></worksheet>"


def _sheet_names(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        clean = _BAD_SHEET_CHARS.sub("_", str(name)).strip("'")[:MAX_SHEET_NAME] or "sheet"
        base, n = clean, 2
        while clean.lower() in (o.lower() for o in out):
            clean = f"{base[:MAX_SHEET_NAME - len(str(n)) - 1]}_{n}"
            n += 1
        out.append(clean)
    return out


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame], na_sheets: Iterable[str] = ()) -> Path:
    """Write every frame to its own sheet (in the given order); returns the path.

    In the sheets named in `na_sheets` (summary tables) a missing float is written as the text
    "n/a" (an undefined statistic); elsewhere (the ratings) it is an empty cell."""
    na_sheets = set(na_sheets)
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    for name, frame in sheets.items():
        if len(frame) + 1 > MAX_ROWS:
            raise ValueError(f"sheet {name!r} has {len(frame)} rows; Excel holds at most {MAX_ROWS - 1}")
    path = Path(path)
    names = _sheet_names(list(sheets))
    strings = _SharedStrings()
    sheet_xml = [_sheet_xml(frame, strings, name in na_sheets) for name, frame in sheets.items()]
    n = len(names)
    content_types = (_XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                     '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                     '<Default Extension="xml" ContentType="application/xml"/>'
                     '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                     'officedocument.spreadsheetml.sheet.main+xml"/>'
                     + "".join(f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/'
                               'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(n))
                     + '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
                     'officedocument.spreadsheetml.styles+xml"/>'
                     '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                     'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    root_rels = (_XML_HEAD + f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
                 f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    workbook = (_XML_HEAD + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><sheets>'
                + "".join(f'<sheet name="{_escape(nm).replace(chr(34), "&quot;")}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
                          for i, nm in enumerate(names))
                + "</sheets></workbook>")
    workbook_rels = (_XML_HEAD + f'<Relationships xmlns="{_PKG_REL_NS}">'
                     + "".join(f'<Relationship Id="rId{i + 1}" Type="{_REL_NS}/worksheet" '
                               f'Target="worksheets/sheet{i + 1}.xml"/>' for i in range(n))
                     + f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
                     + f'<Relationship Id="rId{n + 2}" Type="{_REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
                     + "</Relationships>")
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", root_rels)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        z.writestr("xl/styles.xml", _STYLES)
        for i, xml_parts in enumerate(sheet_xml):
            with z.open(f"xl/worksheets/sheet{i + 1}.xml", "w", force_zip64=True) as member:
                for part in xml_parts:
                    member.write(part)
        z.writestr("xl/sharedStrings.xml", strings.xml())
    tmp.replace(path)
    return path
