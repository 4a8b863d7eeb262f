"""Anomaly detection: a VAE trained on mostly normal data scores how badly it explains each input.

Scores (higher is more anomalous):

- ``"nll"``: -log p(x), importance-sampled over k posterior draws (Burda et al. 2016, arXiv:1509.00519);
- ``"elbo"``: the negative ELBO, E_q[-log p(x|z)] + KL(q(z|x) || p(z)) (An & Cho 2015 score with the ELBO);
- ``"recon"``: the squared error ||x - E[x | z = E[z|x]]||^2 of the deterministic reconstruction.

A :class:`Detector` holds the model, the standardisation learned on the training table and the threshold
that flags the ``contamination`` share of the training data; :func:`fit_detector` makes one, and with
``out`` it is saved as a run folder (the usual files plus ``anomaly.json``) that :func:`load_detector` reads.
:func:`fit_detector`'s signature holds the defaults for tables (``VAEAnomalyDetector`` repeats them, a test
keeps the two in step); :data:`IMAGE_DEFAULTS` are laid under the user's options for image data.
:mod:`vaekit.apps.anomaly_files` holds the file-level calls of ``vaekit anomaly fit`` and ``vaekit anomaly
score``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.apps.explain import Explanation, baseline, explanations_png, feature_names, feature_terms
from vaekit.apps.fit import TrainResult, fit
from vaekit.build import build_vae
from vaekit.errors import DataError, Interrupted, OptionError, RunFolderError
from vaekit.evaluate.conditional import common_noise, row_chunks, weighted_draws
from vaekit.model import VAE
from vaekit.run import load
from vaekit.train.checkpoint import RunFolder
from vaekit.utils import atomic_write_text, inference, robust_standardisation, standardisation, standardise

log = logging.getLogger(__name__)

SCORES = ("nll", "elbo", "recon")
SCALINGS = ("robust", "standard")
DETECTOR_FILE = "anomaly.json"
# A value this many standard deviations (model units) from the training data is scored as if it were here: any
# farther and the model's arithmetic overflows (a 1e308 cell gave NaN), and such a row is an anomaly anyway.
FAR = 1e6

# What changes when the rows are images (the rest of fit_detector's defaults holds for both): a conv trunk with
# channel widths 32, 64 (an MLP on images keeps fit_detector's widths), a Bernoulli likelihood for pixels in
# [0, 1], a latent of 16 and no Gaussian scale.
IMAGE_DEFAULTS: dict[str, Any] = {
    "arch": "conv",
    "likelihood": "bernoulli",
    "latent_dim": 16,
    "hidden": (32, 64),
    "sigma": None,
}


@inference
def anomaly_scores(
    vae: VAE, x: torch.Tensor, *, score: str = "nll", k: int = 100, seed: int = 0, max_draws: int = 8192
) -> torch.Tensor:
    """Per-row anomaly scores ``(N,)`` of ``x`` ``(N, *x_shape)`` under ``vae`` (higher is more anomalous).

    Each row's score depends on the row and ``seed`` only: all rows share the same k noise draws (see
    :mod:`vaekit.evaluate.conditional`). ``vae`` runs in eval mode and is left in the mode it was in.
    """
    if score not in SCORES:
        raise OptionError(f"unknown anomaly score {score!r}", f"choose one of {', '.join(SCORES)}")
    out = x.new_empty(len(x))
    if score == "recon":
        for rows in row_chunks(len(x), 1, max_draws):
            out[rows] = (x[rows] - vae.reconstruct(x[rows])).pow(2).flatten(1).sum(1)
        return out
    eps = common_noise(k, vae.latent_dim, seed, dtype=x.dtype, device=x.device)
    for rows in row_chunks(len(x), k, max_draws):
        d = weighted_draws(vae, x[rows], eps)
        if score == "nll":
            out[rows] = math.log(k) - torch.logsumexp(d.log_w, 0)
        else:
            kl = d.kl if d.kl is not None else (d.log_qz - d.log_pz).mean(0)
            out[rows] = -d.log_px_z.mean(0) + kl
    return out


def _as_float64(vae: VAE) -> VAE:
    """``vae`` itself if all its floating tensors are float64, else a float64 copy (``vae`` is not changed)."""
    tensors = [*vae.parameters(), *vae.buffers()]
    if all(t.dtype == torch.float64 for t in tensors if t.is_floating_point()):
        return vae
    return copy.deepcopy(vae).double()


@dataclass
class Detector:
    """A trained VAE with what it takes to score new rows.

    ``center``/``scale`` standardise each feature as on the training data (``None``: used as they are);
    ``threshold`` is the anomaly score above which a row is flagged (the ``1 - contamination`` quantile of the
    training scores); ``columns`` are the feature names of a CSV it was trained on. A value more than
    :data:`FAR` standard deviations from the training data is scored as if it were :data:`FAR` away (a warning
    says so), so such a row gets a finite score among the highest.

    Scores are computed in float64, so that a row's score does not depend on how many rows share its batch.
    The detectors made by :func:`fit_detector` and :func:`load_detector` hold a float64 model of their own; a
    ``vae`` of another dtype given here is left as it is and scored through a float64 copy.

    ``members`` are further models of the same rows (the default for tables: one with a fixed Gaussian scale
    in ``vae``, one that learns a scale per feature). With members, a row's score is the mean over the models
    of (s_m - median_m) / IQR_m, each model's score s_m standardised by the median and interquartile range of
    its scores on the training rows (``score_norms``, one ``[median, IQR]`` per model): unitless, and the same
    for a row whatever else is scored with it. A single model's score is its own, in nats.
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
    members: list[VAE] = field(default_factory=list)
    score_norms: list[list[float]] | None = None

    @property
    def n_features(self) -> int:
        return math.prod(self.vae.x_shape)

    @property
    def models(self) -> list[VAE]:
        """Every model whose scores make the detector's: ``vae`` and the ``members``."""
        return [self.vae, *self.members]

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
            x = standardise(x, np.asarray(self.center), np.asarray(self.scale))
        far = np.abs(x) > FAR
        if far.any():
            i, j = np.argwhere(far)[0]
            name = repr(self.columns[j]) if self.columns is not None and len(self.columns) == x.shape[1] else j
            log.warning(
                "%d rows of %s lie more than %.0e standard deviations outside the training data (first: row %d "
                "(from 0) in column %s); they are scored as if they were that far",
                int(far.any(1).sum()),
                what,
                FAR,
                i,
                name,
            )
            x = np.clip(x, -FAR, FAR)
        return torch.from_numpy(x).to(self.vae.device).view(len(x), *self.vae.x_shape)

    def model_scores(self, x: np.ndarray | torch.Tensor, what: str = "the data") -> list[np.ndarray]:
        """Each model's own anomaly scores ``(N,)`` (nats for ``nll``), before they are combined."""
        xt = self.prepare(x, what)
        return [
            anomaly_scores(_as_float64(vae), xt, score=self.score, k=self.k, seed=self.seed).cpu().numpy()
            for vae in self.models
        ]

    def scores(self, x: np.ndarray | torch.Tensor, what: str = "the data") -> np.ndarray:
        """Anomaly scores ``(N,)``, higher is more anomalous."""
        return self._finite(self.combine(self.model_scores(x, what)), what)

    def combine(self, per_model: Sequence[np.ndarray], *, divide_only: bool = False) -> np.ndarray:
        """One model's scores as they are; several models' as the mean of their standardised scores (see the
        class). ``divide_only`` scales without centring (for feature terms, which share out a score)."""
        if len(per_model) == 1:
            return np.asarray(per_model[0])
        if self.score_norms is None or len(self.score_norms) != len(per_model):
            raise RunFolderError("the detector's models have no score scales", "fit the detector again")
        return np.mean(
            [(s - (0.0 if divide_only else m)) / iqr for s, (m, iqr) in zip(per_model, self.score_norms, strict=True)],
            0,
        )

    def scores_and_terms(self, x: np.ndarray | torch.Tensor, what: str = "the data") -> tuple[np.ndarray, np.ndarray]:
        """:meth:`scores` and :meth:`feature_terms`, from one pass over the draws for the ``nll`` score."""
        if self.score != "nll":
            return self.scores(x, what), self.feature_terms(x, what)
        xt = self.prepare(x, what)
        both = [feature_terms(_as_float64(vae), xt, k=self.k, seed=self.seed, nll=True) for vae in self.models]
        scores = self.combine([s.cpu().numpy() for _, s in both])
        terms = self.combine([t.cpu().numpy() for t, _ in both], divide_only=True)
        return self._finite(scores, what), terms

    def _finite(self, scores: np.ndarray, what: str) -> np.ndarray:
        bad = ~np.isfinite(scores)
        if bad.any():
            raise DataError(
                f"{int(bad.sum())} rows of {what} get no finite anomaly score (first: row {int(np.argmax(bad))})",
                "their values are too far outside what this model can compute with; check those rows",
            )
        return scores

    def is_anomaly(self, scores: np.ndarray) -> np.ndarray:
        return (scores > self.threshold).astype(np.int64)

    def explain(self, x: np.ndarray | torch.Tensor, what: str = "the data") -> Explanation:
        """Each feature's share of each row's anomaly (:mod:`vaekit.apps.explain`): ``shares`` ``(N, F)``.

        Shares count the excess of a feature's term over its median on the training rows; a detector saved
        before explanations existed has no such medians, and then the terms themselves are shared out.
        """
        return self.explanation(self.feature_terms(x, what))

    def explanation(self, terms: np.ndarray) -> Explanation:
        """The :class:`Explanation` of feature terms ``(N, F)`` from :meth:`feature_terms`."""
        base = self.extra.get("feature_baseline")
        if base is None:
            log.warning("this detector has no training medians of the feature terms (fitted by an older vaekit)")
        return Explanation.from_terms(terms, None if base is None else np.asarray(base), self.features)

    @property
    def features(self) -> list[str]:
        """The feature names: the training CSV's columns, else ``x0 .. x{F-1}``."""
        return feature_names(self.columns, self.n_features)

    def feature_terms(self, x: np.ndarray | torch.Tensor, what: str = "the data") -> np.ndarray:
        """``(N, F)``: each feature's expected -log p(x_j | z) (:func:`vaekit.apps.explain.feature_terms`); with
        members, the mean over the models of each one's terms divided by its score IQR."""
        xt = self.prepare(x, what)
        terms = [feature_terms(_as_float64(vae), xt, k=self.k, seed=self.seed).cpu().numpy() for vae in self.models]
        return self.combine(terms, divide_only=True)

    def save(self, run_dir: str | os.PathLike) -> None:
        """Write ``anomaly.json`` into the run folder that holds the model (the members' run folders are
        ``members/1``, ``members/2``, ... inside it, written by :func:`fit_detector`)."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("vae", "members")}
        record["members"] = [member_folder(i) for i in range(1, len(self.models))]
        record["threshold"] = float(self.threshold)
        try:
            text = json.dumps(record, indent=2, allow_nan=False)  # JSON has no inf or NaN; never write them
        except ValueError:
            raise DataError(
                f"the detector's threshold or standardisation is not finite (threshold {self.threshold})",
                "check the training data for values near the float64 limit",
            ) from None
        atomic_write_text(Path(run_dir) / DETECTOR_FILE, text + "\n")


def member_folder(i: int) -> str:
    """Where a detector's model ``i`` (from 1; model 0 is the run folder's own) lives inside its run folder."""
    return f"members/{i}"


def load_detector(run_dir: str | os.PathLike, *, device: str | torch.device = "cpu", verify: bool = True) -> Detector:
    """The :class:`Detector` saved in ``run_dir`` by :func:`fit_detector` (or ``vaekit anomaly fit``); its weights
    are checked against their recorded sha256 unless ``verify`` is off."""
    path = Path(run_dir) / DETECTOR_FILE
    if not path.is_file():
        raise RunFolderError(f"{run_dir} is not an anomaly detector (no {DETECTOR_FILE})", "make one with anomaly fit")
    try:
        record = json.loads(path.read_text())
        if record.get("columns"):  # detectors fitted before byte-order marks were stripped kept one in a name
            record["columns"] = [str(c).lstrip("\ufeff") for c in record["columns"]]
        folders = record.pop("members", [])
        if folders != [member_folder(i) for i in range(1, len(folders) + 1)]:  # never a path from the file
            raise TypeError(f"unexpected member folders {folders!r}")
        members = [load(Path(run_dir) / m, device=device, verify=verify).double() for m in folders]
        return Detector(vae=load(run_dir, device=device, verify=verify).double(), members=members, **record)
    except (json.JSONDecodeError, TypeError) as err:
        raise RunFolderError(f"{path} is damaged ({err})", "fit the detector again") from None


# fitting ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Training:
    """Everything one model of :func:`fit_detector` is built and trained with."""

    x_shape: tuple[int, ...]
    arch: str
    likelihood: str
    latent_dim: int
    hidden: Sequence[int] | None
    sigma: float | None
    epochs: int
    batch_size: int
    lr: float
    patience: int | None
    val_fraction: float
    seed: int
    device: str


def _train_once(
    settings: _Training,
    rows: np.ndarray,
    out: str | os.PathLike | None,
    callbacks: Sequence[Any] = (),
    report: bool = True,
) -> TrainResult:
    """A fresh model fitted on ``rows`` ``(N, features)``; repeatable for the seed, the caller's RNG kept."""
    s = settings
    # every device's RNG is forked: the trainer reseeds the global RNG, on the GPU too when it trains there
    with torch.random.fork_rng():
        torch.manual_seed(s.seed)
        vae = build_vae(
            s.x_shape, arch=s.arch, likelihood=s.likelihood, latent_dim=s.latent_dim, hidden=s.hidden, sigma=s.sigma
        )
        return fit(
            vae,
            torch.from_numpy(rows.astype(np.float32)).view(len(rows), *s.x_shape),
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            patience=s.patience,
            val_fraction=s.val_fraction,
            seed=s.seed,
            device=s.device,
            out=out,
            callbacks=callbacks,
            report=report,
        )


def _sigmas(sigma: float | None | Sequence[float | None], likelihood: str) -> list[float | None]:
    """One Gaussian scale per model (None: learned); a likelihood without a scale trains one model."""
    sigmas = list(sigma) if isinstance(sigma, (list, tuple)) else [sigma]
    if not sigmas:
        raise OptionError("sigma lists no model", "give a scale, None, or a list of them such as (1.0, None)")
    for one in sigmas:
        if one is not None and not (isinstance(one, (int, float)) and math.isfinite(one) and one > 0):
            raise OptionError(f"sigma must be positive, got {one}", "None learns a scale per feature")
    return sigmas if likelihood == "gaussian" else sigmas[:1]


def _check_detector_options(score: str, contamination: float, trim: float) -> None:
    if score not in SCORES:
        raise OptionError(f"unknown anomaly score {score!r}", f"choose one of {', '.join(SCORES)}")
    if not 0.0 < contamination <= 0.5:
        raise OptionError(f"contamination must be in (0, 0.5], got {contamination}")
    if not 0.0 <= trim < 0.5:
        raise OptionError(f"trim must be in [0, 0.5), got {trim}")


def _training_rows(x: np.ndarray, image_shape: Sequence[int] | None) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` as finite float64 rows ``(N, features)`` and the shape each row is read as."""
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise DataError("the training data contains NaN or inf", "remove or fill those values")
    n_features = x.shape[1]
    x_shape = tuple(image_shape) if image_shape else (n_features,)
    if math.prod(x_shape) != n_features:
        raise DataError(f"rows of {n_features} values cannot be images of shape {x_shape}", "check image_shape")
    return x, x_shape


def _trimmed(x: np.ndarray, detector: Detector, trim: float) -> np.ndarray | None:
    """Which rows to refit on: all but the ``trim`` share that ``detector`` scores worst (None: no refit)."""
    if not trim or round(len(x) * (1 - trim)) < 10:
        return None
    log.info("scoring the %d training rows to set aside the %.0f%% the first model explains worst", len(x), 100 * trim)
    first = detector.scores(x, "the training data")
    return first <= np.quantile(first, 1.0 - trim)


def _show_explanations(out: str | os.PathLike, explained: Explanation, scores: np.ndarray) -> None:
    """``explanations.png`` (the most anomalous training rows) in the run folder and in its report."""
    from vaekit.apps.report import EXPLANATIONS, add_picture

    try:  # the detector is saved by now: a picture that fails must not lose it
        explanations_png(explained, scores, Path(out) / "explanations.png")
        if (Path(out) / "report.html").is_file():
            add_picture(Path(out) / "report.html", EXPLANATIONS, Path(out) / "explanations.png")
    except Exception as err:  # noqa: BLE001
        log.warning("explanations.png not drawn (%s: %s)", type(err).__name__, err)


def _set_threshold(detector: Detector, x: np.ndarray) -> tuple[np.ndarray, Explanation]:
    """Scale each model's scores by their median and IQR on the training rows ``x`` (several models), flag the
    ``contamination`` share of the rows and keep the median of each feature's term (:mod:`vaekit.apps.explain`);
    returns the training rows' scores and explanations."""
    log.info("scoring the %d training rows to set the threshold", len(x))
    if len(detector.models) > 1:
        per_model = detector.model_scores(x, "the training data")
        detector.score_norms = [_median_and_iqr(s) for s in per_model]
    train_scores, terms = detector.scores_and_terms(x, "the training data")
    detector.threshold = float(np.quantile(train_scores, 1.0 - detector.contamination))
    detector.extra["flagged_training_rows"] = int(detector.is_anomaly(train_scores).sum())
    base = baseline(terms)
    detector.extra["feature_baseline"] = base.tolist()
    return train_scores, Explanation.from_terms(terms, base, detector.features)


def _median_and_iqr(scores: np.ndarray) -> list[float]:
    q25, q50, q75 = np.quantile(scores, [0.25, 0.5, 0.75])
    return [float(q50), float(q75 - q25) if q75 > q25 else 1.0]


def fit_detector(
    x: np.ndarray,
    *,
    score: str = "nll",
    contamination: float = 0.1,
    arch: str = "mlp",
    likelihood: str = "gaussian",
    latent_dim: int | None = None,
    hidden: Sequence[int] | None = (16,),
    sigma: float | None | Sequence[float | None] = (1.0, None),
    image_shape: Sequence[int] | None = None,
    standardize: bool | None = None,
    scaling: str = "robust",
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    patience: int | None = 10,
    val_fraction: float = 0.1,
    k: int = 100,
    trim: float = 0.2,
    seed: int = 0,
    device: str = "cpu",
    columns: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Detector, TrainResult]:
    """Train a VAE on ``x`` ``(N, features)`` (mostly normal rows) and set the threshold from its scores.

    The defaults suit tables (see ``VAEAnomalyDetector`` and ``docs/benchmarks.md``); :data:`IMAGE_DEFAULTS`
    are those that change for images. ``standardize`` (default: on for a Gaussian likelihood) centres and
    scales each feature on ``x``: with ``scaling="robust"`` on its median and max(IQR / 1.349, a quarter of its
    standard deviation) (:func:`vaekit.utils.robust_standardisation`: the anomalies in the training rows do
    not inflate it), with ``"standard"`` on its mean and standard deviation. ``image_shape`` (e.g.
    ``(1, 28, 28)``) reads each row as a flattened image (use ``arch="conv"``). ``latent_dim`` defaults to
    ``max(1, min(4, features - 1))``. ``sigma`` fixes the Gaussian scale (in standard deviations of standardised
    features); ``None`` learns one per feature; a list trains one model per entry and averages their
    standardised scores (:class:`Detector`). The default ``(1.0, None)`` is both: a fixed scale weighs every
    feature alike, a learned one weighs each by how well it is predicted, and the pair beat either alone and
    IsolationForest on seeds the benchmark does not report (``benchmarks/anomaly_tune.py``).

    ``trim`` makes training robust to the anomalies hiding in unlabelled training data (a trimmed likelihood):
    after a first fit, the ``trim`` share of rows that score worst is set aside and a fresh model is fitted on
    the rest (when at least 10 rows remain). The threshold is still set on all rows. Training is repeatable
    for a ``seed`` and leaves the global RNG as it was. The detector owns the trained model, in float64.
    ``callbacks`` (e.g. a progress bar) are passed to each training run. Standardisation is always finite (see
    :func:`vaekit.utils.standardisation`): a row with a value far out, even near 1e308, is scored highest.
    """
    _check_detector_options(score, contamination, trim)
    if scaling not in SCALINGS:
        raise OptionError(f"unknown scaling {scaling!r}", f"choose one of {', '.join(SCALINGS)}")
    sigmas = _sigmas(sigma, likelihood)
    x, x_shape = _training_rows(x, image_shape)
    standardize = likelihood == "gaussian" if standardize is None else standardize
    scales = robust_standardisation if scaling == "robust" else standardisation
    center, scale = scales(x, names=columns) if standardize else (None, None)
    xt = standardise(x, center, scale) if standardize else x

    def settings(i: int) -> _Training:  # model i: its scale, and a seed of its own
        return _Training(
            x_shape=x_shape, arch=arch, likelihood=likelihood, latent_dim=latent_dim or max(1, min(4, x.shape[1] - 1)),
            hidden=hidden, sigma=sigmas[i], epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
            val_fraction=val_fraction, seed=seed + 1000 * i, device=device,
        )  # fmt: skip

    def detector_for(models: list[VAE]) -> Detector:
        return Detector(
            models[0].double(),  # the detector owns the models it trained; it scores in float64
            score=score, k=k, seed=seed, contamination=contamination,
            center=None if center is None else center.tolist(), scale=None if scale is None else scale.tolist(),
            columns=list(columns) if columns is not None else None, extra={"trim": trim},
            members=[m.double() for m in models[1:]],
        )  # fmt: skip

    def train_model(i: int) -> TrainResult:
        """Model i, refitted without the ``trim`` share of rows it explains worst; saved into its folder."""
        where = None if out is None else (Path(out) if i == 0 else Path(out) / member_folder(i))
        result = _train_once(settings(i), xt, None if trim else where, callbacks, report=i == 0)
        keep = _trimmed(x, detector_for([result.vae]), trim)
        if keep is not None:
            log.info("training again on the %d rows the first model explains best", int(keep.sum()))
            result = _train_once(settings(i), xt[keep], where, callbacks, report=i == 0)
        return result

    if out is not None and not RunFolder(out).is_empty():  # before training, not after the first of two fits
        raise RunFolderError(f"run folder {out} already exists", "give another --out")
    log.info("training %d model(s) on %d rows of %d features", len(sigmas), len(x), x.shape[1])
    try:
        results = [train_model(i) for i in range(len(sigmas))]
        detector = detector_for([r.vae for r in results])
        train_scores, explained = _set_threshold(detector, x)
        if out is not None:
            detector.save(out)
            _show_explanations(out, explained, train_scores)
    except KeyboardInterrupt:
        # a detector is fitted in one go: a half-fitted folder is of no use, and would block the same command
        if out is not None and not (Path(out) / DETECTOR_FILE).is_file():
            shutil.rmtree(out, ignore_errors=True)
        raise Interrupted("interrupted while fitting the detector", "nothing was kept: run the command again") from None
    return detector, results[0]


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
