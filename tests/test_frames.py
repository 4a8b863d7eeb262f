"""pandas DataFrames through the estimators: numeric, boolean and categorical columns in, the caller's column
order and dtypes out, feature names kept, and clear errors where a frame does not fit."""

from __future__ import annotations

import numpy as np
import pytest

from vaekit.sklearn import VAEAnomalyDetector, VAEImputer

pd = pytest.importorskip("pandas")


def _people(n=300, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    return pd.DataFrame(
        {
            "height": 170 + 10 * t + rng.normal(size=n),
            "visits": np.clip(np.rint(3 + 2 * t), 0, None).astype("int64"),
            "smoker": t > 0.5,
            "colour": pd.Categorical(np.where(t > 0, "red", "blue"), categories=["blue", "green", "red"]),
            "city": pd.Series(np.where(t > 1, "Oslo", np.where(t < -1, "Rome", "Paris")), dtype=object),
        }
    )


def test_imputer_returns_the_callers_columns_dtypes_and_observed_values():
    people = _people()
    gaps = people.copy()
    gaps.loc[::7, "height"] = np.nan
    gaps.loc[::5, "colour"] = np.nan
    gaps.loc[::6, "city"] = None
    imputer = VAEImputer(epochs=30, n_samples=50, random_state=0).set_output(transform="pandas")
    out = imputer.fit_transform(gaps)
    assert list(out.columns) == list(people.columns) and out.index.equals(gaps.index)
    assert out.dtypes.to_dict() == gaps.dtypes.to_dict()
    assert list(out["colour"].cat.categories) == ["blue", "green", "red"]  # categories stay categories
    assert not out.isna().any().any()
    observed = gaps.notna()
    for name in people.columns:  # observed cells come back as they were
        assert (out[name][observed[name]] == gaps[name][observed[name]]).all(), name
    assert set(out["city"]) <= {"Oslo", "Paris", "Rome"}
    # the categorical likelihood learned the columns' relation to the others: most holes get the right level
    assert (out["colour"][::5] == people["colour"][::5]).mean() > 0.7
    assert list(imputer.feature_names_in_) == list(people.columns)
    assert list(imputer.get_feature_names_out()) == list(people.columns)
    assert imputer.categories_ == (0, 0, 2, 3, 3)  # smoker, colour and city got a categorical likelihood


def test_default_output_is_an_array_and_draws_keep_the_frame():
    gaps = _people(120)
    gaps.loc[::4, "height"] = np.nan
    imputer = VAEImputer(epochs=5, n_samples=20, random_state=0).fit(gaps)
    out = imputer.transform(gaps)
    assert isinstance(out, np.ndarray) and out.shape == gaps.shape and out[0, 3] in ("blue", "green", "red")
    draws = imputer.sample_imputations(gaps.head(4), 3)
    assert len(draws) == 3 and all(d.dtypes.to_dict() == gaps.dtypes.to_dict() for d in draws)


def test_a_level_not_seen_in_training_is_an_error():
    people = _people(120)
    imputer = VAEImputer(epochs=3, n_samples=10, random_state=0).fit(people)
    bad = people.head(3).copy()
    bad.loc[1, "city"] = "Lima"
    with pytest.raises(ValueError, match="column 'city' of X has the level 'Lima', not seen in training"):
        imputer.transform(bad)
    with pytest.raises(ValueError, match="fitted on a DataFrame with categorical or boolean columns"):
        imputer.transform(np.zeros((2, 5)))


def test_detector_reads_categories_as_indicators_and_explains_per_column():
    people = _people()
    detector = VAEAnomalyDetector(epochs=30, n_samples=16, random_state=0).fit(people)
    assert list(detector.feature_names_in_) == list(people.columns)
    assert detector.input_columns_[3:6] == ["colour=blue", "colour=green", "colour=red"]
    odd = people.head(20).copy()
    odd["colour"] = pd.Categorical(np.where(odd["colour"] == "red", "blue", "red"), categories=["blue", "green", "red"])
    assert detector.score_samples(odd).mean() < detector.score_samples(people.head(20)).mean()
    explanation = detector.explain(odd)
    assert explanation.features == list(people.columns) and explanation.shares.shape == (20, 5)
    with pytest.raises(ValueError, match="feature names"):  # scikit-learn's own check of the names
        detector.score_samples(people.rename(columns={"height": "tall"}))
