"""The IDX format of MNIST and Fashion-MNIST (LeCun et al. 1998)."""

from __future__ import annotations

import math

import numpy as np

from vaekit.errors import DataError

_UBYTE = 0x08


def parse_idx(raw: bytes, *, ndim: int, what: str) -> np.ndarray:
    """Decode an IDX file of unsigned bytes with ``ndim`` dimensions.

    Layout: magic ``00 00 08 ndim``, then ``ndim`` big-endian uint32 sizes, then the bytes in C order.
    The magic number, the dimension count and the exact length are checked.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{what} is not an IDX file (bad magic number)", "delete it so it is fetched again")
    if raw[2] != _UBYTE or raw[3] != ndim:
        raise DataError(
            f"{what} has IDX type 0x{raw[2]:02x} with {raw[3]} dimensions, expected ubyte with {ndim}",
            "is it the right file?",
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{what} is truncated (incomplete IDX header)", "delete it so it is fetched again")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{what} is {state}: {len(raw)} bytes, the header {tuple(dims)} needs {expected}",
            "delete it so it is fetched again",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (the inverse of :func:`parse_idx`; used to build test fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.tobytes()
