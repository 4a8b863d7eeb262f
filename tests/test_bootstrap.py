"""The paired bootstrap: the difference it reports, the intervals it gives on data with a known difference."""

from __future__ import annotations

import numpy as np
import pytest

from vaekit.evaluate import paired_bootstrap


def test_a_known_difference_is_inside_the_interval_and_zero_outside():
    rng = np.random.default_rng(0)
    a = rng.normal(0.5, 0.2, size=400)
    b = a + 0.05 + rng.normal(0, 0.05, size=400)  # b is better by 0.05 on every example, up to noise
    r = paired_bootstrap(a, b, seed=1)
    assert r.difference == pytest.approx(np.mean(b - a))
    assert r.low < 0.05 < r.high and r.excludes_zero() and r.low > 0
    # the paired interval is about ±1.96 standard errors of the mean difference
    sem = np.std(b - a) / np.sqrt(len(a))
    assert r.high - r.low == pytest.approx(2 * 1.96 * sem, rel=0.15)
    assert paired_bootstrap(a, b, seed=1) == r  # seeded
    assert paired_bootstrap(b, a, seed=1).difference == pytest.approx(-r.difference)


def test_no_difference_gives_an_interval_around_zero():
    rng = np.random.default_rng(1)
    a = rng.random(300)
    r = paired_bootstrap(a, a + rng.normal(0, 0.1, size=300))
    assert r.low < 0 < r.high and not r.excludes_zero()
    same = paired_bootstrap(a, a)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)


def test_weights_give_the_difference_of_pooled_ratios():
    events = np.array([4, 10, 1, 7])
    hits_a, hits_b = np.array([1, 5, 0, 7]), np.array([2, 9, 1, 3])
    r = paired_bootstrap(hits_a / events, hits_b / events, weights=events)
    assert r.difference == pytest.approx(hits_b.sum() / events.sum() - hits_a.sum() / events.sum())


def test_the_interval_covers_the_true_difference_about_95_times_in_100():
    rng = np.random.default_rng(2)
    covered = []
    for i in range(200):
        a = rng.normal(0, 1, size=60)
        b = a + 0.3 + rng.normal(0, 1, size=60)
        r = paired_bootstrap(a, b, n_resamples=400, seed=i)
        covered.append(r.low <= 0.3 <= r.high)
    assert 0.88 <= np.mean(covered) <= 0.99


def test_groups_move_together_so_correlated_examples_widen_the_interval():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(40), 10)  # 40 tunes of 10 overlapping windows each
    d = np.repeat(rng.normal(0.1, 0.3, size=40), 10) + rng.normal(0, 0.02, size=400)  # a shared offset per tune
    a = rng.random(400)
    by_window = paired_bootstrap(a, a + d)
    by_tune = paired_bootstrap(a, a + d, groups=groups)
    assert by_tune.difference == pytest.approx(by_window.difference) and by_tune.n_groups == 40
    # 40 independent units, not 400: the interval is about sqrt(10) times wider
    ratio = (by_tune.high - by_tune.low) / (by_window.high - by_window.low)
    assert 2.0 < ratio < 4.5


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="same number"):
        paired_bootstrap(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(np.zeros(3), np.zeros(3), level=95)
