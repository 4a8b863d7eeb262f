"""The in-memory data set record every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vaekit.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Named splits of float32 tensors shaped ``(N, *x_shape)``, with optional integer labels per split.

    Images are ``(N, C, H, W)`` with values in [0, 1]; tables are ``(N, D)``. Registered data sets carry their
    standard splits (``train``, ``test``, and ``val`` where the benchmark fixes one; an outside test set such as
    ``oneills`` only ``test``); a file is one ``train`` split. Data generated from known factors (``shapes``) also
    carries ``factors``: per split an integer tensor ``(N, n_factors)`` of factor indices, named by
    ``factor_names``. A loader that knows what kind of data it returns names its ``modality`` (see
    :mod:`vaekit.modalities`).
    """

    name: str
    splits: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    factors: dict[str, torch.Tensor] = field(default_factory=dict)
    factor_names: tuple[str, ...] = ()
    modality: str | None = None  # the kind of data, where the loader knows it (else recognised by shape)

    @property
    def x_shape(self) -> tuple[int, ...]:
        x = self.splits["train"] if "train" in self.splits else next(iter(self.splits.values()))
        return tuple(x.shape[1:])

    def split(self, name: str) -> torch.Tensor:
        """The named split; a single-split (file) data set answers every name with all its rows."""
        if name in self.splits:
            return self.splits[name]
        if list(self.splits) == ["train"]:
            return self.splits["train"]
        raise DataError(f"data set {self.name!r} has no {name!r} split", f"choose one of {', '.join(self.splits)}")


def as_examples(array: np.ndarray, what: str, *, allow_missing: bool = False) -> torch.Tensor:
    """Validate and convert an array to float32 examples: tables ``(N, D)`` or images ``(N, C, H, W)``.

    ``(N, H, W)`` gains a channel axis; ``(N, H, W, C)`` with C in {1, 3, 4} is moved to channels-first;
    ``uint8`` is scaled to [0, 1]. NaN (unless ``allow_missing``: NaN marks a missing entry), inf, text and
    empty arrays are errors.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} holds {array.dtype} values, not numbers", "give numeric data")
    if array.ndim < 2 or len(array) == 0:
        raise DataError(
            f"{what} has shape {array.shape}", "need rows of features (N, D) or images (N, H, W) / (N, C, H, W)"
        )
    if array.ndim > 4:
        raise DataError(f"{what} has {array.ndim} dimensions {array.shape}", "need (N, D), (N, H, W) or (N, C, H, W)")
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3, 4) and array.shape[1] not in (1, 3, 4):
        array = np.moveaxis(array, -1, 1)
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if scale != 1.0:
        x /= scale
    bad_values = torch.isinf(x) if allow_missing else ~torch.isfinite(x)
    if bad_values.any():
        bad = int(bad_values.flatten(1).any(1).nonzero()[0])
        raise DataError(f"{what} contains NaN or inf (first in row {bad})", "remove or fill those values")
    return x


def as_labels(array: np.ndarray | None) -> torch.Tensor | None:
    return None if array is None else torch.as_tensor(np.asarray(array).reshape(-1).astype(np.int64))


_SPLIT_SEED_OFFSET = {"val": 2, "test": 3}


def held_out_binarization(x: torch.Tensor, seed: int, split: str) -> torch.Tensor:
    """One Bernoulli draw per pixel, seeded by the run's seed and the split's name.

    A run trained with dynamic binarization sees fixed draws of its held-out splits, so their losses compare
    across epochs, and ``vaekit evaluate`` scores exactly the same draws.
    """
    offset = _SPLIT_SEED_OFFSET.get(split, 4)
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed + offset))
