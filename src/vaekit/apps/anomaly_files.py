"""The files of ``vaekit anomaly fit`` and ``vaekit anomaly score``: rows from a table or a data set in, a
detector's run folder and a ``scores.csv`` out (the detector itself: :mod:`vaekit.apps.anomaly`)."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.apps.anomaly import IMAGE_DEFAULTS, Detector, fit_detector, label_metrics, load_detector
from vaekit.apps.fit import TrainResult
from vaekit.apps.generation import check_output
from vaekit.data.registry import dataset_names, load_dataset
from vaekit.data.table import read_features, read_labels
from vaekit.errors import DataError, OptionError
from vaekit.utils import atomic_write_text

log = logging.getLogger(__name__)

FILE_SUFFIXES = (".csv", ".npy", ".npz")


@dataclass(frozen=True)
class Rows:
    """Feature rows ``x`` ``(N, features)`` float64, with the CSV's column ``names`` (else None), ``labels``
    ``(N,)`` where the source has them, and ``image_shape`` ``(C, H, W)`` when the rows are flattened images."""

    x: np.ndarray
    names: list[str] | None = None
    labels: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None


def load_rows(
    data: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    label_column: str | None = None,
    drop: Sequence[str] = (),
    sep: str | None = None,
    decimal: str | None = None,
) -> Rows:
    """The rows of a ``.csv`` (header row), ``.npy`` or ``.npz`` file, or of a registered (image) data set's
    ``split`` (its images flattened; labels of that split, else of ``train``). ``label_column`` and ``drop``
    name CSV columns to take out as labels or leave out; a CSV's separator and decimal mark are detected
    unless ``sep`` and ``decimal`` are given (see :mod:`vaekit.data.table`)."""
    if Path(data).suffix.lower() in FILE_SUFFIXES:
        x, names, labels = read_features(data, label_column=label_column, drop=drop, sep=sep, decimal=decimal)
        return Rows(x, names, labels)
    if str(data) not in dataset_names():
        raise DataError(f"cannot read {str(data)!r}", "give a .csv, .npy or .npz file or a registered data set")
    dataset = load_dataset(str(data), data_dir)
    x = dataset.split(split)
    labels = dataset.labels.get(split if split in dataset.splits else "train")
    return Rows(x.flatten(1).numpy().astype("float64"), None, labels, tuple(x.shape[1:]))


def detector_options(image_shape: Sequence[int] | None, given: dict[str, Any]) -> dict[str, Any]:
    """``fit_detector`` keywords for rows of ``image_shape`` (None: a table): :data:`IMAGE_DEFAULTS` under the
    ``given`` ones for images; for tables, ``given`` alone (``fit_detector``'s defaults fill the rest)."""
    if image_shape is None:
        return dict(given)
    under = dict(IMAGE_DEFAULTS)
    if given.get("arch", under["arch"]) != "conv":
        del under["hidden"]  # those are conv channel widths; an MLP keeps fit_detector's
    return {**under, **given, "image_shape": tuple(image_shape)}


@dataclass(frozen=True)
class DetectorFit:
    """What :func:`fit_detector_on` made: the ``detector``, its training ``result`` and the number of ``rows``."""

    detector: Detector
    result: TrainResult
    rows: int

    @property
    def epochs(self) -> int:
        return int(self.result.summary["epochs_run"])

    @property
    def flagged(self) -> int:
        """Training rows above the threshold (scored once, when the threshold was set)."""
        return int(self.detector.extra["flagged_training_rows"])


def fit_detector_on(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    drop: Sequence[str] = (),
    sep: str | None = None,
    decimal: str | None = None,
    **options: Any,
) -> DetectorFit:
    """Fit a detector on a file or registered data set (see :func:`load_rows`) and save it as the run folder
    ``out``. ``options`` are :func:`fit_detector`'s keywords; what is not given takes its defaults, under
    :data:`IMAGE_DEFAULTS` for image data."""
    rows = load_rows(data, data_dir=data_dir, split="train", drop=drop, sep=sep, decimal=decimal)
    if rows.image_shape is not None:
        log.info("%s: training on its train split (%d rows)", data, len(rows.x))
    detector, result = fit_detector(rows.x, columns=rows.names, out=out, **detector_options(rows.image_shape, options))
    return DetectorFit(detector, result, len(rows.x))


@dataclass(frozen=True)
class ScoredFile:
    """What :func:`score_file` wrote: per-row ``scores`` and 0/1 ``flags``, and ``metrics`` against labels."""

    output: Path
    scores: np.ndarray
    flags: np.ndarray
    metrics: dict[str, float] | None = None

    @property
    def flagged(self) -> int:
        return int(self.flags.sum())


def scores_csv(scores: np.ndarray, flags: np.ndarray, top: list[list[tuple[str, float]]] | None = None) -> str:
    """CSV text: a header ``anomaly_score,is_anomaly`` and one row per score (exact float repr); with ``top``
    (per row, ``(feature, share)`` pairs from :meth:`Explanation.top`) also ``feature_1,share_1,...``."""
    if not np.isfinite(scores).all():
        raise DataError("some anomaly scores are not finite", "check the rows for values near the float64 limit")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    n = len(top[0]) if top else 0
    writer.writerow(
        ["anomaly_score", "is_anomaly"] + [f"{c}_{i}" for i in range(1, n + 1) for c in ("feature", "share")]
    )
    for r, (s, f) in enumerate(zip(scores.tolist(), flags.tolist(), strict=True)):
        extra = [v for name, share in top[r] for v in (name, repr(share))] if top else []
        writer.writerow([repr(s), f, *extra])
    return out.getvalue()


def score_file(
    run_dir: str | os.PathLike,
    data: str | os.PathLike,
    output: str | os.PathLike,
    *,
    labels: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    device: str | torch.device = "cpu",
    verify: bool = True,
    sep: str | None = None,
    decimal: str | None = None,
    explain: int = 0,
) -> ScoredFile:
    """Score every row of ``data`` with the detector in ``run_dir`` and write ``output`` (.csv, atomically).

    ``explain = N > 0`` adds each row's N features with the largest shares of its anomaly and those shares
    (:meth:`Detector.explain`) as columns ``feature_1, share_1, ..., feature_N, share_N``.

    ``labels`` is a labels file (.npy/.csv/.txt) or the name of a column of a ``.csv`` ``data`` file (taken
    out of the features); with it, the ROC-AUC and average precision are computed too. A CSV's ``sep`` and
    ``decimal`` are detected unless given. Nothing is written when anything fails.
    ``verify=False`` loads weights that do not match their recorded sha256.
    """
    output = check_output(output, {".csv"})
    if explain < 0:
        raise OptionError(f"--explain must be 0 or more, got {explain}", "give the number of features to name per row")
    detector = load_detector(run_dir, device=device, verify=verify)
    label_file = labels is not None and Path(labels).is_file()
    column = labels if labels is not None and not label_file else None
    if column is not None and Path(data).suffix.lower() != ".csv":
        raise DataError(f"no labels file {labels!r}", "give an existing file, or a column name of a .csv")
    rows = load_rows(data, data_dir=data_dir, split=split, label_column=column, sep=sep, decimal=decimal)
    if detector.columns is not None and rows.names is not None and rows.names != detector.columns:
        raise DataError(
            f"{data} has feature columns {rows.names}, the detector was trained on {detector.columns}",
            "score data with the training columns (name the label column with --labels)",
        )
    if explain:
        scores, terms = detector.scores_and_terms(rows.x, str(data))
        top = detector.explanation(terms).top(min(explain, detector.n_features))
    else:
        scores, top = detector.scores(rows.x, str(data)), None
    flags = detector.is_anomaly(scores)
    metrics = None
    if labels is not None:
        metrics = label_metrics(scores, read_labels(labels) if label_file else rows.labels)
    atomic_write_text(output, scores_csv(scores, flags, top))
    return ScoredFile(output, scores, flags, metrics)
