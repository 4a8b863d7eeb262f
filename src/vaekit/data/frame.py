"""pandas DataFrames in and out of the table estimators: numeric, boolean and categorical columns.

A :class:`FrameColumns` is learned from the training frame (``fit``): each column's kind, the caller's dtype
and, for a categorical column (``category``, ``object`` or ``string`` dtype, and booleans for the imputer), its
levels. ``codes`` turns a frame into the float64 matrix the models take (numbers as they are, booleans 0/1,
levels as codes 0..K-1, NaN where missing); ``frame`` turns such a matrix back into the caller's dtypes and
column order. pandas itself is optional: nothing here imports it unless a DataFrame was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vaekit.errors import DataError


def is_frame(x: Any) -> bool:
    """Whether ``x`` is a pandas DataFrame (without importing pandas)."""
    return type(x).__module__.startswith("pandas") and hasattr(x, "columns") and hasattr(x, "dtypes")


def _kind(dtype: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
        return "category"
    if pd.api.types.is_string_dtype(dtype):
        return "category"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_numeric_dtype(dtype):
        return "float"
    raise DataError(f"cannot use a column of dtype {dtype}", "give numeric, boolean or categorical columns")


def _levels(column: Any) -> list[Any]:
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        return list(column.dtype.categories)
    values = column.dropna().unique().tolist()
    try:
        return sorted(values)
    except TypeError:  # mixed types: an order that is stable across runs
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


@dataclass(frozen=True)
class FrameColumns:
    """The columns of a training DataFrame: ``names``, ``kinds`` (``float``, ``int``, ``bool``, ``category``),
    the caller's ``dtypes``, and the ``levels`` of each categorical column (``None`` for the others)."""

    names: list[str]
    kinds: list[str]
    dtypes: list[Any]
    levels: list[list[Any] | None]

    @classmethod
    def fit(cls, df: Any) -> FrameColumns:
        kinds = [_kind(dtype) for dtype in df.dtypes]
        levels = [_levels(df[c]) if k == "category" else None for c, k in zip(df.columns, kinds, strict=True)]
        empty = [str(c) for c, lv in zip(df.columns, levels, strict=True) if lv is not None and not lv]
        if empty:
            raise DataError(f"categorical column {empty[0]!r} has no observed value", "drop it")
        return cls([str(c) for c in df.columns], kinds, list(df.dtypes), levels)

    @property
    def categorical(self) -> list[int]:
        """Indices of the categorical columns."""
        return [j for j, k in enumerate(self.kinds) if k == "category"]

    def codes(self, df: Any, what: str = "X") -> np.ndarray:
        """``(N, D)`` float64: numbers, booleans as 0/1, levels as codes 0..K-1, NaN where missing.

        A level the training frame did not have is an error naming the column and the value (it would
        otherwise be read as missing, or as another level).
        """
        import pandas as pd

        if [str(c) for c in df.columns] != self.names:
            raise DataError(f"{what} has columns {list(df.columns)}, expected {self.names}", "use the training columns")
        out = np.empty((len(df), len(self.names)), dtype=np.float64)
        for j, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            column = df.iloc[:, j]
            if kind == "category":
                levels = self.levels[j]
                codes = pd.Index(levels).get_indexer(column.astype(object)).astype(np.float64)
                unseen = column.notna().to_numpy() & (codes < 0)
                if unseen.any():
                    value = column[unseen].iloc[0]
                    raise DataError(
                        f"column {name!r} of {what} has the level {value!r}, not seen in training",
                        f"known levels: {', '.join(map(str, levels[:10]))}{' ...' if len(levels) > 10 else ''}",
                    )
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                if kind == "bool":
                    values = column.astype("float64")
                else:
                    try:
                        values = pd.to_numeric(column, errors="raise").astype("float64")
                    except (TypeError, ValueError):
                        raise DataError(
                            f"column {name!r} of {what} is not numeric as in training", "give the training dtypes"
                        ) from None
                out[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def frame(self, values: np.ndarray, index: Any = None) -> Any:
        """A DataFrame of ``values`` (codes as from :meth:`codes`, all observed) in the caller's dtypes."""
        import pandas as pd

        columns = {}
        for j, (name, kind, dtype) in enumerate(zip(self.names, self.kinds, self.dtypes, strict=True)):
            v = values[:, j]
            if kind == "category":
                levels = self.levels[j]
                cat = pd.Categorical.from_codes(np.rint(v).astype(np.int64), categories=levels)
                columns[name] = (
                    pd.Series(cat, index=index)
                    if isinstance(dtype, pd.CategoricalDtype)
                    else pd.Series(np.asarray(cat, dtype=object), index=index).astype(dtype)
                )
            elif kind == "bool":
                columns[name] = pd.Series(np.rint(v) > 0.5, index=index).astype(dtype)
            elif kind == "int":
                columns[name] = pd.Series(np.rint(v), index=index).astype(dtype)
            else:
                columns[name] = pd.Series(v, index=index).astype(dtype)
        return pd.DataFrame(columns, index=index)

    def one_hot(self, codes: np.ndarray) -> tuple[np.ndarray, list[str], list[int]]:
        """Categorical columns of ``codes`` as one indicator column per level: the matrix, its column names
        (``name=level``) and, per new column, the index of the original column it came from."""
        parts, names, groups = [], [], []
        for j, name in enumerate(self.names):
            if self.levels[j] is None:
                parts.append(codes[:, j : j + 1])
                names.append(name)
                groups.append(j)
                continue
            levels = self.levels[j]
            parts.append((codes[:, j : j + 1] == np.arange(len(levels))).astype(np.float64))
            names += [f"{name}={level}" for level in levels]
            groups += [j] * len(levels)
        return np.hstack(parts), names, groups


def group_sum(values: np.ndarray, groups: Sequence[int], n: int) -> np.ndarray:
    """``values`` ``(N, M)`` summed over the columns of each group: ``(N, n)``."""
    out = np.zeros((len(values), n))
    np.add.at(out.T, np.asarray(groups), values.T)
    return out
