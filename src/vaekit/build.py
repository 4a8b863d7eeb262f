"""The one place where configuration names become classes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError
from torch import nn

from vaekit.config import ModelConfig, validation_message
from vaekit.distributions import BernoulliHead, DiagonalGaussianHead, GaussianHead, MixedTableHead
from vaekit.errors import VaekitError
from vaekit.model import VAE, Decoder, Encoder, LadderVAE, MixturePrior, StandardNormalPrior, VampPrior
from vaekit.model.condition import OneHotLabel
from vaekit.nn import ConcatFlat, ConcatPlanes, ConvDecoderTrunk, ConvEncoderTrunk, TableInput, mlp, stack


def resolve_model_config(model: ModelConfig | None = None, **overrides: Any) -> ModelConfig:
    """A validated :class:`ModelConfig` from a config and/or keyword overrides (``hidden`` may be an int)."""
    raw = model.model_dump() if model is not None else {}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as err:
        raise VaekitError(f"invalid model: {validation_message(err)}") from None


def build_prior(cfg: ModelConfig, x_shape: tuple[int, ...]) -> nn.Module:
    """p(z) over the top latent layer, as ``cfg.prior`` names it."""
    if cfg.prior == "mog":
        return MixturePrior(cfg.latent_dim, cfg.components or 10)
    if cfg.prior == "vamp":
        return VampPrior(cfg.latent_dim, x_shape, cfg.components or 500, bounded=cfg.pseudo_inputs == "hardtanh")
    return StandardNormalPrior(cfg.latent_dim)


def _likelihood_head(cfg: ModelConfig, x_shape: tuple[int, ...]) -> nn.Module:
    if cfg.likelihood == "mixed":
        if x_shape != (len(cfg.categories),):
            raise VaekitError(f"a mixed likelihood over {len(cfg.categories)} columns cannot model examples {x_shape}")
        return MixedTableHead(cfg.categories, cfg.sigma)
    if cfg.likelihood == "bernoulli":
        return BernoulliHead(x_shape, missing=cfg.missing)
    return GaussianHead(x_shape, cfg.sigma, missing=cfg.missing)


def build_ladder(cfg: ModelConfig, x_shape: tuple[int, ...]) -> LadderVAE:
    """A :class:`LadderVAE`: layers ``(*cfg.ladder, cfg.latent_dim)`` bottom first, trunks of ``cfg.hidden``.

    MLP: bottom-up ``x -> hidden -> d_1`` (width ``hidden[-1]``); decoder ``concat(z_1..z_L) -> reversed(hidden)
    -> x``. Conv (images): ``hidden`` is the conv channels then the dense width ``d``; bottom-up ``x -> stride-2
    convs -> d -> d``, decoder ``concat(z_1..z_L) -> transposed convs -> x``. Above ``d_1``: one ``d -> d -> d``
    block per layer. Top-down: ``z_{l+1} -> d -> 2 * dim_l``. With ``inference = "conditional"`` each lower
    posterior is ``concat(d_l, z_{l+1}) -> d -> 2 * dim_l``.
    """
    dims = (*cfg.ladder, cfg.latent_dim)
    n, width, act = math.prod(x_shape), cfg.hidden[-1], cfg.activation
    conditional = cfg.inference == "conditional"
    head = _likelihood_head(cfg, x_shape)
    if cfg.arch == "conv":
        _need_images(x_shape)
        channels = cfg.hidden[:-1]
        first: nn.Module = nn.Sequential(ConvEncoderTrunk(x_shape, channels, width, act), *stack(width, [width], act))
        c, h, w = x_shape
        trunk: nn.Module = ConvDecoderTrunk(sum(dims), channels, (head.params_per_dim * c, h, w), act)
    else:
        first = nn.Sequential(nn.Flatten(), stack(n, cfg.hidden, act))
        trunk = mlp(sum(dims), cfg.hidden[::-1], head.params_per_dim * n, act)
    up = [first] + [nn.Sequential(stack(width, [width, width], act)) for _ in dims[1:]]
    posterior: list[nn.Module] = [
        mlp(width + dims[i + 1], [width], 2 * dims[i], act) if conditional else nn.Linear(width, 2 * dims[i])
        for i in range(len(dims) - 1)
    ]
    posterior.append(nn.Linear(width, 2 * dims[-1]))
    down = [mlp(dims[i + 1], [width], 2 * dims[i], act) for i in range(len(dims) - 1)]
    decoder = Decoder(trunk, head, x_shape, sum(dims))
    config = {"x_shape": list(x_shape), "model": cfg.model_dump(mode="json")}
    prior = build_prior(cfg, x_shape)
    return LadderVAE(up, posterior, down, decoder, prior, dims, config=config, conditional=conditional)


def _need_images(x_shape: tuple[int, ...]) -> None:
    if len(x_shape) != 3:
        raise VaekitError(f"the conv model needs images (C, H, W), got examples of shape {x_shape}", "use --model mlp")


Builder = Callable[[ModelConfig, tuple[int, ...]], nn.Module]
ARCHITECTURES: dict[str, Builder] = {}


def register_arch(name: str, builder: Builder) -> None:
    """Let a plug-in build ``arch = name`` models: ``builder(model_config, x_shape) -> VAE``."""
    ARCHITECTURES[name] = builder


def build_vae(x_shape: Sequence[int], model: ModelConfig | None = None, **overrides: Any) -> VAE | LadderVAE:
    """Build a VAE for examples of shape ``x_shape`` (``(D,)`` tables, ``(C, H, W)`` images).

    ``build_vae((1, 28, 28), arch="conv", latent_dim=32)``; keywords override fields of ``model``. A config
    with ``ladder`` layers builds a :class:`~vaekit.model.LadderVAE`, which has the same interface. With
    ``classes = K > 0`` the encoder and decoder both see a one-hot label: a conditional VAE.
    """
    cfg = resolve_model_config(model, **overrides)
    x_shape = tuple(int(d) for d in x_shape)
    if not x_shape or any(d < 1 for d in x_shape):
        raise VaekitError(f"invalid data shape {x_shape}")
    if cfg.ladder:
        return build_ladder(cfg, x_shape)
    if cfg.arch in ARCHITECTURES:
        return ARCHITECTURES[cfg.arch](cfg, x_shape)
    hidden = cfg.hidden
    d = cfg.latent_dim
    enc_head = DiagonalGaussianHead()
    dec_head = _likelihood_head(cfg, x_shape)
    p, k = dec_head.params_per_dim, cfg.classes
    if cfg.arch == "mlp":
        n = math.prod(x_shape)
        n_out = dec_head.n_params
        if cfg.missing or cfg.likelihood == "mixed":
            table_input = TableInput(cfg.categories or (0,) * n)
            first: nn.Module = table_input
            n = table_input.width
        else:
            first = nn.Flatten()
        enc_mlp = mlp(n + k, hidden, enc_head.params_per_dim * d, cfg.activation)
        enc_trunk: nn.Module = ConcatFlat(enc_mlp, first) if k else nn.Sequential(first, enc_mlp)
        dec_trunk: nn.Module = mlp(d + k, hidden[::-1], n_out, cfg.activation)
    else:
        _need_images(x_shape)
        c, h, w = x_shape
        enc_trunk = ConvEncoderTrunk((c + k, h, w), hidden, enc_head.params_per_dim * d, cfg.activation)
        enc_trunk = ConcatPlanes(enc_trunk) if k else enc_trunk
        dec_trunk = ConvDecoderTrunk(d + k, hidden, (p * c, h, w), cfg.activation)
    return VAE(
        Encoder(enc_trunk, enc_head, x_shape, d, OneHotLabel(k) if k else None),
        Decoder(dec_trunk, dec_head, x_shape, d, OneHotLabel(k) if k else None),
        build_prior(cfg, x_shape),
        config={"x_shape": list(x_shape), "model": cfg.model_dump(mode="json")},
    )
