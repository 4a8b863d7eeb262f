"""scikit-learn's own estimator checks on VAEAnomalyDetector and VAEImputer (small, fast settings)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit.sklearn import VAEAnomalyDetector, VAEImputer

FAST = {"epochs": 3, "n_samples": 16, "hidden": (16,), "random_state": 0}

# Checks that cannot apply, with the reason; scikit-learn would mark them as expected failures. There are none:
# every check applies and passes. (The array-API check skips itself without SCIPY_ARRAY_API=1; the pandas
# checks run, since pandas is in the dev extra.)
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


@parametrize_with_checks(
    [VAEAnomalyDetector(**FAST), VAEImputer(**FAST, n_train_samples=4)],
    expected_failed_checks=lambda est: EXPECTED_FAILURES.get(type(est).__name__, {}),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
