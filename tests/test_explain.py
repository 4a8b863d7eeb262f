"""Explanations of anomaly scores: the planted wrong column is named, shares are proper, and the CLI, the
estimator and the report carry them."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from tests.conftest import expect_error
from vaekit.apps.anomaly import fit_detector
from vaekit.apps.explain import Explanation
from vaekit.cli import main
from vaekit.sklearn import VAEAnomalyDetector

MIXING = np.array([[1, 0.5, -1, 0.8, 0.3, -0.6, 1.2, 0.1], [0.2, -1, 0.4, 0.9, -1.1, 0.5, 0.3, 1.0]])


def _table(rng, n):
    """Rows of 8 correlated columns driven by 2 hidden factors."""
    return rng.normal(size=(n, 2)) @ MIXING + 0.1 * rng.normal(size=(n, 8))


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    train = _table(rng, 2000)
    detector, _ = fit_detector(train, epochs=60, seed=0)
    test = _table(rng, 400)
    column = rng.integers(0, 8, size=len(test))
    # one wrong value per row: that column moved by 4 of its standard deviations
    test[np.arange(len(test)), column] += rng.choice([-4, 4], size=len(test)) * train.std(0)[column]
    return detector, test, column


def test_the_planted_wrong_column_ranks_first(planted):
    detector, test, column = planted
    explanation = detector.explain(test)
    assert (explanation.shares.argmax(1) == column).mean() >= 0.95
    assert explanation.top(1)[0][0][0] == f"x{column[0]}"


def test_shares_sum_to_one_and_each_row_is_explained_alone(planted):
    detector, test, _ = planted
    whole = detector.explain(test)
    sums = whole.shares.sum(1)
    assert np.allclose(sums[sums > 0], 1.0) and (whole.shares >= 0).all()
    assert np.allclose(detector.explain(test[5:9]).shares, whole.shares[5:9])  # no dependence on the batch
    scores, terms = detector.scores_and_terms(test)  # one pass over the draws gives both
    assert np.array_equal(scores, detector.scores(test)) and np.array_equal(terms, whole.terms)
    typical = detector.explain(_table(np.random.default_rng(1), 300))
    assert typical.excess.sum(1).mean() < 0.2 * whole.excess.sum(1).mean()  # normal rows have little to explain


def test_explanation_of_terms_against_their_baseline():
    e = Explanation.from_terms(np.array([[3.0, 1.0, 2.0], [0.5, 0.5, 0.5]]), np.array([1.0, 1.0, 1.0]), ["a", "b", "c"])
    assert e.shares.tolist() == [[2 / 3, 0.0, 1 / 3], [0.0, 0.0, 0.0]]
    assert e.top(2)[0] == [("a", 2 / 3), ("c", 1 / 3)]


def test_estimator_explains_with_its_feature_names():
    rng = np.random.default_rng(2)
    est = VAEAnomalyDetector(epochs=20, n_samples=16, random_state=0).fit(_table(rng, 300))
    e = est.explain(_table(rng, 5))
    assert e.shares.shape == (5, 8) and e.features[0] == "x0"


def test_cli_scores_with_explanations_and_the_report_shows_them(tmp_path, capsys):
    rng = np.random.default_rng(3)
    names = [f"c{j}" for j in range(8)]
    for name, rows in (("train", _table(rng, 400)), ("test", _table(rng, 20))):
        with open(tmp_path / f"{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([names, *rows.round(5).tolist()])
    run = tmp_path / "det"
    assert main(["anomaly", "fit", "--data", str(tmp_path / "train.csv"), "--out", str(run), "--epochs", "5"]) == 0
    assert (run / "explanations.png").is_file()
    assert "Why the most anomalous training rows are flagged" in (run / "report.html").read_text()
    out = tmp_path / "scores.csv"
    argv = ["anomaly", "score", str(run), "--data", str(tmp_path / "test.csv"), "-o", str(out)]
    assert main([*argv, "--explain", "2"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["anomaly_score", "is_anomaly", "feature_1", "share_1", "feature_2", "share_2"]
    assert len(rows) == 21 and all(r[2] in names and 0.0 <= float(r[3]) <= 1.0 for r in rows[1:])
    capsys.readouterr()
    expect_error(capsys, [*argv, "--explain", "-1"], "--explain must be 0 or more")
