"""Why a row is anomalous: each feature's share of how badly the model explains it.

A factorised decoder splits the reconstruction term exactly over features: -log p(x|z) = sum_j -log p(x_j|z).
For a row x, the term of feature j is its expectation under the posterior, estimated with the detector's
k draws z_i ~ q(z|x) and self-normalised importance weights w_i ∝ p(x, z_i) / q(z_i|x) (the same draws that
give the ``nll`` score):

    t_j(x) = sum_i w_i * (-log p(x_j | z_i))

so it is how badly the model explains column j when it explains the row as a whole as well as it can, i.e.
given the other columns. Some columns are always explained worse than others (a noisy one, a learned scale),
so the explanation counts what a row has beyond the usual: the excess e_j = max(0, t_j(x) - b_j) over the
median b_j of t_j on the training rows, and the share of feature j is e_j / sum_l e_l (all zero for a row
no worse than usual anywhere). Imputing each feature from the others and measuring the drop in score would
answer the same question at F + 1 scorings per row instead of one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.distributions import Distribution, Independent

from vaekit.errors import DataError
from vaekit.evaluate.conditional import common_noise, row_chunks, weighted_draws
from vaekit.model import VAE
from vaekit.utils import inference

# training rows whose terms set the baseline (a subsample beyond this: the median settles long before)
BASELINE_ROWS = 5000


def per_feature_log_prob(px: Distribution, x: torch.Tensor) -> torch.Tensor:
    """log p(x_j | z) per feature ``(*batch, F)``, for ``px`` of batch shape ``batch`` at ``x (B, *x_shape)``."""
    if not isinstance(px, Independent):
        raise DataError(
            "this model's likelihood does not factorise over features", "explanations need a Gaussian or Bernoulli one"
        )
    log_p = px.base_dist.log_prob(x)
    return log_p.flatten(log_p.dim() - px.reinterpreted_batch_ndims)


@inference
def feature_terms(
    vae: VAE, x: torch.Tensor, *, k: int = 100, seed: int = 0, max_draws: int = 8192, nll: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``(N, F)``: each feature's expected -log p(x_j | z) under the importance-weighted posterior of its row.

    ``x`` is ``(N, *x_shape)`` model input (standardised where the model was trained so). Every row uses the
    same ``k`` noise draws from ``seed``, so a row's terms depend on that row alone. With ``nll`` also the
    rows' importance-sampled -log p(x) ``(N,)`` from the same draws (the ``nll`` anomaly score), as a pair.
    """
    eps = common_noise(k, vae.latent_dim, seed, dtype=x.dtype, device=x.device)
    out = x.new_empty(len(x), math.prod(vae.x_shape))
    neg_log_px = x.new_empty(len(x))
    for rows in row_chunks(len(x), k, max_draws):
        d = weighted_draws(vae, x[rows], eps)
        w = torch.softmax(d.log_w, 0)  # (k, B)
        out[rows] = -(w.unsqueeze(-1) * per_feature_log_prob(d.px, x[rows])).sum(0)
        neg_log_px[rows] = math.log(k) - torch.logsumexp(d.log_w, 0)
    return (out, neg_log_px) if nll else out


def baseline(terms: np.ndarray) -> np.ndarray:
    """The median term of each feature over (a subsample of) the training rows, ``(F,)``."""
    if len(terms) > BASELINE_ROWS:
        terms = terms[np.linspace(0, len(terms) - 1, BASELINE_ROWS).astype(int)]
    return np.median(terms, axis=0)


@dataclass(frozen=True)
class Explanation:
    """Per row, each feature's share of what makes the row anomalous (see the module's docstring).

    ``shares`` ``(N, F)``: rows sum to 1, or are all 0 for a row that no feature makes worse than usual;
    ``excess`` ``(N, F)``: nats by which each feature's term exceeds its training median; ``terms`` ``(N, F)``:
    the terms themselves; ``features``: the F feature names.
    """

    shares: np.ndarray
    excess: np.ndarray
    terms: np.ndarray
    features: list[str]

    @classmethod
    def from_terms(cls, terms: np.ndarray, base: np.ndarray | None, features: Sequence[str]) -> Explanation:
        excess = np.clip(terms - (0.0 if base is None else np.asarray(base)), 0.0, None)
        total = excess.sum(1, keepdims=True)
        shares = np.divide(excess, total, out=np.zeros_like(excess), where=total > 0)
        return cls(shares, excess, terms, list(features))

    def top(self, n: int) -> list[list[tuple[str, float]]]:
        """Per row, the ``n`` features with the largest shares (largest first), as ``(name, share)`` pairs."""
        order = np.argsort(-self.shares, axis=1, kind="stable")[:, :n]
        return [[(self.features[j], float(self.shares[i, j])) for j in row] for i, row in enumerate(order)]

    def to_frame(self) -> Any:
        """The shares as a pandas DataFrame, one column per feature (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise DataError("pandas is not installed", "pip install pandas, or use .shares") from None
        return pd.DataFrame(self.shares, columns=self.features)


def feature_names(columns: Sequence[str] | None, n: int) -> list[str]:
    """The given column names, else ``x0 .. x{n-1}``."""
    return list(columns) if columns is not None and len(columns) == n else [f"x{j}" for j in range(n)]


def explanations_png(
    explanation: Explanation, scores: np.ndarray, path: str | os.PathLike, *, rows: int = 5, features: int = 8
) -> None:
    """Bar charts of the feature shares of the ``rows`` highest-scoring rows (their ``features`` largest)."""
    import matplotlib

    from vaekit.apps.images import save_png

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    worst = np.argsort(-scores, kind="stable")[:rows]
    ncols = max(1, min(3, len(worst)))
    nrows = max(1, math.ceil(len(worst) / ncols))
    fig = Figure(figsize=(4.2 * ncols, 2.9 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).flatten()
    for ax in axes[len(worst) :]:
        ax.set_axis_off()
    for ax, i in zip(axes, worst, strict=False):
        top = explanation.top(features)[i][::-1]
        ax.barh([name for name, _ in top], [share for _, share in top], color="tab:red")
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the excess -log p(x_j | z)")
        ax.set_title(f"row {i}: score {scores[i]:.3g}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
