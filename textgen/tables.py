"""CSV files as corpora: the columns of a table, and one column's cells as text.

Whether the first row names the columns is decided from the rows themselves, so a
table without a header keeps its first row.
"""

from __future__ import annotations

import csv
import io
import re

from textgen.encodings import decode_bytes, normalize_newlines
from textgen.errors import TextgenError

# A header cell names a column: short, not a number, not a sentence.
_HEADER_CELL_MAX_CHARS = 40
_SENTENCE_END = tuple(".!?。！？…")
_SNIFF_ROWS = 50


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return False
    return True


def _name_like(cells: list[str]) -> bool:
    """Whether a row could be a row of column names."""
    named = [c.strip() for c in cells if c.strip()]
    return bool(named) and len(set(named)) == len(named) and all(
        len(c) <= _HEADER_CELL_MAX_CHARS and not _is_number(c) and not c.endswith(_SENTENCE_END)
        for c in named)


def _column_tells_header(first: str, rest: list[str]) -> bool:
    """A column whose first cell differs in kind from the cells below it: a name above
    numbers, or a short name above much longer text."""
    cells = [c.strip() for c in rest if c.strip()]
    if not first.strip() or not cells:
        return False
    if all(_is_number(c) for c in cells):
        return True
    lengths = sorted(len(c) for c in cells)
    return lengths[len(lengths) // 2] >= 3 * len(first.strip())


def _has_header(text: str, separator: str) -> bool:
    """Whether the first row of a table names its columns (else it is the first row of data).

    A header row is taken to hold short, distinct names, none of them a number or a
    sentence, and to stand out from the rows below it (csv.Sniffer's test, or a name
    above a column of numbers or of much longer text). A table of one row is all data.
    """
    rows = []
    try:
        for row in csv.reader(io.StringIO(text[:65536]), delimiter=separator):
            rows.append(row)
            if len(rows) > _SNIFF_ROWS:
                break
    except csv.Error:
        return True
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2 or not _name_like(rows[0]):
        return False
    first, rest = rows[0], rows[1:]
    if any(_column_tells_header(cell, [row[i] for row in rest if i < len(row)])
           for i, cell in enumerate(first)):
        return True
    try:
        return csv.Sniffer().has_header(text[:65536])
    except csv.Error:
        return False


def _read_csv(data: bytes, name: str):
    import pandas as pd  # imported here: only CSV uploads need it

    text, _ = decode_bytes(data, name=name)
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
        separator = dialect.delimiter
    except csv.Error:
        separator = ","
    header = _has_header(text, separator)
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, header=0 if header else None,
                            keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error):
        raise TextgenError(
            "{name} could not be read as a table. Check that it is a CSV file, "
            "or upload it as plain text instead.", name=name,
        ) from None
    if table.columns.empty:
        raise TextgenError("{name} has no columns. Check that it is a CSV file.", name=name)
    # Columns the file leaves unnamed are numbered as people count them.
    table.columns = [str(column) if header and not re.fullmatch(r"Unnamed: \d+", str(column))
                     else f"Column {i + 1}" for i, column in enumerate(table.columns)]
    return table


def csv_columns(data: bytes, name: str = "the CSV file") -> list[str]:
    """Column names of a CSV file, in file order."""
    return list(_read_csv(data, name).columns)


def csv_text(data: bytes, column: str, name: str = "the CSV file") -> str:
    """The cells of one column, one per line; empty cells are skipped."""
    table = _read_csv(data, name)
    if column not in table.columns:
        available = ", ".join(f'"{c}"' for c in table.columns)
        raise TextgenError('{name} has no column "{column}". Choose one of: {available}.',
                           name=name, column=column, available=available)
    cells = [normalize_newlines(cell) for cell in table[column].dropna().tolist() if cell.strip()]
    if not cells:
        raise TextgenError('The column "{column}" in {name} is empty. Choose a column with text.',
                           column=column, name=name)
    return "\n".join(cells)
