"""The ``.amat`` text format of the fixed binarized MNIST (Larochelle & Murray 2011)."""

from __future__ import annotations

import numpy as np

from vaekit.errors import DataError


def parse_amat(raw: bytes, *, n_cols: int = 784, what: str = "amat file") -> np.ndarray:
    """Decode lines of ``n_cols`` space-separated 0/1 digits into a ``(rows, n_cols)`` uint8 array.

    Each line is exactly ``2 * n_cols`` bytes (digit, separator, ..., digit, newline), which lets the whole
    file be read as one strided view instead of parsed number by number.
    """
    width = 2 * n_cols
    if len(raw) == 0 or len(raw) % width:
        raise DataError(f"{what} is not {n_cols} binary values per line", "delete it so it is fetched again")
    lines = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)
    digits = lines[:, 0::2] - ord("0")
    seps = lines[:, 1::2]
    if digits.max() > 1 or (seps[:, :-1] != ord(" ")).any() or (seps[:, -1] != ord("\n")).any():
        raise DataError(f"{what} holds values other than 0/1 or is malformed", "delete it so it is fetched again")
    return digits
