"""A hierarchical VAE with top-down inference, in the style of the Ladder VAE."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vaekit.distributions import full_precision, kl_per_dim, positive_scale, sample_from
from vaekit.model.decoder import Decoder
from vaekit.model.draw import Draw
from vaekit.model.protocol import module_device
from vaekit.model.vae import VAE


def _gaussian(params: torch.Tensor) -> Normal:
    loc, raw = full_precision(params).chunk(2, dim=-1)
    return Normal(loc, positive_scale(raw))


def _precision_weighted(up: Normal, down: Normal) -> Normal:
    """The product of two Gaussians, renormalised: precisions add, means are precision-weighted."""
    p_up, p_down = up.scale.pow(-2), down.scale.pow(-2)
    var = 1.0 / (p_up + p_down)
    return Normal((up.loc * p_up + down.loc * p_down) * var, var.sqrt())


class LadderVAE(nn.Module):
    """p(x, z_1..z_L) = p(z_L) prod_l p(z_l | z_{l+1}) p(x | z_1..z_L), with top-down inference.

    Sønderby et al. 2016, arXiv:1602.02282. A deterministic bottom-up pass ``d_l = up_l(d_{l-1})``,
    ``d_0 = x``, gives each layer a Gaussian "likelihood term" ``N(mu^_l, sigma^_l)``. Inference then runs top
    down with the generative model: q(z_L|x) comes from ``d_L``; below it,
    q(z_l | z_{l+1}, x) is the precision-weighted combination of ``N(mu^_l, sigma^_l)`` and the prior
    p(z_l | z_{l+1}) (precisions add, means are precision-weighted). The decoder sees all layers concatenated
    (a skip connection from every latent to x).

    With ``conditional`` the lower posteriors are networks instead: q(z_l | x, z_{l+1}) =
    N(posterior_l(concat(d_l, z_{l+1}))), the two-layer HVAE of Tomczak & Welling 2018 (arXiv:1705.07120):
    q(z_2|x) q(z_1|x, z_2), p(z_2) p(z_1|z_2) p(x|z_1, z_2).

    Layers are indexed bottom (next to x) first; ``latent_dim`` is the top layer's size, the code that
    :meth:`encode` returns and :meth:`decode` takes. It offers the :class:`~vaekit.model.LatentModel`
    interface; it never takes labels (``n_classes == 0``: a label-conditional VAE is single-layer).

    - ``up``: L trunks; ``up[0]`` maps ``(N, *x_shape)`` to features, ``up[l]`` maps features to features;
    - ``posterior``: L maps from ``d_l`` to ``2 * latent_dims[l]`` (loc, raw scale); with ``conditional`` the
      lower L - 1 take ``concat(d_l, z_{l+1})``;
    - ``down``: L - 1 trunks, ``down[l]`` maps ``z_{l+1}`` to ``2 * latent_dims[l]`` (p(z_l | z_{l+1}));
    - ``decoder``: p(x | concat(z_1..z_L)); ``prior``: p(z_L) (a standard normal, a mixture or a VampPrior).
    """

    TRUNKS = ("up", "posterior", "down")  # tensor-in, tensor-out children: what compile_trunks compiles

    def __init__(
        self,
        up: Sequence[nn.Module],
        posterior: Sequence[nn.Module],
        down: Sequence[nn.Module],
        decoder: Decoder,
        prior: nn.Module,
        latent_dims: Sequence[int],
        config: dict[str, Any] | None = None,
        conditional: bool = False,
    ):
        super().__init__()
        self.conditional = conditional
        if not (len(up) == len(posterior) == len(latent_dims) == len(down) + 1 >= 2):
            raise ValueError("a ladder needs L >= 2 layers: L up trunks, L posterior maps, L - 1 down trunks")
        if decoder.latent_dim != sum(latent_dims):
            raise ValueError("the decoder must take all layers concatenated")
        self.up, self.posterior, self.down = nn.ModuleList(up), nn.ModuleList(posterior), nn.ModuleList(down)
        self.decoder, self.prior = decoder, prior
        self.latent_dims = tuple(latent_dims)
        self.config = config
        if hasattr(prior, "attach"):
            prior.attach(self.encode)

    @property
    def x_shape(self) -> tuple[int, ...]:
        return self.decoder.x_shape

    @property
    def latent_dim(self) -> int:
        return self.latent_dims[-1]

    @property
    def n_classes(self) -> int:
        """0: a ladder is never conditional."""
        return 0

    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return module_device(self)

    @staticmethod
    def _no_labels(y: torch.Tensor | None) -> None:
        if y is not None:
            raise ValueError("a ladder VAE is not conditional; it takes no labels y")

    def _bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The deterministic features ``d_1..d_L`` of ``x``, each ``(*lead, features)``."""
        lead = x.shape[: x.dim() - len(self.x_shape)]
        h = x.reshape(-1, *self.x_shape)
        features = []
        for up in self.up:
            h = up(h)
            features.append(h.view(*lead, h.shape[-1]))
        return features

    def _q_top(self, features: list[torch.Tensor]) -> Normal:
        return _gaussian(self.posterior[-1](features[-1]))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """q(z_L | x), the top layer's posterior (``y`` must be ``None``)."""
        self._no_labels(y)
        return Independent(self._q_top(self._bottom_up(x)), 1)

    def _posterior(self, layer: int, d: torch.Tensor, z_above: torch.Tensor, p: Normal) -> Normal:
        """q(z_l | x, z_{l+1}) from the features ``d`` of x and the layer above's draw."""
        if self.conditional:
            d = d.expand(*z_above.shape[:-1], d.shape[-1])
            return _gaussian(self.posterior[layer](torch.cat([d, z_above], dim=-1)))
        return _precision_weighted(_gaussian(self.posterior[layer](d)), p)

    def _top_down(
        self,
        features: list[torch.Tensor] | None,
        z_top: torch.Tensor,
        mean: bool,
        eps: Sequence[torch.Tensor] | None = None,
    ) -> tuple[list[torch.Tensor], list[Normal], list[Normal]]:
        """Walk down from z_L. With ``features`` (of x, per layer) it infers, else it generates.

        Each lower layer is drawn z_l = mu_l + sigma_l * eps_l with ``eps[l]`` (bottom first) when given, fresh
        noise otherwise, or set to mu_l with ``mean``.
        """
        zs, qs, ps = [z_top], [], []
        for layer in reversed(range(len(self.down))):
            p = _gaussian(self.down[layer](zs[-1]))
            ps.append(p)
            q = p if features is None else self._posterior(layer, features[layer], zs[-1], p)
            qs.append(q)
            if mean:
                zs.append(q.mean)
            elif eps is not None:
                zs.append(q.loc + q.scale * eps[layer])
            else:
                zs.append(q.rsample())
        return zs, qs, ps

    def _decode_layers(self, zs_top_first: list[torch.Tensor]) -> Distribution:
        return self.decoder(torch.cat(zs_top_first[::-1], dim=-1))

    def forward(
        self,
        x: torch.Tensor,
        n_samples: int | None = None,
        y: torch.Tensor | None = None,
        *,
        eps: torch.Tensor | None = None,
        pz: Distribution | None = None,
    ) -> Draw:
        """One reparameterised top-down pass (``n_samples`` draws per example, leading); see :class:`Draw`.

        With ``eps`` (standard-normal noise broadcasting to ``(*sample, *lead, sum(latent_dims))``, layers bottom
        first as in ``latent_dims``) every layer is drawn z_l = mu_l + sigma_l * eps_l instead of fresh noise;
        give ``n_samples`` or ``eps``, not both. ``y`` must be ``None``. ``pz``: p(z_L) already computed by
        ``self.prior()``.
        """
        self._no_labels(y)
        layer_eps = None
        if eps is not None:
            if n_samples is not None:
                raise ValueError("give n_samples or eps, not both: eps's leading dimensions are the draws")
            if eps.shape[-1] != sum(self.latent_dims):
                raise ValueError(
                    f"eps has {eps.shape[-1]} columns, the ladder needs sum(latent_dims) = {sum(self.latent_dims)}"
                    f" (one per latent dimension of every layer {self.latent_dims}, bottom first)"
                )
            layer_eps = eps.split(self.latent_dims, dim=-1)
        features = self._bottom_up(x)
        q_top = Independent(self._q_top(features), 1)
        if layer_eps is None:
            z_top = q_top.rsample(() if n_samples is None else (n_samples,))
        else:
            z_top = q_top.mean + q_top.stddev * layer_eps[-1]
        if pz is None:
            pz = self.prior()
        log_qz, log_pz = q_top.log_prob(z_top), pz.log_prob(z_top)
        top_per_dim = kl_per_dim(q_top, pz)
        kl_top = log_qz - log_pz if top_per_dim is None else top_per_dim.expand_as(z_top).sum(-1)
        zs, qs, ps = self._top_down(features, z_top, mean=False, eps=layer_eps)
        kl, per_dims = kl_top, [] if top_per_dim is None else [top_per_dim.expand_as(z_top)]
        for z, q, p in zip(zs[1:], qs, ps, strict=True):
            log_qz = log_qz + q.log_prob(z).sum(-1)
            log_pz = log_pz + p.log_prob(z).sum(-1)
            layer_kl = kl_divergence(q, p)
            kl = kl + layer_kl.sum(-1)
            per_dims.append(layer_kl)
        kl_dims = None if top_per_dim is None else torch.cat(per_dims[::-1], dim=-1)
        means = tuple(q.loc for q in qs[::-1]) + (q_top.mean.expand_as(z_top),)
        return Draw(z_top, self._decode_layers(zs), lambda: (log_qz, log_pz), kl, kl_dims, means)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """p(x | z_L, and each lower layer at its conditional prior mean) (``y`` must be ``None``)."""
        self._no_labels(y)
        zs, _, _ = self._top_down(None, z, mean=True)
        return self._decode_layers(zs)

    init_from_data = VAE.init_from_data  # the same rule: decoder output bias, then the prior if it has a hook

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        mean: bool = True,
        y: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``n`` new examples ``(n, *x_shape)``: z_L from the prior, each lower layer
        z_l = mu_l + T sigma_l eps from p(z_l | z_{l+1}); E[x|z] with ``mean``, else x ~ p(x|z) (T = 1).

        ``y`` must be ``None``.
        """
        self._no_labels(y)
        zs = [self.prior.sample(n, temperature=temperature, generator=generator)]
        for layer in reversed(range(len(self.down))):
            p = _gaussian(self.down[layer](zs[-1]))
            eps = torch.randn(p.loc.shape, generator=generator, dtype=p.loc.dtype, device=p.loc.device)
            zs.append(p.loc + temperature * p.scale * eps)
        px = self._decode_layers(zs)
        return px.mean if mean else sample_from(px, generator=generator)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a folder that :func:`vaekit.load` reads back (``config.json`` with its config,
        ``model.safetensors``): the two halves of one format, as a training run folder holds it."""
        from vaekit.run import save  # the run-folder format lives above the model layer

        return save(self, path)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[x | z], every layer at its posterior mean (top down); the shape of ``x``. ``y`` must be ``None``."""
        self._no_labels(y)
        features = self._bottom_up(x)
        zs, _, _ = self._top_down(features, self._q_top(features).loc, mean=True)
        return self._decode_layers(zs).mean
