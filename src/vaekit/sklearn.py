"""scikit-learn estimators: :class:`VAEAnomalyDetector` (an outlier detector) and :class:`VAEImputer`.

Both follow scikit-learn's conventions (parameters stored untouched in ``__init__``, fitted attributes end
in ``_``, inputs checked with ``validate_data``, ``NotFittedError`` before ``fit``) and pass its estimator
checks, so they work inside ``Pipeline`` and ``GridSearchCV``. They are thin layers over
:func:`vaekit.apps.anomaly.fit_detector` and :func:`vaekit.apps.imputation.fit_imputer`, whose signatures hold
the defaults: scikit-learn needs literal defaults in ``__init__``, so they are repeated here and
``tests/test_tables_shape.py`` checks that the two agree. Fitting and scoring are repeatable for a given
``random_state`` and leave the global torch RNG as it was; each row's result depends on that row alone.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from vaekit.apps.anomaly import fit_detector
from vaekit.apps.explain import Explanation
from vaekit.apps.imputation import check_rows_observed, estimator_seed, fit_imputer

# estimator parameter -> keyword of fit_detector / fit_imputer, where the names differ
ANOMALY_KEYWORDS = {"method": "score", "n_samples": "k", "validation_fraction": "val_fraction"}
IMPUTER_KEYWORDS = {"n_samples": "k", "validation_fraction": "val_fraction"}


def _keywords(estimator: BaseEstimator, renamed: dict[str, str]) -> dict:
    """The estimator's parameters as keywords of its fitting function; ``random_state`` becomes ``seed``."""
    params = estimator.get_params(deep=False)
    keywords = {renamed.get(name, name): value for name, value in params.items() if name != "random_state"}
    return {**keywords, "seed": estimator_seed(params["random_state"])}


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
        detector, result = fit_detector(X, **_keywords(self, ANOMALY_KEYWORDS))
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

    def explain(self, X):
        """Why each row scores as it does: an :class:`~vaekit.apps.explain.Explanation` whose ``shares``
        ``(n_samples, n_features)`` give each feature's share of the row's excess misfit (rows sum to 1, or are
        0 where no feature is explained worse than on typical training rows); ``top(n)`` names the leading
        features, ``to_frame()`` gives a pandas DataFrame. Feature names are ``feature_names_in_`` where the
        estimator was fitted on a DataFrame, else ``x0, x1, ...``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        explanation = self.detector_.explain(X)
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return explanation
        return Explanation.from_terms(explanation.terms, self.detector_.extra.get("feature_baseline"), list(names))


class VAEImputer(TransformerMixin, BaseEstimator):
    """Fill in missing values (NaN) with a VAE trained on the incomplete data itself (MIWAE).

    The model's likelihood counts observed entries only and it is trained on the importance-weighted bound
    with ``n_train_samples`` draws (Mattei & Frellsen 2019, arXiv:1812.02633). ``transform`` replaces each NaN
    by its conditional mean E[x_m | x_o], estimated by self-normalised importance sampling with ``n_samples``
    draws; :meth:`sample_imputations` draws multiple imputations. Columns listed in ``categorical_features``
    hold level codes 0..K-1 and get a categorical likelihood (their imputation is the most probable level);
    the others are standardised on the observed training values and get a Gaussian one.

    Fitted attributes: ``imputer_`` (a :class:`vaekit.apps.imputation.Imputer`), ``vae_``, ``history_``,
    ``categories_`` (per column: 0 numeric, else K), ``mean_``, ``scale_``, ``n_features_in_``.
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
        check_rows_observed(X, "X")
        return X

    def fit(self, X, y=None):
        """Train on ``X`` ``(n_samples, n_features)`` with NaN for missing entries; ``y`` is ignored."""
        X = self._validate(X, reset=True)
        imputer, result = fit_imputer(X, **_keywords(self, IMPUTER_KEYWORDS), what="X")
        self.imputer_ = imputer
        self.vae_ = imputer.vae
        self.history_ = result.history
        self.categories_ = imputer.categories
        self.mean_ = imputer.center
        self.scale_ = imputer.scale
        self.seed_ = imputer.seed
        return self

    def transform(self, X):
        """``X`` with each missing entry replaced by its conditional mean given the row's observed entries."""
        check_is_fitted(self)
        return self.imputer_.transform(self._validate(X, reset=False), k=self.n_samples)

    def sample_imputations(self, X, n_imputations=5):
        """``n_imputations`` completions of ``X`` drawn from p(x_m | x_o): array ``(n_imputations, *X.shape)``."""
        check_is_fitted(self)
        return self.imputer_.sample(self._validate(X, reset=False), n_imputations, k=self.n_samples)
