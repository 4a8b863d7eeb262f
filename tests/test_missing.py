"""Missing data and mixed tables: masked likelihoods, exact conditionals of a linear-Gaussian model, anomaly
scores against the exact log-likelihood, and the per-row determinism scikit-learn relies on."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from linear_gaussian import linear_gaussian_vae, set_optimal_posterior
from vaekit import build_vae, iwae
from vaekit.apps.anomaly import anomaly_scores
from vaekit.apps.imputation import impute, inpaint, mask_images, sample_imputations
from vaekit.distributions import MaskedIndependent, MixedColumns, inverse_softplus, log_prob_observed, positive_scale
from vaekit.errors import DataError

NAN = float("nan")


def test_masked_likelihood_sums_observed_entries_only():
    loc, scale = torch.randn(4, 5), torch.rand(4, 5) + 0.5
    x = torch.randn(4, 5)
    x[0, 1] = x[2, :] = NAN
    lp = MaskedIndependent(Normal(loc, scale), 1).log_prob(x)
    elementwise = Normal(loc, scale).log_prob(x.nan_to_num(0.0))
    expected = torch.where(torch.isnan(x), 0.0, elementwise).sum(-1)
    torch.testing.assert_close(lp, expected)
    assert lp[2] == 0, "a row with nothing observed carries no evidence"
    # without holes it is the ordinary Independent log-likelihood
    full = torch.randn(4, 5)
    torch.testing.assert_close(
        log_prob_observed(torch.distributions.Independent(Normal(loc, scale), 1), full),
        Normal(loc, scale).log_prob(full).sum(-1),
    )


def test_mixed_columns_log_prob_mean_and_sample():
    categories = (0, 3, 0, 2)
    loc, scale = torch.randn(7, 2), torch.tensor([0.5, 2.0])
    logits = torch.randn(7, 5)
    px = MixedColumns(loc, scale, logits, categories)
    x = torch.stack(
        [torch.randn(7), torch.randint(0, 3, (7,)).float(), torch.randn(7), torch.randint(0, 2, (7,)).float()], 1
    )
    x[3, 1] = x[5, 0] = NAN
    a, b = logits[:, :3].log_softmax(-1), logits[:, 3:].log_softmax(-1)
    by_hand = torch.stack(
        [
            Normal(loc[:, 0], scale[0]).log_prob(x[:, 0].nan_to_num(0.0)),
            a.gather(1, x[:, 1].nan_to_num(0.0).long()[:, None])[:, 0],
            Normal(loc[:, 1], scale[1]).log_prob(x[:, 2]),
            b.gather(1, x[:, 3].long()[:, None])[:, 0],
        ],
        1,
    ).masked_fill(torch.isnan(x), 0.0)
    torch.testing.assert_close(px.log_prob(x), by_hand.sum(-1))
    mean = px.mean
    torch.testing.assert_close(mean[:, [0, 2]], loc)
    assert torch.equal(mean[:, 1], a.argmax(-1).float()) and torch.equal(mean[:, 3], b.argmax(-1).float())
    draws = px.sample((1000,))
    assert draws.shape == (1000, 7, 4)
    assert set(draws[..., 1].unique().tolist()) <= {0.0, 1.0, 2.0}
    freq = (draws[:, 0, 1] == 0).float().mean()
    assert abs(float(freq) - float(a[0].exp()[0])) < 0.06


def _gaussian_conditional(w, b, noise, x_row, missing):
    """Exact E[x_m | x_o] and Cov[x_m | x_o] under x ~ N(b, W W^T + noise^2 I)."""
    cov = w @ w.T + noise**2 * torch.eye(len(b), dtype=w.dtype)
    o, m = ~missing, missing
    gain = cov[m][:, o] @ torch.linalg.inv(cov[o][:, o])
    mean = b[m] + gain @ (x_row[o] - b[o])
    return mean, cov[m][:, m] - gain @ cov[o][:, m]


def test_imputation_converges_to_the_exact_gaussian_conditional(linear_model):
    w, b, noise, x, _ = linear_model
    vae = linear_gaussian_vae(w, b, noise)
    set_optimal_posterior(vae, w, b, noise)  # optimal for complete rows; with holes it is only a proposal,
    with torch.no_grad():  # so widen it (a proposal must not be narrower than the target)
        bias = vae.encoder.trunk.bias[3:]
        bias.copy_(torch.tensor([inverse_softplus(2 * float(s)) for s in positive_scale(bias)]))
    rows = x[:4].clone()
    missing = torch.zeros_like(rows, dtype=torch.bool)
    missing[0, [1, 4]] = missing[1, 0] = missing[2, [0, 2, 3]] = missing[3, 5] = True
    rows[missing] = NAN
    fill = b.expand_as(rows)  # the encoder sees the column means where a value is missing
    filled = impute(vae, rows, k=20_000, seed=0, fill=fill)
    draws = sample_imputations(vae, rows, 4000, k=20_000, seed=1, fill=fill)
    for i in range(4):
        mean, cov = _gaussian_conditional(w, b, noise, x[i], missing[i])
        assert torch.equal(filled[i][~missing[i]], rows[i][~missing[i]]), "observed entries are kept"
        torch.testing.assert_close(filled[i][missing[i]], mean, atol=0.06, rtol=0)
        d = draws[:, i][:, missing[i]]
        torch.testing.assert_close(d.mean(0), mean, atol=0.06, rtol=0)
        torch.testing.assert_close(d.var(0), torch.diagonal(cov), atol=0.06, rtol=0.15)


def test_nll_score_is_the_exact_negative_log_likelihood(linear_model):
    w, b, noise, x, exact = linear_model
    vae = linear_gaussian_vae(w, b, noise)
    set_optimal_posterior(vae, w, b, noise)  # then every importance weight equals p(x)
    torch.testing.assert_close(anomaly_scores(vae, x, score="nll", k=7), -exact)
    # the negative ELBO equals -log p(x) when q is the posterior; its reconstruction term is a k-draw average
    elbo = anomaly_scores(vae, x[:8], score="elbo", k=20_000)
    torch.testing.assert_close(elbo, -exact[:8], atol=0.05, rtol=0)
    recon = anomaly_scores(vae, x, score="recon")
    torch.testing.assert_close(recon, (x - vae.reconstruct(x)).pow(2).sum(-1))


def test_scores_and_imputations_depend_on_the_row_alone(linear_model):
    w, b, noise, x, _ = linear_model
    vae = linear_gaussian_vae(w, b, noise)  # an untrained encoder: every row's estimate is noisy
    full = anomaly_scores(vae, x, score="nll", k=50, seed=3, max_draws=500)
    part = anomaly_scores(vae, x[5:17], score="nll", k=50, seed=3, max_draws=150)
    torch.testing.assert_close(part, full[5:17], atol=1e-10, rtol=0)
    holes = x.clone()
    holes[::3, 2] = NAN
    torch.testing.assert_close(impute(vae, holes[5:17], k=64, seed=1), impute(vae, holes, k=64, seed=1)[5:17])
    assert not torch.equal(anomaly_scores(vae, x, k=50, seed=4), full), "the seed picks the draws"


def _train_miwae(vae, holes: torch.Tensor, n_samples: int, steps: int = 150) -> torch.Tensor:
    """A bare MIWAE loop (the IWAE bound on incomplete rows, batches of 64); returns the last loss."""
    vae.init_from_data(holes)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = iwae(vae, holes[torch.randint(0, len(holes), (64,))], n_samples=n_samples).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.detach()


def test_miwae_trains_on_incomplete_rows_and_beats_the_mean():
    torch.manual_seed(0)
    z = torch.randn(600, 2)
    x = z @ torch.randn(2, 6) + 0.1 * torch.randn(600, 6)
    x = (x - x.mean(0)) / x.std(0)
    holes = x.clone()
    removed = torch.rand(x.shape) < 0.3
    removed[removed.all(1), 0] = False
    holes[removed] = NAN
    vae = build_vae((6,), likelihood="gaussian", missing=True, latent_dim=2, hidden=(32,))
    assert torch.isfinite(_train_miwae(vae, holes, n_samples=8))
    filled = impute(vae, holes, k=200)
    mse = (filled - x)[removed].pow(2).mean()
    assert mse < 0.3, f"imputation error {mse:.3f} should be far below the mean's (about 1)"


def test_mixed_table_model_trains_and_imputes_levels():
    torch.manual_seed(0)
    level = torch.randint(0, 3, (400,))
    value = level.float() * 2 + 0.1 * torch.randn(400)
    x = torch.stack([value, level.float(), -value], 1)
    holes = x.clone()
    holes[::4, 1] = NAN  # the level is implied by the numbers
    vae = build_vae((3,), likelihood="mixed", categories=(0, 3, 0), latent_dim=2, hidden=(32,))
    _train_miwae(vae, holes, n_samples=4)
    filled = impute(vae, holes, k=100)
    accuracy = (filled[::4, 1] == x[::4, 1]).float().mean()
    assert accuracy > 0.9, f"only {accuracy:.2f} of the missing levels recovered"


def test_inpainting_masks_and_keeps_observed_pixels():
    torch.manual_seed(0)
    vae = build_vae((1, 8, 8), latent_dim=3, hidden=(16,))
    x = torch.rand(5, 1, 8, 8)
    half = mask_images(x, "half")
    assert torch.isnan(half[..., 4:, :]).all() and not torch.isnan(half[..., :4, :]).any()
    random = mask_images(x, "random", seed=1)
    assert 0.3 < torch.isnan(random).float().mean() < 0.7
    out = inpaint(vae, half, k=32)
    assert not torch.isnan(out).any()
    assert torch.equal(out[..., :4, :], x[..., :4, :])
    with pytest.raises(DataError, match="no observed value"):
        impute(vae, torch.full((1, 1, 8, 8), NAN))


def test_config_rejects_inconsistent_missing_data_models():
    from vaekit.errors import VaekitError

    with pytest.raises(VaekitError, match="categories"):
        build_vae((3,), likelihood="mixed")
    with pytest.raises(VaekitError, match="categories"):
        build_vae((3,), likelihood="mixed", categories=(0, 1, 0))
    with pytest.raises(VaekitError, match="arch mlp"):
        build_vae((1, 8, 8), arch="conv", missing=True)
    with pytest.raises(VaekitError, match="3 columns"):
        build_vae((4,), likelihood="mixed", categories=(0, 2, 0))
    assert math.isfinite(float(build_vae((3,), likelihood="mixed", categories=(0, 2, 0)).sample(2).sum()))
