"""Tables with named numeric and categorical columns and missing cells, read from and written to CSV.

A :class:`Table` keeps every cell as a float: numbers as they are, a categorical cell as the index of its
level (levels sorted), and a missing cell as NaN. ``columns`` remembers each column's name, kind, levels and
whether it held integers, so the output of an imputation can be written back with the input's column names,
order and types.

Reading is strict where guessing would give a silently wrong table, and says what it decided:

- the file is UTF-8, with or without a byte-order mark;
- the separator (``,`` ``;`` tab ``|``) is the one that gives every row the header's width, and in a file
  not separated by ``,`` a decimal comma (``1,5``) is recognised when no cell uses a decimal point (or both
  are given: ``sep``, ``decimal``);
- the missing-value spellings that pandas recognises by default (empty, ``NA``, ``N/A``, ``NaN``, ``null``,
  ``None``, ``#N/A``, ...) and ``?`` are missing, in any case; how many cells of each spelling were read as
  missing is logged;
- a column is numeric when all its present cells are numbers, text (categorical) when at most half of them
  are; a column of mostly numbers with a few text cells is an error that names those cells;
- a number must be finite: ``inf`` or ``1e999`` is an error that names the cell.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.errors import DataError, OptionError

log = logging.getLogger(__name__)

# pandas' default missing-value spellings (read_csv's na_values) and the "?" of many UCI data sets, compared
# without case
MISSING = frozenset(
    s.lower()
    for s in (
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
        "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "?",
    )
)  # fmt: skip
SEPARATORS = (",", ";", "\t", "|")
DECIMALS = (".", ",")
_INTEGER = re.compile(r"^[+-]?\d+$")
_COMMA_NUMBER = re.compile(r"^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$")
_POINT_NUMBER = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$")
_SNIFF_ROWS = 200
_SHOWN_CELLS = 3


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` is ``"numeric"`` or ``"categorical"`` (its ``levels`` in code order)."""

    name: str
    kind: str
    levels: tuple[str, ...] = ()
    integer: bool = False

    @property
    def n_levels(self) -> int:
        """Levels the model gives this column: 0 if numeric; at least 2 (a one-level column gets a spare)."""
        return 0 if self.kind == "numeric" else max(2, len(self.levels))


@dataclass(frozen=True)
class Table:
    """``values`` ``(N, D)`` float64 (NaN = missing; categorical cells hold level indices) and their ``columns``."""

    columns: tuple[Column, ...]
    values: np.ndarray

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def categories(self) -> tuple[int, ...]:
        """Per column: 0 if numeric, else its number of levels (what a mixed likelihood needs)."""
        return tuple(c.n_levels for c in self.columns)

    @property
    def categorical_indices(self) -> list[int]:
        return [j for j, c in enumerate(self.columns) if c.kind == "categorical"]


@dataclass(frozen=True)
class Cells:
    """The text of a CSV file: ``header``, data ``rows`` (numbers already with a decimal point), the file
    ``lines`` each row starts on, and the separator and decimal mark it was read with."""

    where: str
    header: list[str]
    rows: list[list[str]]
    lines: list[int]
    sep: str = ","
    decimal: str = "."

    def missing_spellings(self, columns: Sequence[int] | None = None) -> Counter:
        """How many cells (of ``columns``, default all) were read as missing, per spelling."""
        keep = range(len(self.header)) if columns is None else columns
        return Counter(row[j].strip() for row in self.rows for j in keep if _is_missing(row[j]))


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING


def _as_number(cell: str) -> float | None:
    if "_" in cell:  # float() reads "1_000"; a table cell like that is text
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _shown_spelling(spelling: str) -> str:
    return "empty" if spelling == "" else repr(spelling)


def log_missing(cells: Cells, columns: Sequence[int] | None = None) -> None:
    """Say which spellings were read as missing and in how many cells (a warning for any but empty or NaN)."""
    counts = cells.missing_spellings(columns)
    if not counts:
        return
    shown = ", ".join(f"{_shown_spelling(s)} x{n}" for s, n in counts.most_common())
    plain = all(s.lower() in ("", "nan") for s in counts)
    log.log(
        logging.INFO if plain else logging.WARNING,
        "%s: %d cell%s read as missing (%s)",
        cells.where,
        sum(counts.values()),
        "" if sum(counts.values()) == 1 else "s",
        shown,
    )


def check_sep_decimal(sep: str | None, decimal: str | None) -> tuple[str | None, str | None]:
    """``sep`` and ``decimal`` as given by a user (``\\t`` or ``tab`` for a tab), checked."""
    if sep is not None:
        sep = {"tab": "\t", "\\t": "\t"}.get(sep.lower(), sep)
        if len(sep) != 1 or sep in '"\r\n' or sep.isalnum():
            raise OptionError(f"the separator must be one character such as , ; | or tab, got {sep!r}")
    if decimal is not None and decimal not in DECIMALS:
        raise OptionError(f"the decimal mark must be . or , (got {decimal!r})")
    if sep is not None and sep == decimal:
        raise OptionError(f"the separator and the decimal mark are both {sep!r}", "give --sep ; with --decimal ,")
    return sep, decimal


def _parsed(text: str, sep: str) -> tuple[list[list[str]], list[int]]:
    """Non-empty rows of ``text`` split at ``sep`` and the line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows, lines, after = [], [], 0
    for row in reader:
        if row:
            rows.append(row)
            lines.append(after + 1)
        after = reader.line_num
    return rows, lines


def _detect_separator(text: str) -> str:
    """The separator that gives the first rows all the header's width, more than one column, the widest such
    one (``,`` on a tie); ``,`` when none does (the width check then names the first bad row)."""
    best, best_width = ",", 1
    for sep in SEPARATORS:
        try:
            sample = [
                r for r in itertools.islice(csv.reader(io.StringIO(text, newline=""), delimiter=sep), _SNIFF_ROWS) if r
            ]
        except csv.Error:
            continue
        widths = {len(r) for r in sample}
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = sep, width
    return best


def _detect_decimal(rows: Sequence[Sequence[str]]) -> str:
    """``,`` when some cells are numbers with a decimal comma and none has a decimal point, else ``.``."""
    comma = point = False
    for row in rows:
        for cell in row:
            cell = cell.strip()
            comma = comma or bool(_COMMA_NUMBER.match(cell))
            point = point or bool(_POINT_NUMBER.match(cell))
    return "," if comma and not point else "."


def read_cells(path: str | os.PathLike, *, sep: str | None = None, decimal: str | None = None) -> Cells:
    """The header and rows of a CSV file, every row checked to have the header's width (see the module)."""
    sep, decimal = check_sep_decimal(sep, decimal)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}", "give an existing .csv file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first column's name
    except UnicodeDecodeError as err:
        raise DataError(f"cannot read {path} as CSV ({err})", "save it as UTF-8 text with a header row") from None
    given_sep = sep is not None
    sep = sep if given_sep else _detect_separator(text)
    try:
        rows, lines = _parsed(text, sep)
    except csv.Error as err:
        raise DataError(f"cannot read {path} as CSV ({err})", "save it as UTF-8 text with a header row") from None
    if not rows:
        raise DataError(f"{path} is empty", "give a CSV file with a header row and data rows")
    header, body, lines = [h.strip() for h in rows[0]], rows[1:], lines[1:]
    if not body:
        raise DataError(f"{path} has a header but no data rows", "add data rows")
    others = [s for s in SEPARATORS if s != sep and s in header[0]]
    if len(header) == 1 and others:
        raise DataError(
            f"{path} read with separator {sep!r} has one column, named {header[0]!r}",
            f"is the separator {others[0]!r}? give it with --sep" if given_sep else "give the separator with --sep",
        )
    if len(set(header)) != len(header) or any(not h for h in header):
        raise DataError(f"{path} has empty or repeated column names in its header", "name every column once")
    for row, line in zip(body, lines, strict=True):
        if len(row) != len(header):
            hint = "fix that row" if given_sep else "fix that row, or give the separator with --sep"
            raise DataError(f"{path} line {line} has {len(row)} fields, the header has {len(header)}", hint)
    given_decimal = decimal is not None
    # with , between cells a quoted "1,000" is more likely a thousands separator: a decimal comma is given there
    decimal = decimal if given_decimal else "." if sep == "," else _detect_decimal(body)
    if decimal == ",":
        body = [[c.strip().replace(",", ".") if _COMMA_NUMBER.match(c.strip()) else c for c in row] for row in body]
    if (sep, decimal) != (",", ".") and not (given_sep and given_decimal):
        mark = "a decimal comma" if decimal == "," else "a decimal point"
        log.info("%s: read with separator %r and %s", path, sep, mark)
    return Cells(str(path), header, body, lines, sep, decimal)


def _shown_cells(cells: Sequence[tuple[int, str]]) -> str:
    shown = ", ".join(f"line {line} {value!r}" for line, value in cells[:_SHOWN_CELLS])
    return shown + (f" and {len(cells) - _SHOWN_CELLS} more" if len(cells) > _SHOWN_CELLS else "")


def infer_columns(
    header: Sequence[str], rows: Sequence[Sequence[str]], where: str = "the table", lines: Sequence[int] | None = None
) -> tuple[Column, ...]:
    """A column is numeric when every present cell is a number, categorical (text levels) when at most half are;
    a column of mostly numbers with some text is an error naming those cells (``lines``: each row's line)."""
    lines = list(lines) if lines is not None else list(range(2, len(rows) + 2))
    columns = []
    for j, name in enumerate(header):
        present = [(line, r[j].strip()) for r, line in zip(rows, lines, strict=True) if not _is_missing(r[j])]
        if not present:
            raise DataError(f"column {name!r} of {where} has no observed value", "drop the column or fill some cells")
        text = [(line, cell) for line, cell in present if _as_number(cell) is None]
        if not text:
            columns.append(Column(name, "numeric", integer=all(_INTEGER.match(c) for _, c in present)))
            continue
        commas = sum(1 for _, cell in text if _COMMA_NUMBER.match(cell))  # numbers in another notation
        if len(text) - commas < len(present) / 2:
            raise DataError(
                f"column {name!r} of {where} holds numbers but {len(text)} of its cells are not: {_shown_cells(text)}",
                "correct those cells, or leave them empty if they are missing (NA and ? are read as missing too); "
                "--sep and --decimal say how the numbers are written",
            )
        levels = tuple(sorted({cell for _, cell in present}))
        log.info(
            "%s: column %r read as text categories (%d levels: %s%s)",
            where,
            name,
            len(levels),
            ", ".join(levels[:5]),
            ", ..." if len(levels) > 5 else "",
        )
        columns.append(Column(name, "categorical", levels=levels))
    return tuple(columns)


def encode_rows(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    where: str = "the table",
    lines: Sequence[int] | None = None,
) -> np.ndarray:
    """Cells to an ``(N, D)`` float64 array under ``columns``; text in a numeric column, inf, or an unknown level
    is an error naming its line (``lines``: each row's line in the file) and column."""
    lines = list(lines) if lines is not None else list(range(2, len(rows) + 2))
    out = np.full((len(rows), len(columns)), np.nan)
    codes = [{level: i for i, level in enumerate(c.levels)} for c in columns]
    for i, row in enumerate(rows):
        for j, (cell, column) in enumerate(zip(row, columns, strict=True)):
            if _is_missing(cell):
                continue
            cell = cell.strip()
            if column.kind == "numeric":
                value = _as_number(cell)
                if value is None:
                    raise DataError(
                        f"{where} line {lines[i]}, column {column.name!r}: {cell!r} is not a number",
                        "numeric columns need numbers; leave a cell empty if it is missing",
                    )
                if not math.isfinite(value):
                    raise DataError(
                        f"{where} line {lines[i]}, column {column.name!r}: {cell!r} is not finite",
                        "numbers must lie within +-1.8e308; leave a cell empty if it is missing",
                    )
                out[i, j] = value
            else:
                if cell not in codes[j]:
                    raise DataError(
                        f"{where} line {lines[i]}, column {column.name!r}: unknown level {cell!r}",
                        f"the model knows {', '.join(column.levels)}",
                    )
                out[i, j] = codes[j][cell]
    return out


def read_table(
    path: str | os.PathLike,
    columns: Sequence[Column] | None = None,
    *,
    sep: str | None = None,
    decimal: str | None = None,
) -> Table:
    """Read a CSV with a header row into a :class:`Table` (see the module for how cells are read); with
    ``columns``, check and encode it under them. ``sep`` and ``decimal`` are detected unless given."""
    cells = read_cells(path, sep=sep, decimal=decimal)
    where = cells.where
    if columns is None:
        columns = infer_columns(cells.header, cells.rows, where, cells.lines)
    elif cells.header != [c.name for c in columns]:
        raise DataError(
            f"{where} has columns {cells.header}, expected {[c.name for c in columns]}",
            "give a table like the training one",
        )
    table = Table(tuple(columns), encode_rows(columns, cells.rows, where, cells.lines))
    log_missing(cells)
    return table


def format_cell(value: float, column: Column) -> str:
    """A cell as text: a level name, an integer, a number, or empty if missing."""
    if math.isnan(value):
        return ""
    if column.kind == "categorical":
        return column.levels[min(int(round(value)), len(column.levels) - 1)]
    if column.integer:
        return str(int(round(value)))
    return repr(float(value))


def format_table(columns: Sequence[Column], values: np.ndarray, lead: Sequence[tuple[str, Sequence]] = ()) -> str:
    """CSV text of ``values`` under ``columns``, optionally after leading columns ``(name, values)``; an infinite
    value is an error naming its row and column (NaN is written as an empty cell)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isinf(values).any():
        i, j = np.argwhere(np.isinf(values))[0]
        raise DataError(
            f"row {i} of column {columns[j].name!r} came out as {values[i, j]}, which cannot be written",
            "the column's values reach the limit of float64 (+-1.8e308); rescale it",
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _ in lead] + [c.name for c in columns])
    for i, row in enumerate(values):
        writer.writerow([vals[i] for _, vals in lead] + [format_cell(v, c) for v, c in zip(row, columns, strict=True)])
    return buffer.getvalue()


def _check_numbers(cells: Cells, keep: Sequence[int]) -> None:
    """Every present cell of the ``keep`` columns is a number: else an error naming a few of the others."""
    for j in keep:
        name = cells.header[j]
        present = [
            (line, r[j].strip()) for r, line in zip(cells.rows, cells.lines, strict=True) if not _is_missing(r[j])
        ]
        text = [(line, cell) for line, cell in present if _as_number(cell) is None]
        if not text:
            continue
        if len(text) == 1:
            line, cell = text[0]
            raise DataError(
                f"{cells.where} line {line}, column {name!r}: {cell!r} is not a number",
                "features must be numbers; --sep and --decimal say how they are written",
            )
        if len(text) >= len(present) / 2:
            raise DataError(
                f"column {name!r} of {cells.where} holds text ({_shown_cells(text)})",
                f"features must be numbers: leave it out with --drop {name}",
            )
        shown = _shown_cells(text)
        raise DataError(
            f"column {name!r} of {cells.where} holds numbers but {len(text)} of its cells are not: {shown}",
            "correct those cells; --sep and --decimal say how the numbers are written",
        )


def read_features(
    path: str | os.PathLike,
    *,
    label_column: str | None = None,
    drop: Sequence[str] = (),
    sep: str | None = None,
    decimal: str | None = None,
) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """Numeric features from ``.csv`` (header row), ``.npy`` or ``.npz``: ``(x (N, ...), names, labels)``.

    ``label_column`` (CSV) is taken out of the features and returned as labels; ``drop`` names other CSV columns
    to leave out. An ``.npz`` with a ``y`` array gives its labels too. Missing cells (any spelling the module
    lists), inf and text are errors that name a cell. A CSV's ``sep`` and ``decimal`` are detected unless given.
    """
    path = Path(path)
    if path.suffix.lower() != ".csv":
        from vaekit.data.files import load_file

        if path.suffix.lower() not in (".npy", ".npz"):
            raise DataError(f"cannot read {path.name}", "use .csv (with a header row), .npy or .npz")
        dataset = load_file(path)
        labels = dataset.labels.get("train")
        if label_column is not None or drop:
            raise DataError("columns can be named only in a .csv file", "give labels as a file")
        return dataset.splits["train"].numpy().astype(np.float64), None, None if labels is None else labels.numpy()
    cells = read_cells(path, sep=sep, decimal=decimal)
    header, rows, lines = cells.header, cells.rows, cells.lines
    for name in [*drop, *([label_column] if label_column else [])]:
        if name not in header:
            raise DataError(f"{path} has no column {name!r}", f"its columns are {', '.join(header)}")
    keep = [j for j, h in enumerate(header) if h not in drop and h != label_column]
    if not keep:
        raise DataError(f"{path} has no feature columns left", "drop fewer columns")
    _check_numbers(cells, keep)
    columns = [Column(header[j], "numeric") for j in keep]
    x = encode_rows(columns, [[r[j] for j in keep] for r in rows], str(path), lines)
    missing = np.isnan(x)
    if missing.any():
        i, j = np.argwhere(missing)[0]
        spelling = rows[i][keep[j]].strip()
        read_as = "" if spelling == "" else f" ({spelling!r} reads as missing)"
        others = int(missing.sum()) - 1
        more = f"; {others} more cells are missing" if others else ""
        raise DataError(
            f"{path} line {lines[i]}, column {header[keep[j]]!r} is empty{read_as}{more}", "fill every cell"
        )
    labels = None
    if label_column is not None:
        at = header.index(label_column)
        labels = encode_rows([Column(label_column, "numeric")], [[r[at]] for r in rows], str(path), lines)
        if np.isnan(labels).any():
            raise DataError(f"{path}: the label column {label_column!r} has empty cells", "label every row")
        labels = labels[:, 0]
    return x, [header[j] for j in keep], labels


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Labels from a ``.npy`` file, or a ``.csv``/``.txt`` file with one number per line (a header line is fine)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64).reshape(-1)
        except (ValueError, OSError) as err:
            raise DataError(f"cannot read labels from {path} ({err})", "give a .npy, .csv or .txt file") from None
    try:
        lines = [
            line.strip().split(",")[0] for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()
        ]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read labels from {path} ({err})", "give a .npy, .csv or .txt file") from None
    if lines and _as_number(lines[0]) is None:
        lines = lines[1:]  # a header
    values = [_as_number(v) for v in lines]
    if not values or any(v is None for v in values):
        raise DataError(f"{path} does not hold one number per line", "give 0 (normal) or 1 (anomaly) per row")
    return np.asarray(values, dtype=np.float64)


def table_from_array(x: np.ndarray, prefix: str = "x") -> Table:
    """A numeric table from an array ``(N, ...)``: each example flattened into columns ``x0, x1, ...``."""
    values = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return Table(tuple(Column(f"{prefix}{j}", "numeric") for j in range(values.shape[1])), values)
