"""Paired bootstrap: how sure a difference between two models scored on the same examples is."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CHUNK = 256


@dataclass(frozen=True)
class PairedBootstrap:
    """A paired difference ``b - a`` and its percentile interval at ``level`` (e.g. 0.95).

    ``n``: examples; ``n_groups``: the units resampled (``n`` when examples are resampled one by one).
    """

    difference: float
    low: float
    high: float
    level: float
    n: int
    n_groups: int
    n_resamples: int

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """The weighted mean paired difference of per-example scores ``a`` and ``b`` ``(N,)`` (the same N examples,
    scored by two models), with a percentile bootstrap interval.

        d = Σ_i w_i (b_i - a_i) / Σ_i w_i

    (w_i = 1 without ``weights``; with per-example accuracies a_i = hits_i / n_i and w_i = n_i, d is the
    difference of the two pooled accuracies Σ hits / Σ n). Each of ``n_resamples`` resamples draws the examples
    with replacement, or, with ``groups`` ``(N,)`` (e.g. the tune each window comes from), whole groups with
    replacement, so that correlated examples (overlapping windows of one tune) move together; the interval is
    the (1 - level) / 2 and (1 + level) / 2 percentiles of d over the resamples (Efron & Tibshirani 1993, ch. 13;
    the group resampling is the cluster bootstrap). Seeded: the same inputs and ``seed`` give the same interval.
    """
    a, b = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    g = np.arange(len(a)) if groups is None else np.asarray(groups).reshape(-1)
    if not (len(a) == len(b) == len(w) == len(g)) or len(a) == 0:
        raise ValueError(f"need the same number (> 0) of a, b, weights, groups: {len(a)}, {len(b)}, {len(w)}, {len(g)}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be >= 0 with a positive sum")
    _, group = np.unique(g, return_inverse=True)
    n_groups = int(group.max()) + 1
    # per group: Σ w (b - a) and Σ w, so a resample is a sum over the groups it drew
    numerator = np.bincount(group, weights=w * (b - a), minlength=n_groups)
    denominator = np.bincount(group, weights=w, minlength=n_groups)
    rng = np.random.default_rng(seed)
    d = np.empty(n_resamples)
    for start in range(0, n_resamples, CHUNK):  # memory-bounded: CHUNK x n_groups draws at a time
        drawn = rng.integers(n_groups, size=(min(CHUNK, n_resamples - start), n_groups))
        with np.errstate(invalid="ignore", divide="ignore"):
            d[start : start + len(drawn)] = numerator[drawn].sum(1) / denominator[drawn].sum(1)
    d = d[np.isfinite(d)]  # a resample of only zero-weight groups has no mean
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(d, [tail, 100 - tail])
    return PairedBootstrap(
        difference=float(numerator.sum() / denominator.sum()),
        low=float(low),
        high=float(high),
        level=level,
        n=len(a),
        n_groups=n_groups,
        n_resamples=n_resamples,
    )
