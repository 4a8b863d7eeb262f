"""Disentanglement against known generative factors: the Mutual Information Gap (MIG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MIG:
    """The Mutual Information Gap and what it is made of.

    ``mig``: the mean over factors of ``gaps``; ``gaps[k] = (I(z_a; v_k) - I(z_b; v_k)) / H(v_k)`` for the
    latent dimensions a, b with the largest and second largest mutual information with factor k;
    ``mutual_info``: ``(latent_dim, n_factors)`` in nats; ``entropy``: H(v_k) in nats; ``top_dims``: a per factor.
    """

    mig: float
    gaps: list[float]
    factor_names: list[str]
    mutual_info: list[list[float]]
    entropy: list[float]
    top_dims: list[int]
    n_examples: int
    n_bins: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def discretize(codes: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Each column of ``codes (N, d)`` into ``n_bins`` equal-width bins over its range: ints ``(N, d)``."""
    codes = np.asarray(codes, dtype=np.float64)
    lo, hi = codes.min(0), codes.max(0)
    width = np.where(hi > lo, (hi - lo) / n_bins, 1.0)
    return np.clip(((codes - lo) / width).astype(np.int64), 0, n_bins - 1)


def _mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two integer sequences, from their joint histogram (plug-in estimate)."""
    _, a_idx = np.unique(a, return_inverse=True)
    _, b_idx = np.unique(b, return_inverse=True)
    joint = np.zeros((a_idx.max() + 1, b_idx.max() + 1))
    np.add.at(joint, (a_idx, b_idx), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def mutual_information_gap(
    codes: np.ndarray, factors: np.ndarray, *, factor_names: Sequence[str] | None = None, n_bins: int = 20
) -> MIG:
    """MIG of latent codes ``(N, d)`` (posterior means) against factor indices ``(N, K)``.

    MIG = 1/K sum_k (I(z_a; v_k) - I(z_b; v_k)) / H(v_k), with a = argmax_j I(z_j; v_k) and b the runner-up
    (Chen et al. 2018, arXiv:1802.04942, eq. (4)). Mutual information is the plug-in estimate on codes
    discretised into ``n_bins`` equal-width bins per dimension, as in Locatello et al. 2019 (arXiv:1811.12359);
    a factor with more values than bins cannot reach a gap of 1. Factors that never vary are left out.
    1 means each factor is captured by one dimension alone; 0 that no dimension singles a factor out.
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"need codes (N, d) and factors (N, K), got {codes.shape} and {factors.shape}")
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least 2 latent dimensions")
    names = list(factor_names) if factor_names is not None else [f"v{k}" for k in range(factors.shape[1])]
    binned = discretize(codes, n_bins)
    mi = np.array(
        [[_mutual_info(binned[:, j], factors[:, k]) for k in range(factors.shape[1])] for j in range(codes.shape[1])]
    )
    entropy = np.array([_mutual_info(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])
    keep = entropy > 0
    if not keep.any():
        raise ValueError("no factor varies over these examples")
    ranked = np.sort(mi, axis=0)[::-1]
    gaps = (ranked[0] - ranked[1]) / np.where(keep, entropy, 1.0)
    return MIG(
        mig=float(gaps[keep].mean()),
        gaps=[float(g) if k else float("nan") for g, k in zip(gaps, keep, strict=True)],
        factor_names=names,
        mutual_info=mi.tolist(),
        entropy=entropy.tolist(),
        top_dims=[int(j) for j in mi.argmax(0)],
        n_examples=len(codes),
        n_bins=n_bins,
    )
