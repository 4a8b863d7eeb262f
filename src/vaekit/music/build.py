"""The melody VAE's construction: the ``arch = "melody"`` builder that :mod:`vaekit.build` calls."""

from __future__ import annotations

from vaekit.build import build_prior
from vaekit.config import ModelConfig
from vaekit.distributions import DiagonalGaussianHead
from vaekit.errors import VaekitError
from vaekit.model import VAE, Encoder
from vaekit.music.model import Conductor, RecurrentDecoder, TokenSequenceTrunk
from vaekit.music.tokens import N_TOKENS, STEPS_PER_BAR

MELODY_EMBED_DIM = 64


def build_melody_vae(cfg: ModelConfig, x_shape: tuple[int, ...]) -> VAE:
    """A sequence VAE over melody tokens (MusicVAE, arXiv:1803.05428): a bidirectional RNN encoder of width
    ``hidden[0]`` per direction and an autoregressive decoder of width ``hidden[-1]`` (flat, hierarchical with a
    conductor of the same width and one code per 16-step bar, or unconditional: a language model), its RNNs
    ``decoder_layers`` deep (MusicVAE's are two)."""
    if len(x_shape) != 1:
        raise VaekitError(f"the melody model needs token rows (steps,), got examples of shape {x_shape}")
    (n_steps,), d = x_shape, cfg.latent_dim
    enc_width, dec_width = cfg.hidden[0], cfg.hidden[-1]
    conductor = None
    if cfg.decoder == "hierarchical":
        if n_steps % STEPS_PER_BAR:
            raise VaekitError(f"the hierarchical decoder needs whole bars, got {n_steps} steps", "use --bars")
        conductor = Conductor(d, dec_width, n_steps // STEPS_PER_BAR, cfg.cell, cfg.decoder_layers)
    enc_head = DiagonalGaussianHead()
    trunk = TokenSequenceTrunk(N_TOKENS, MELODY_EMBED_DIM, enc_width, enc_head.params_per_dim * d, cfg.cell)
    decoder = RecurrentDecoder(
        N_TOKENS,
        n_steps,
        d,
        dec_width,
        MELODY_EMBED_DIM,
        cfg.cell,
        conductor=conductor,
        condition=cfg.decoder != "unconditional",
        word_dropout=cfg.word_dropout,
        layers=cfg.decoder_layers,
    )
    return VAE(
        Encoder(trunk, enc_head, x_shape, d),
        decoder,
        build_prior(cfg, x_shape),
        config={"x_shape": list(x_shape), "model": cfg.model_dump(mode="json")},
    )
