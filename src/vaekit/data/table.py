"""Tables with named numeric and categorical columns and missing cells, read from and written to CSV.

A :class:`Table` keeps every cell as a float: numbers as they are, a categorical cell as the index of its
level (levels sorted), and a missing cell (empty, or ``NaN`` in any case) as NaN. ``columns`` remembers each
column's name, kind, levels and whether it held integers, so the output of an imputation can be written back
with the input's column names, order and types.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.errors import DataError

MISSING = {"", "nan"}
_INTEGER = re.compile(r"^[+-]?\d+$")


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


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING


def _as_number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_rows(path: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a CSV file, every row checked to have the header's width."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}", "give an existing .csv file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read {path} as CSV ({err})", "save it as UTF-8 text with a header row") from None
    rows = [r for r in rows if r]
    if not rows:
        raise DataError(f"{path} is empty", "give a CSV file with a header row and data rows")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise DataError(f"{path} has a header but no data rows", "add data rows")
    if len(set(header)) != len(header) or any(not h for h in header):
        raise DataError(f"{path} has empty or repeated column names in its header", "name every column once")
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{path} line {i} has {len(row)} fields, the header has {len(header)}", "fix that row")
    return header, body


def infer_columns(header: Sequence[str], rows: Sequence[Sequence[str]], where: str = "the table") -> tuple[Column, ...]:
    """A column is numeric when every present cell is a number, else categorical (text levels)."""
    columns = []
    for j, name in enumerate(header):
        present = [r[j].strip() for r in rows if not _is_missing(r[j])]
        if not present:
            raise DataError(f"column {name!r} of {where} has no observed value", "drop the column or fill some cells")
        numbers = [_as_number(c) for c in present]
        if all(v is not None for v in numbers):
            columns.append(Column(name, "numeric", integer=all(_INTEGER.match(c) for c in present)))
        else:
            columns.append(Column(name, "categorical", levels=tuple(sorted(set(present)))))
    return tuple(columns)


def encode_rows(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], where: str = "the table", first_line: int = 2
) -> np.ndarray:
    """Cells to an ``(N, D)`` float64 array under ``columns``; text in a numeric column, inf, or an unknown level
    is an error naming its line and column."""
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
                        f"{where} line {first_line + i}, column {column.name!r}: {cell!r} is not a number",
                        "numeric columns need numbers; leave a cell empty if it is missing",
                    )
                if not math.isfinite(value):
                    raise DataError(
                        f"{where} line {first_line + i}, column {column.name!r}: {cell!r} is not finite",
                        "leave a cell empty if it is missing",
                    )
                out[i, j] = value
            else:
                if cell not in codes[j]:
                    raise DataError(
                        f"{where} line {first_line + i}, column {column.name!r}: unknown level {cell!r}",
                        f"the model knows {', '.join(column.levels)}",
                    )
                out[i, j] = codes[j][cell]
    return out


def read_table(path: str | os.PathLike, columns: Sequence[Column] | None = None) -> Table:
    """Read a CSV with a header row into a :class:`Table`; with ``columns``, check and encode it under them."""
    header, rows = read_rows(path)
    where = str(path)
    if columns is None:
        columns = infer_columns(header, rows, where)
    elif header != [c.name for c in columns]:
        raise DataError(
            f"{where} has columns {header}, expected {[c.name for c in columns]}", "give a table like the training one"
        )
    return Table(tuple(columns), encode_rows(columns, rows, where))


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
    """CSV text of ``values`` under ``columns``, optionally after leading columns ``(name, values)``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _ in lead] + [c.name for c in columns])
    for i, row in enumerate(values):
        writer.writerow([vals[i] for _, vals in lead] + [format_cell(v, c) for v, c in zip(row, columns, strict=True)])
    return buffer.getvalue()


def read_features(
    path: str | os.PathLike, *, label_column: str | None = None, drop: Sequence[str] = ()
) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """Numeric features from ``.csv`` (header row), ``.npy`` or ``.npz``: ``(x (N, ...), names, labels)``.

    ``label_column`` (CSV) is taken out of the features and returned as labels; ``drop`` names other CSV columns
    to leave out. An ``.npz`` with a ``y`` array gives its labels too. NaN, inf and text are errors.
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
    header, rows = read_rows(path)
    for name in [*drop, *([label_column] if label_column else [])]:
        if name not in header:
            raise DataError(f"{path} has no column {name!r}", f"its columns are {', '.join(header)}")
    keep = [j for j, h in enumerate(header) if h not in drop and h != label_column]
    if not keep:
        raise DataError(f"{path} has no feature columns left", "drop fewer columns")
    columns = [Column(header[j], "numeric") for j in keep]
    x = encode_rows(columns, [[r[j] for j in keep] for r in rows], str(path))
    missing = np.isnan(x)
    if missing.any():
        i, j = np.argwhere(missing)[0]
        raise DataError(f"{path} line {i + 2}, column {header[keep[j]]!r} is empty", "fill every cell")
    labels = None
    if label_column is not None:
        at = header.index(label_column)
        labels = encode_rows([Column(label_column, "numeric")], [[r[at]] for r in rows], str(path))
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
        lines = [line.strip().split(",")[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
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
