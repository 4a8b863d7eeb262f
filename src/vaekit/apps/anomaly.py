"""Anomaly detection: a VAE trained on mostly normal data scores how badly it explains each input.

Scores (higher is more anomalous):

- ``"nll"``: -log p(x), importance-sampled over k posterior draws (Burda et al. 2016, arXiv:1509.00519);
- ``"elbo"``: the negative ELBO, E_q[-log p(x|z)] + KL(q(z|x) || p(z)) (An & Cho 2015 score with the ELBO);
- ``"recon"``: the squared error ||x - E[x | z = E[z|x]]||^2 of the deterministic reconstruction.

A :class:`Detector` holds the model, the standardisation learned on the training table and the threshold
that flags the ``contamination`` share of the training data; :func:`fit_detector` makes one, and with
``out`` it is saved as a run folder (the usual files plus ``anomaly.json``) that :func:`load_detector` reads.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.apps.fit import TrainResult, fit
from vaekit.build import build_vae
from vaekit.errors import DataError, OptionError, RunFolderError
from vaekit.evaluate.conditional import common_noise, row_chunks, weighted_draws
from vaekit.model import VAE
from vaekit.run import load
from vaekit.utils import atomic_write_text

SCORES = ("nll", "elbo", "recon")
DETECTOR_FILE = "anomaly.json"


@torch.no_grad()
def anomaly_scores(
    vae: VAE, x: torch.Tensor, *, score: str = "nll", k: int = 100, seed: int = 0, max_draws: int = 8192
) -> torch.Tensor:
    """Per-row anomaly scores ``(N,)`` of ``x`` ``(N, *x_shape)`` under ``vae`` (higher is more anomalous).

    Each row's score depends on the row and ``seed`` only: all rows share the same k noise draws (see
    :mod:`vaekit.evaluate.conditional`).
    """
    if score not in SCORES:
        raise OptionError(f"unknown anomaly score {score!r}", f"choose one of {', '.join(SCORES)}")
    was_training = vae.training
    vae.eval()
    out = x.new_empty(len(x))
    if score == "recon":
        for rows in row_chunks(len(x), 1, max_draws):
            out[rows] = (x[rows] - vae.reconstruct(x[rows])).pow(2).flatten(1).sum(1)
    else:
        eps = common_noise(k, vae.latent_dim, seed, dtype=x.dtype, device=x.device)
        for rows in row_chunks(len(x), k, max_draws):
            d = weighted_draws(vae, x[rows], eps)
            if score == "nll":
                out[rows] = math.log(k) - torch.logsumexp(d.log_w, 0)
            else:
                kl = d.kl if d.kl is not None else (d.log_qz - d.log_pz).mean(0)
                out[rows] = -d.log_px_z.mean(0) + kl
    vae.train(was_training)
    return out


@dataclass
class Detector:
    """A trained VAE with what it takes to score new rows.

    ``center``/``scale`` standardise each feature as on the training data (``None``: used as they are);
    ``threshold`` is the anomaly score above which a row is flagged (the ``1 - contamination`` quantile of the
    training scores); ``columns`` are the feature names of a CSV it was trained on.
    """

    vae: VAE
    score: str = "nll"
    k: int = 100
    seed: int = 0
    contamination: float = 0.1
    threshold: float = math.inf
    center: list[float] | None = None
    scale: list[float] | None = None
    columns: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return math.prod(self.vae.x_shape)

    def prepare(self, x: np.ndarray | torch.Tensor, what: str = "the data") -> torch.Tensor:
        """Rows ``(N, n_features)`` (or ``(N, *x_shape)``) as standardised float64 model input."""
        x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
        if x.ndim < 2 or len(x) == 0:
            raise DataError(f"{what} has shape {x.shape}", "need one row per example")
        x = x.reshape(len(x), -1)
        if x.shape[1] != self.n_features:
            raise DataError(
                f"{what} has {x.shape[1]} features, the detector was trained on {self.n_features}",
                "score data with the training data's columns",
            )
        if not np.isfinite(x).all():
            raise DataError(f"{what} contains NaN or inf", "remove or fill those values")
        if self.center is not None:
            x = (x - np.asarray(self.center)) / np.asarray(self.scale)
        device = next(self.vae.parameters()).device
        return torch.from_numpy(x).to(device).view(len(x), *self.vae.x_shape)

    def scores(self, x: np.ndarray | torch.Tensor, what: str = "the data") -> np.ndarray:
        """Anomaly scores ``(N,)``, higher is more anomalous."""
        self.vae.double()  # float64: a row's score must not depend on how many rows share its batch
        s = anomaly_scores(self.vae, self.prepare(x, what), score=self.score, k=self.k, seed=self.seed)
        return s.cpu().numpy()

    def is_anomaly(self, scores: np.ndarray) -> np.ndarray:
        return (scores > self.threshold).astype(np.int64)

    def save(self, run_dir: str | os.PathLike) -> None:
        """Write ``anomaly.json`` into the run folder that holds the model."""
        record = {k: v for k, v in asdict(self).items() if k != "vae"}
        record["threshold"] = float(self.threshold)
        atomic_write_text(Path(run_dir) / DETECTOR_FILE, json.dumps(record, indent=2) + "\n")


def load_detector(run_dir: str | os.PathLike, *, device: str | torch.device = "cpu") -> Detector:
    """The :class:`Detector` saved in ``run_dir`` by :func:`fit_detector` (or ``vaekit anomaly fit``)."""
    path = Path(run_dir) / DETECTOR_FILE
    if not path.is_file():
        raise RunFolderError(f"{run_dir} is not an anomaly detector (no {DETECTOR_FILE})", "make one with anomaly fit")
    try:
        record = json.loads(path.read_text())
        return Detector(vae=load(run_dir, device=device), **record)
    except (json.JSONDecodeError, TypeError) as err:
        raise RunFolderError(f"{path} is damaged ({err})", "fit the detector again") from None


def standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (1 where a feature is constant)."""
    center = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    return center, np.where(scale > 1e-12, scale, 1.0)


def fit_detector(
    x: np.ndarray,
    *,
    score: str = "nll",
    contamination: float = 0.1,
    arch: str = "mlp",
    likelihood: str = "gaussian",
    latent_dim: int | None = None,
    hidden: Sequence[int] | None = None,
    sigma: float | None = None,
    image_shape: Sequence[int] | None = None,
    standardize: bool | None = None,
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    patience: int | None = 10,
    val_fraction: float = 0.1,
    k: int = 100,
    trim: float = 0.0,
    seed: int = 0,
    device: str = "cpu",
    columns: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
) -> tuple[Detector, TrainResult]:
    """Train a VAE on ``x`` ``(N, features)`` (mostly normal rows) and set the threshold from its scores.

    ``standardize`` (default: on for a Gaussian likelihood) centres and scales each feature on ``x``;
    ``image_shape`` (e.g. ``(1, 28, 28)``) reads each row as a flattened image (use ``arch="conv"``).
    ``latent_dim`` defaults to ``max(1, min(4, features - 1))``. ``sigma`` fixes the Gaussian scale (in
    standard deviations of standardised features); ``None`` learns one per feature.

    ``trim`` makes training robust to the anomalies hiding in unlabelled training data (a trimmed likelihood):
    after a first fit, the ``trim`` share of rows that score worst is set aside and a fresh model is fitted on
    the rest (when at least 10 rows remain). The threshold is still set on all rows. Training is repeatable
    for a ``seed`` and leaves the global RNG as it was.
    """
    if score not in SCORES:
        raise OptionError(f"unknown anomaly score {score!r}", f"choose one of {', '.join(SCORES)}")
    if not 0.0 < contamination <= 0.5:
        raise OptionError(f"contamination must be in (0, 0.5], got {contamination}")
    if not 0.0 <= trim < 0.5:
        raise OptionError(f"trim must be in [0, 0.5), got {trim}")
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise DataError("the training data contains NaN or inf", "remove or fill those values")
    n_features = x.shape[1]
    x_shape = tuple(image_shape) if image_shape else (n_features,)
    if math.prod(x_shape) != n_features:
        raise DataError(f"rows of {n_features} values cannot be images of shape {x_shape}", "check image_shape")
    standardize = likelihood == "gaussian" if standardize is None else standardize
    center, scale = standardisation(x) if standardize else (None, None)
    xt = (x - center) / scale if standardize else x
    latent_dim = latent_dim or max(1, min(4, n_features - 1))

    def train_on(rows: np.ndarray, folder: str | os.PathLike | None) -> TrainResult:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            vae = build_vae(
                x_shape, arch=arch, likelihood=likelihood, latent_dim=latent_dim, hidden=hidden, sigma=sigma
            )
            return fit(
                vae,
                torch.from_numpy(rows.astype(np.float32)).view(len(rows), *x_shape),
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                patience=patience,
                val_fraction=val_fraction,
                seed=seed,
                device=device,
                out=folder,
            )

    def detector_for(result: TrainResult) -> Detector:
        return Detector(
            vae=result.vae,
            score=score,
            k=k,
            seed=seed,
            contamination=contamination,
            center=None if center is None else center.tolist(),
            scale=None if scale is None else scale.tolist(),
            columns=list(columns) if columns is not None else None,
            extra={"trim": trim},
        )

    result = train_on(xt, None if trim else out)
    detector = detector_for(result)
    if trim and round(len(x) * (1 - trim)) >= 10:
        first = detector.scores(x, "the training data")
        keep = first <= np.quantile(first, 1.0 - trim)
        result = train_on(xt[keep], out)
        detector = detector_for(result)
    train_scores = detector.scores(x, "the training data")
    detector.threshold = float(np.quantile(train_scores, 1.0 - contamination))
    detector.extra["flagged_training_rows"] = int(detector.is_anomaly(train_scores).sum())
    if out is not None:
        detector.save(out)
    return detector, result


def label_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """ROC-AUC and average precision of anomaly ``scores`` against ``labels`` (1 anomaly, 0 normal)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(labels) != len(scores):
        raise DataError(f"{len(labels)} labels for {len(scores)} rows", "give one label per row")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError("labels must be 0 (normal) or 1 (anomaly)", "recode the labels")
    if labels.min() == labels.max():
        raise DataError("the labels hold only one class", "ROC-AUC needs both normal and anomalous rows")
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
    }
