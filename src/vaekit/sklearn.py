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
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, OutlierMixin, TransformerMixin
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from vaekit.apps.anomaly import fit_detector
from vaekit.apps.explain import Explanation
from vaekit.apps.imputation import check_rows_observed, estimator_seed, fit_imputer
from vaekit.data.frame import FrameColumns, group_sum, is_frame
from vaekit.errors import DataError

# estimator parameter -> keyword of fit_detector / fit_imputer, where the names differ
ANOMALY_KEYWORDS = {"method": "score", "n_samples": "k", "validation_fraction": "val_fraction"}
IMPUTER_KEYWORDS = {"n_samples": "k", "validation_fraction": "val_fraction"}


def _frame_codes(estimator: BaseEstimator, X, *, reset: bool, allow_nan: bool) -> np.ndarray:
    """The float64 matrix of a DataFrame ``X`` (:meth:`FrameColumns.codes`), with scikit-learn's checks of
    feature names and count; on ``reset`` the frame's columns are learned into ``frame_columns_``."""
    validate_data(estimator, X, reset=reset, skip_check_array=True)
    if reset:
        estimator.frame_columns_ = FrameColumns.fit(X)
    elif estimator.frame_columns_ is None:  # fitted on an array: the frame's values are taken as they are
        return check_array(X, dtype=np.float64, ensure_all_finite="allow-nan" if allow_nan else True)
    codes = estimator.frame_columns_.codes(X)
    return check_array(codes, dtype=np.float64, ensure_all_finite="allow-nan" if allow_nan else True)


def _array(estimator: BaseEstimator, X, *, reset: bool, allow_nan: bool) -> np.ndarray:
    """``X`` as a float64 matrix: a DataFrame through :func:`_frame_codes`, anything else through
    ``validate_data``; a DataFrame with categorical columns must be met by DataFrames later on."""
    if is_frame(X):
        return _frame_codes(estimator, X, reset=reset, allow_nan=allow_nan)
    columns = None if reset else estimator.frame_columns_
    if columns is not None and (columns.categorical or "bool" in columns.kinds):
        raise DataError(
            "this estimator was fitted on a DataFrame with categorical or boolean columns",
            "give a DataFrame with the same columns",
        )
    X = validate_data(estimator, X, dtype=np.float64, reset=reset, ensure_all_finite="allow-nan" if allow_nan else True)
    if reset:
        estimator.frame_columns_ = None
    return X


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
    likelihood), by default robustly: each feature's median and max(IQR / 1.349, a quarter of its standard
    deviation) (``scaling="robust"``; ``"standard"``: mean and standard deviation). For images, pass rows of
    flattened pixels in [0, 1] with ``image_shape=(C, H, W)``, ``arch="conv"`` and ``likelihood="bernoulli"``.

    The defaults suit tables: small MLPs (one layer of 16, a latent of ``min(4, n_features - 1)``) with a
    Gaussian likelihood on standardised features, two of them (``sigma=(1.0, None)``): one of unit scale, which
    weighs every feature alike, and one that learns a scale per feature, which weighs each by how well the
    others predict it (alone it let near-discrete features dominate the score on ODDS cardio, but it is the
    better of the two on shuttle and satellite); a row's score averages the two models' scores, each
    standardised by its median and IQR on the training rows (``sigma=1.0`` or ``None`` fits one model, whose
    score is in nats). Each model is refitted with trimming (``trim=0.2``): the 20% of training rows that a
    first fit explains worst are left out of a second, so anomalies hidden in the training data shape the
    model less. See ``docs/benchmarks.md`` for how these were chosen and what they score.

    A pandas DataFrame may hold numeric, boolean and categorical columns: a categorical column becomes one
    indicator column per level (``input_columns_``) and :meth:`explain` adds their shares back up per column.

    Fitted attributes: ``threshold_`` (the anomaly score above which a row is an outlier), ``offset_``,
    ``detector_`` (a :class:`vaekit.apps.anomaly.Detector`), ``vae_``, ``history_``, ``n_features_in_``,
    ``feature_names_in_`` (for a DataFrame), ``frame_columns_`` (its :class:`~vaekit.data.frame.FrameColumns`,
    else None).
    """

    def __init__(
        self,
        method="nll",
        contamination=0.1,
        latent_dim=None,
        hidden=(16,),
        sigma=(1.0, None),
        arch="mlp",
        likelihood="gaussian",
        image_shape=None,
        standardize=None,
        scaling="robust",
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
        self.scaling = scaling
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_samples = n_samples
        self.trim = trim
        self.random_state = random_state
        self.device = device

    def _rows(self, X, reset: bool) -> np.ndarray:
        """Model input: a DataFrame's categorical columns one indicator column per level, booleans 0/1."""
        X = _array(self, X, reset=reset, allow_nan=False)
        if self.frame_columns_ is None:
            return X
        rows, names, groups = self.frame_columns_.one_hot(X)
        if reset:
            self.input_columns_, self.column_groups_ = names, groups
        return rows

    def fit(self, X, y=None):
        """Train on ``X`` ``(n_samples, n_features)``, an array or a DataFrame of numeric, boolean and
        categorical columns; ``y`` is ignored."""
        X = self._rows(X, reset=True)
        columns = getattr(self, "input_columns_", None) if self.frame_columns_ is not None else None
        detector, result = fit_detector(X, **_keywords(self, ANOMALY_KEYWORDS), columns=columns)
        self.detector_ = detector
        self.vae_ = detector.vae
        self.history_ = result.history
        self.threshold_ = detector.threshold
        self.offset_ = -detector.threshold
        return self

    def score_samples(self, X):
        """Normality of each row (higher is more normal): minus its anomaly score, shape ``(n_samples,)``."""
        check_is_fitted(self)
        return -self.detector_.scores(self._rows(X, reset=False))

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
        explanation = self.detector_.explain(self._rows(X, reset=False))
        if self.frame_columns_ is None:  # fitted on an array: features x0, x1, ...
            return explanation
        # a categorical column's indicator columns are one feature to the user
        groups, n = self.column_groups_, len(self.frame_columns_.names)
        base = np.asarray(self.detector_.extra["feature_baseline"])[None]
        terms, base = group_sum(explanation.terms, groups, n), group_sum(base, groups, n)[0]
        return Explanation.from_terms(terms, base, self.frame_columns_.names)


class VAEImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill in missing values (NaN) with a VAE trained on the incomplete data itself (MIWAE).

    The model's likelihood counts observed entries only and it is trained on the importance-weighted bound
    with ``n_train_samples`` draws (Mattei & Frellsen 2019, arXiv:1812.02633). ``transform`` replaces each NaN
    by its conditional mean E[x_m | x_o], estimated by self-normalised importance sampling with ``n_samples``
    draws; :meth:`sample_imputations` draws multiple imputations. Columns listed in ``categorical_features``
    hold level codes 0..K-1 and get a categorical likelihood (their imputation is the most probable level);
    the others are standardised on the observed training values and get a Gaussian one.

    A pandas DataFrame may hold numeric, boolean and categorical columns (those two get the categorical
    likelihood); with ``set_output(transform="pandas")`` the result keeps the caller's columns, index and dtypes.

    Fitted attributes: ``imputer_`` (a :class:`vaekit.apps.imputation.Imputer`), ``vae_``, ``history_``,
    ``categories_`` (per column: 0 numeric, else K), ``mean_``, ``scale_``, ``n_features_in_``,
    ``feature_names_in_`` (for a DataFrame), ``frame_columns_`` (its :class:`~vaekit.data.frame.FrameColumns`,
    else None).
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
        X = _array(self, X, reset=reset, allow_nan=True)
        check_rows_observed(X, "X")
        return X

    def _categorical(self) -> list[int] | None:
        """The columns with a categorical likelihood: those given, and a DataFrame's categorical and boolean
        columns."""
        given = list(self.categorical_features or [])
        if self.frame_columns_ is None:
            return given or None
        names = self.frame_columns_.names
        given = [names.index(c) if isinstance(c, str) and c in names else c for c in given]
        kinds = self.frame_columns_.kinds
        return sorted({*given, *(j for j, k in enumerate(kinds) if k in ("category", "bool"))}) or None

    def _output(self, values: np.ndarray, X):
        """``values`` in the caller's form: a DataFrame in its dtypes with ``set_output(transform="pandas")``
        (or for ``sample_imputations`` on a DataFrame), else an array (object-typed where a DataFrame had
        categorical columns)."""
        if self.frame_columns_ is None:
            return values
        frame = self.frame_columns_.frame(values, index=X.index if is_frame(X) else None)
        if _get_output_config("transform", self)["dense"] == "pandas":
            return frame
        return frame.to_numpy()

    def fit(self, X, y=None):
        """Train on ``X`` ``(n_samples, n_features)`` with NaN for missing entries, an array or a DataFrame of
        numeric, boolean and categorical columns (those get a categorical likelihood); ``y`` is ignored."""
        X = self._validate(X, reset=True)
        keywords = {**_keywords(self, IMPUTER_KEYWORDS), "categorical_features": self._categorical()}
        imputer, result = fit_imputer(X, **keywords, what="X", names=self.frame_columns_ and self.frame_columns_.names)
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
        return self._output(self.imputer_.transform(self._validate(X, reset=False), k=self.n_samples), X)

    def sample_imputations(self, X, n_imputations=5):
        """``n_imputations`` completions of ``X`` drawn from p(x_m | x_o): an array ``(n_imputations, *X.shape)``,
        or for a DataFrame ``X`` a list of ``n_imputations`` DataFrames in its dtypes."""
        check_is_fitted(self)
        draws = self.imputer_.sample(self._validate(X, reset=False), n_imputations, k=self.n_samples)
        if self.frame_columns_ is None or not is_frame(X):
            return draws
        return [self.frame_columns_.frame(d, index=X.index) for d in draws]
