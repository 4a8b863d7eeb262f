"""scikit-learn estimators: :class:`VAEAnomalyDetector` (an outlier detector) and :class:`VAEImputer`.

Both follow scikit-learn's conventions (parameters stored untouched in ``__init__``, fitted attributes end
in ``_``, inputs checked with ``validate_data``, ``NotFittedError`` before ``fit``) and pass its estimator
checks, so they work inside ``Pipeline`` and ``GridSearchCV``. They are thin layers over
:mod:`vaekit.apps.anomaly` and :mod:`vaekit.apps.imputation`. Fitting and scoring are repeatable for a given
``random_state`` and leave the global torch RNG as it was; each row's result depends on that row alone.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from vaekit.apps.anomaly import fit_detector
from vaekit.apps.fit import fit
from vaekit.apps.imputation import check_rows_observed, impute, sample_imputations
from vaekit.build import build_vae


def _seed(random_state) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class VAEAnomalyDetector(OutlierMixin, BaseEstimator):
    """Outlier detection with a VAE trained on mostly normal data.

    ``score_samples(X)`` is higher for more normal rows: minus the importance-sampled -log p(x) (``method="nll"``,
    with ``n_samples`` draws), minus the negative ELBO (``"elbo"``) or minus the squared reconstruction error
    (``"recon"``). ``decision_function(X) = score_samples(X) - offset_`` is negative for outliers and
    ``predict`` gives -1 there and 1 elsewhere; ``offset_`` flags the ``contamination`` share of the training
    rows. Tables are standardised on the training data (``standardize=None`` does this for a Gaussian
    likelihood). For images, pass rows of flattened pixels in [0, 1] with ``image_shape=(C, H, W)``,
    ``arch="conv"`` and ``likelihood="bernoulli"``.

    The defaults suit tables: a small MLP (one layer of 16, a latent of ``min(4, n_features - 1)``), a Gaussian
    likelihood of unit scale on standardised features (``sigma=None`` learns a scale per feature: it let
    near-discrete features dominate the score on ODDS cardio), and a trimmed refit (``trim=0.2``): the 20% of
    training rows that a first model explains worst are left out of a second fit, so anomalies hidden in the
    training data shape the model less. See ``docs/benchmarks.md`` for how these were chosen and what they score.

    Fitted attributes: ``threshold_`` (the anomaly score above which a row is an outlier), ``offset_``,
    ``detector_`` (a :class:`vaekit.apps.anomaly.Detector`), ``vae_``, ``history_``, ``n_features_in_``.
    """

    def __init__(
        self,
        method="nll",
        contamination=0.1,
        latent_dim=None,
        hidden=(16,),
        sigma=1.0,
        arch="mlp",
        likelihood="gaussian",
        image_shape=None,
        standardize=None,
        epochs=100,
        batch_size=128,
        lr=1e-3,
        patience=10,
        validation_fraction=0.1,
        n_samples=100,
        trim=0.2,
        random_state=None,
        device="cpu",
    ):
        self.method = method
        self.contamination = contamination
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.sigma = sigma
        self.arch = arch
        self.likelihood = likelihood
        self.image_shape = image_shape
        self.standardize = standardize
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_samples = n_samples
        self.trim = trim
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None):
        """Train on ``X`` ``(n_samples, n_features)``; ``y`` is ignored."""
        X = validate_data(self, X, dtype=np.float64)
        detector, result = fit_detector(
            X,
            score=self.method,
            contamination=self.contamination,
            arch=self.arch,
            likelihood=self.likelihood,
            latent_dim=self.latent_dim,
            hidden=self.hidden,
            sigma=self.sigma,
            image_shape=self.image_shape,
            standardize=self.standardize,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            val_fraction=self.validation_fraction,
            k=self.n_samples,
            trim=self.trim,
            seed=_seed(self.random_state),
            device=self.device,
        )
        self.detector_ = detector
        self.vae_ = detector.vae
        self.history_ = result.history
        self.threshold_ = detector.threshold
        self.offset_ = -detector.threshold
        return self

    def score_samples(self, X):
        """Normality of each row (higher is more normal): minus its anomaly score, shape ``(n_samples,)``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return -self.detector_.scores(X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)


class VAEImputer(TransformerMixin, BaseEstimator):
    """Fill in missing values (NaN) with a VAE trained on the incomplete data itself (MIWAE).

    The model's likelihood counts observed entries only and it is trained on the importance-weighted bound
    with ``n_train_samples`` draws (Mattei & Frellsen 2019, arXiv:1812.02633). ``transform`` replaces each NaN
    by its conditional mean E[x_m | x_o], estimated by self-normalised importance sampling with ``n_samples``
    draws; :meth:`sample_imputations` draws multiple imputations. Columns listed in ``categorical_features``
    hold level codes 0..K-1 and get a categorical likelihood (their imputation is the most probable level);
    the others are standardised on the observed training values and get a Gaussian one.

    Fitted attributes: ``vae_``, ``history_``, ``categories_`` (per column: 0 numeric, else K), ``mean_``,
    ``scale_``, ``n_features_in_``.
    """

    def __init__(
        self,
        latent_dim=None,
        hidden=(128, 128),
        categorical_features=None,
        n_train_samples=20,
        n_samples=1000,
        epochs=500,
        batch_size=64,
        lr=1e-3,
        patience=30,
        validation_fraction=0.1,
        random_state=None,
        device="cpu",
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.categorical_features = categorical_features
        self.n_train_samples = n_train_samples
        self.n_samples = n_samples
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=reset)
        check_rows_observed(torch.from_numpy(X), "X")
        return X

    def _categories(self, X: np.ndarray) -> tuple[int, ...]:
        categorical = sorted({int(j) for j in (self.categorical_features or [])})
        if any(j < 0 or j >= X.shape[1] for j in categorical):
            raise ValueError(f"categorical_features {categorical} out of range for {X.shape[1]} features")
        categories = [0] * X.shape[1]
        for j in categorical:
            codes = X[:, j][~np.isnan(X[:, j])]
            if (codes < 0).any() or (codes != np.round(codes)).any():
                raise ValueError(f"categorical feature {j} must hold level codes 0, 1, 2, ...")
            categories[j] = max(2, int(codes.max()) + 1)
        return tuple(categories)

    def _standardised(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_

    def fit(self, X, y=None):
        """Train on ``X`` ``(n_samples, n_features)`` with NaN for missing entries; ``y`` is ignored."""
        X = self._validate(X, reset=True)
        empty = np.isnan(X).all(0)
        if empty.any():
            raise ValueError(f"feature {int(np.flatnonzero(empty)[0])} has no observed value; drop it")
        self.categories_ = self._categories(X)
        numeric = np.array([k == 0 for k in self.categories_])
        self.mean_ = np.where(numeric, np.nanmean(X, axis=0), 0.0)
        std = np.where(numeric, np.nanstd(X, axis=0), 1.0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.seed_ = _seed(self.random_state)
        mixed = any(self.categories_)
        n_features = X.shape[1]
        with torch.random.fork_rng():
            torch.manual_seed(self.seed_)
            vae = build_vae(
                (n_features,),
                likelihood="mixed" if mixed else "gaussian",
                categories=self.categories_ if mixed else (),
                missing=True,
                latent_dim=self.latent_dim or max(1, min(n_features - 1, 16)),
                hidden=self.hidden,
                activation="tanh",
            )
            result = fit(
                vae,
                self._standardised(X).astype(np.float32),
                objective="iwae",
                k=self.n_train_samples,
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                patience=self.patience,
                val_fraction=self.validation_fraction,
                seed=self.seed_,
                device=self.device,
            )
        self.vae_ = result.vae.double()
        self.history_ = result.history
        return self

    def _input(self, X) -> tuple[np.ndarray, torch.Tensor]:
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return X, torch.from_numpy(self._standardised(X)).to(next(self.vae_.parameters()).device)

    def _restore(self, X: np.ndarray, filled: torch.Tensor) -> np.ndarray:
        # observed entries come back bit for bit, not through the round trip of standardisation
        return np.where(np.isnan(X), filled.cpu().numpy() * self.scale_ + self.mean_, X)

    def transform(self, X):
        """``X`` with each missing entry replaced by its conditional mean given the row's observed entries."""
        X, x = self._input(X)
        return self._restore(X, impute(self.vae_, x, k=self.n_samples, seed=self.seed_))

    def sample_imputations(self, X, n_imputations=5):
        """``n_imputations`` completions of ``X`` drawn from p(x_m | x_o): array ``(n_imputations, *X.shape)``."""
        X, x = self._input(X)
        return self._restore(X, sample_imputations(self.vae_, x, n_imputations, k=self.n_samples, seed=self.seed_))
