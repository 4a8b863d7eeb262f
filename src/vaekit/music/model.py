"""Recurrent pieces of a sequence VAE over tokens: a bidirectional encoder trunk, autoregressive decoders.

MusicVAE (Roberts et al. 2018, arXiv:1803.05428): q(z|x) from a bidirectional LSTM or GRU over token
embeddings; p(x|z) = prod_t Cat(x_t | x_<t, z), decoded either *flat* (one recurrent network over all steps,
z fed at every step and setting its initial state) or *hierarchically* (a "conductor" network turns z into one
code per bar, and each bar is decoded from its own code, its state reset at the bar line). An *unconditional*
decoder is the flat one that never sees z: a recurrent language model, trained by the same objective (its KL
goes to zero), the baseline a melody VAE has to match.

The decoder's distribution, :class:`AutoregressiveCategorical`, evaluates ``log_prob(x)`` with teacher
forcing (the true previous token is the input at each step) and samples step by step, so the ELBO, the IWAE
bound and the importance-sampled likelihood apply to it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import constraints

from vaekit.distributions import TemperedDistribution, full_precision
from vaekit.utils import cpu_has_fast_bfloat16

CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU}


def token_ids(x: torch.Tensor) -> torch.Tensor:
    """Tokens stored as float (data sets hold float32 rows) back to int64 ids."""
    return x if x.dtype == torch.long else x.round().long()


class TokenSequenceTrunk(nn.Module):
    """``(N, T)`` token ids -> ``(N, out_features)``: embeddings, a bidirectional RNN, its two final states.

    The final hidden state of the forward and of the backward direction are concatenated and mapped linearly
    (MusicVAE's encoder, with one layer).
    """

    def __init__(self, n_tokens: int, embed_dim: int, width: int, out_features: int, cell: str = "lstm"):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, embed_dim)
        self.rnn = CELLS[cell](embed_dim, width, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = recurrent(self.rnn, self.embed(token_ids(x)))
        h = state[0] if isinstance(state, tuple) else state  # (2, N, width)
        return self.head(torch.cat([h[0], h[1]], dim=-1))


class Conductor(nn.Module):
    """z -> one code per bar, ``(N, bars, width)``: an RNN of ``layers`` stacked layers run for ``bars`` steps
    with z as its input and the initial state of every layer from ``tanh(W z + b)``."""

    def __init__(self, latent_dim: int, width: int, bars: int, cell: str = "lstm", layers: int = 1):
        super().__init__()
        self.bars, self.cell, self.layers = bars, cell, layers
        self.init = nn.Linear(latent_dim, layers * (2 if cell == "lstm" else 1) * width)
        self.rnn = CELLS[cell](latent_dim, width, num_layers=layers, batch_first=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        inputs = z.unsqueeze(1).expand(-1, self.bars, -1).contiguous()
        codes, _ = recurrent(self.rnn, inputs, _initial_state(self.init, z, self.cell, self.layers))
        return codes


def recurrent(rnn: nn.RNNBase, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
    """``rnn(inputs, state)``; in float32 under bfloat16 autocast on a CPU without bfloat16 kernels, where oneDNN
    refuses the LSTM ("could not create a primitive descriptor") and a GRU would crawl."""
    if inputs.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not cpu_has_fast_bfloat16():
        with torch.autocast("cpu", enabled=False):
            if state is not None:
                state = tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()
            return rnn(inputs.float(), state)
    return rnn(inputs, state)


def _initial_state(init: nn.Linear, code: torch.Tensor, cell: str, layers: int = 1):
    """``tanh(W code + b)`` for ``code (N, code_dim)`` split into an LSTM's ``(h, c)`` or a GRU's ``h``, each
    ``(layers, N, width)`` (per layer: h, then c)."""
    parts = 2 if cell == "lstm" else 1
    state = torch.tanh(init(code)).reshape(len(code), layers, parts, -1).permute(2, 1, 0, 3)
    if cell == "lstm":
        return state[0].contiguous(), state[1].contiguous()
    return state[0].contiguous()


class RecurrentDecoder(nn.Module):
    """p(x|z) = prod_t Cat(x_t | x_<t, z): a recurrent network over segments of steps, each from its own code.

    - flat (``conductor=None``, ``condition=True``): one segment of ``n_steps``, its code is z;
    - hierarchical (a :class:`Conductor`): ``bars`` segments of ``n_steps / bars``, codes from the conductor;
    - unconditional (``condition=False``): flat with a constant code, so x does not depend on z.

    In each segment the state (of each of ``layers`` stacked layers) starts at ``tanh(W code + b)`` and the input
    at step t is ``[embed(x_{t-1}), code]`` (x_{-1} is a start token; across a bar line the previous bar's last
    token).
    With ``word_dropout = p`` training replaces each previous token by a blank token with probability p, so the
    decoder must take from the code what it cannot see (Bowman et al. 2016, arXiv:1511.06349); evaluation and
    generation see every token.
    ``forward(z)`` takes ``z`` of shape ``(*lead, latent_dim)`` and returns an :class:`AutoregressiveCategorical`
    with ``batch_shape == lead`` and ``event_shape == (n_steps,)``.
    """

    def __init__(
        self,
        n_tokens: int,
        n_steps: int,
        latent_dim: int,
        width: int,
        embed_dim: int = 64,
        cell: str = "lstm",
        conductor: Conductor | None = None,
        condition: bool = True,
        word_dropout: float = 0.0,
        layers: int = 1,
    ):
        super().__init__()
        self.word_dropout, self.layers = word_dropout, layers
        self.n_tokens, self.latent_dim, self.x_shape = n_tokens, latent_dim, (n_steps,)
        self.conductor, self.condition, self.cell = conductor, condition, cell
        self.segments = conductor.bars if conductor is not None else 1
        if n_steps % self.segments:
            raise ValueError(f"{n_steps} steps do not split into {self.segments} bars")
        self.segment_steps = n_steps // self.segments
        # the unconditional decoder's code is one constant zero (a width-0 layer would do, but warns)
        code_dim = conductor.rnn.hidden_size if conductor is not None else (latent_dim if condition else 1)
        self.code_dim = code_dim
        # id n_tokens is the start token; n_tokens + 1 the blank of word dropout (only where it is used, so runs
        # saved without it keep their shapes)
        self.embed = nn.Embedding(n_tokens + (2 if word_dropout else 1), embed_dim)
        self.init = nn.Linear(code_dim, layers * (2 if cell == "lstm" else 1) * width)
        self.rnn = CELLS[cell](embed_dim + code_dim, width, num_layers=layers, batch_first=True)
        self.out = nn.Linear(width, n_tokens)

    @property
    def start_token(self) -> int:
        return self.n_tokens

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Start the output bias at the log frequency of each token in ``x`` (``(N, n_steps)``, add-one smoothed).

        The first updates then need not learn that most steps are HOLD.
        """
        counts = torch.bincount(token_ids(x).flatten(), minlength=self.n_tokens).double() + 1.0
        self.out.bias.copy_((counts / counts.sum()).log().to(self.out.bias))

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """One code per segment, ``(N, segments, code_dim)``, for ``z`` of shape ``(N, latent_dim)``."""
        if self.conductor is not None:
            return self.conductor(z)
        return (z if self.condition else torch.zeros_like(z[:, :1])).unsqueeze(1)

    def logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(N, n_steps, n_tokens)`` for ``z (N, latent_dim)`` and ``x (N, n_steps)``.

        All segments run as one batch: each starts from its own code, fed the true previous token.
        """
        n, s, length = len(z), self.segments, self.segment_steps
        x = token_ids(x)
        previous = torch.cat([torch.full_like(x[:, :1], self.start_token), x[:, :-1]], dim=1)
        if self.training and self.word_dropout:
            hidden = torch.rand(previous.shape, device=previous.device) < self.word_dropout
            previous = torch.where(hidden, self.start_token + 1, previous)
        codes = self.codes(z).reshape(n * s, self.code_dim)
        inputs = torch.cat(
            [self.embed(previous.reshape(n * s, length)), codes.unsqueeze(1).expand(-1, length, -1)], dim=-1
        )
        h, _ = recurrent(self.rnn, inputs, _initial_state(self.init, codes, self.cell, self.layers))
        return full_precision(self.out(h)).reshape(n, s * length, self.n_tokens)

    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, *, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Tokens ``(N, n_steps)`` decoded step by step from ``z (N, latent_dim)``: x_t ~ softmax(logits_t / T)
        fed back as the next input; at T = 0 the most likely token (greedy decoding)."""
        codes = self.codes(z)
        previous = torch.full((len(z),), self.start_token, dtype=torch.long, device=z.device)
        out = []
        for seg in range(self.segments):
            code = codes[:, seg]
            state = _initial_state(self.init, code, self.cell, self.layers)
            for _ in range(self.segment_steps):
                h, state = recurrent(self.rnn, torch.cat([self.embed(previous), code], -1).unsqueeze(1), state)
                logits = full_precision(self.out(h[:, 0]))
                if temperature == 0:
                    previous = logits.argmax(-1)
                else:
                    probs = torch.softmax(logits / temperature, -1)
                    previous = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
                out.append(previous)
        return torch.stack(out, dim=1)

    def forward(self, z: torch.Tensor) -> AutoregressiveCategorical:
        return AutoregressiveCategorical(self, z)


class AutoregressiveCategorical(TemperedDistribution):
    """p(x|z) = prod_t Cat(x_t | softmax(f(x_<t, z))) over token sequences ``x`` of ``event_shape (T,)``.

    ``log_prob(x)`` runs the decoder with teacher forcing and sums log-probabilities over steps (one number per
    example; ``x`` broadcasts against the batch shape, so k importance draws score one batch of ``x``).
    ``sample(sample_shape, *, temperature, generator)`` decodes step by step, x_t ~ softmax(logits_t / T), all
    draws in one batch; T = 0 is greedy decoding. ``mean`` and ``mode`` are the greedy decoding: the most
    likely token at each step given the greedy prefix (an approximation of the most likely sequence; a
    sequence of categories has no mean). ``z`` is ``(*batch, latent_dim)``.
    """

    arg_constraints = {"z": constraints.real_vector}
    has_rsample = False

    def __init__(self, decoder: RecurrentDecoder, z: torch.Tensor, validate_args: bool | None = False):
        self.decoder, self.z = decoder, z
        super().__init__(batch_shape=z.shape[:-1], event_shape=decoder.x_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> constraints.Constraint:
        """Token ids 0..n_tokens-1 at every step."""
        return constraints.independent(constraints.integer_interval(0, self.decoder.n_tokens - 1), 1)

    def expand(self, batch_shape: torch.Size | Sequence[int], _instance=None) -> AutoregressiveCategorical:
        """The same sequence distribution repeated over ``batch_shape`` (``z`` broadcast, not copied)."""
        new = self._get_checked_instance(AutoregressiveCategorical, _instance)
        batch_shape = torch.Size(batch_shape)
        new.decoder, new.z = self.decoder, self.z.expand(*batch_shape, self.z.shape[-1])
        super(AutoregressiveCategorical, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _value_shape(self, x: torch.Tensor) -> torch.Size:
        """``(*sample, *batch, T)``: the shape of ``x`` broadcast against the batch and event shapes."""
        return torch.broadcast_shapes(x.shape, self.batch_shape + self.event_shape)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(*sample, *batch, T, n_tokens)``, ``x`` broadcasting to ``(*sample, *batch, T)``."""
        shape = self._value_shape(x)
        x = token_ids(x).expand(shape).reshape(-1, *self.event_shape)
        z = self.z.expand(*shape[:-1], self.z.shape[-1]).reshape(-1, self.z.shape[-1])
        return self.decoder.logits(z, x).reshape(*shape, -1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) = sum_t log Cat(x_t | x_<t, z), ``(*sample, *batch)`` for ``x (*sample, *batch, T)``."""
        if self._validate_args:
            self._validate_sample(x)
        x_ids = token_ids(x).expand(self._value_shape(x))
        log_p = F.log_softmax(self.logits(x_ids), dim=-1)
        return log_p.gather(-1, x_ids.unsqueeze(-1)).squeeze(-1).sum(-1)

    def sample(
        self,
        sample_shape: torch.Size | Sequence[int] = torch.Size(),
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decoded sequences ``(*sample_shape, *batch, T)`` int64: every draw of every ``z`` in one batch."""
        shape = torch.Size(sample_shape)
        z = self.z.expand(*shape, *self.z.shape).reshape(-1, self.z.shape[-1])
        out = self.decoder.generate(z, temperature=temperature, generator=generator)
        return out.reshape(*shape, *self.batch_shape, *self.event_shape)

    def tokens(
        self, *, temperature: float = 1.0, greedy: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One decoded sequence per ``z``, ``(*batch, T)``: the older spelling of
        ``sample(temperature=0.0 if greedy else temperature, generator=generator)``."""
        return self.sample(temperature=0.0 if greedy else temperature, generator=generator)

    @property
    def mode(self) -> torch.Tensor:
        """Greedy decoding, ``(*batch, T)``."""
        return self.sample(temperature=0.0)

    @property
    def mean(self) -> torch.Tensor:
        return self.mode
