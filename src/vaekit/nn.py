"""Trunks: plain networks, tensor in, tensor out. They know nothing of distributions.

Shapes are inferred from the data shape given at construction, so the same code serves 8x8 digits, 28x28
MNIST and any other image size or channel count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh}
GATED = "gated"  # not a pointwise nonlinearity: each layer is a gated pair, see :class:`Gated`


class Gated(nn.Module):
    """A gated layer, ``h = layer(x) * sigmoid(gate(x))``, with ``layer`` and ``gate`` of the same kind.

    Dauphin et al. 2017 (arXiv:1612.08083); the GatedDense and GatedConv2d layers of the VampPrior paper,
    Tomczak & Welling 2018 (arXiv:1705.07120). Gating replaces the nonlinearity: no activation follows it.
    """

    def __init__(self, layer: nn.Module, gate: nn.Module):
        super().__init__()
        self.layer, self.gate = layer, gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x) * torch.sigmoid(self.gate(x))


def unit(make: Callable[[], nn.Module], activation: str) -> list[nn.Module]:
    """``[layer, nonlinearity]`` from a layer factory: ``[Gated(make(), make()), Identity]`` when gated.

    Both forms are two modules with the weights in the first, so a trunk's parameter names do not depend on
    the activation (and runs saved before gating existed load unchanged).
    """
    if activation == GATED:
        return [Gated(make(), make()), nn.Identity()]
    return [make(), ACTIVATIONS[activation]()]


def stack(in_features: int, widths: Sequence[int], activation: str = "silu") -> nn.Sequential:
    """``in -> widths[0] -> ... -> widths[-1]``, every layer followed by ``activation`` (or gated)."""
    sizes = [in_features, *widths]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += unit(lambda a=a, b=b: nn.Linear(a, b), activation)
    return nn.Sequential(*layers)


def mlp(in_features: int, widths: Sequence[int], out_features: int, activation: str = "silu") -> nn.Sequential:
    """``in -> widths[0] -> ... -> out`` with ``activation`` (or gated layers) between and a linear output."""
    hidden = stack(in_features, widths, activation)
    return nn.Sequential(*hidden, nn.Linear(widths[-1] if widths else in_features, out_features))


def halved_sizes(size: int, n_layers: int) -> list[int]:
    """Spatial sizes after each stride-2, kernel-3, padding-1 convolution: ``ceil(size / 2)`` per layer."""
    sizes = [size]
    for _ in range(n_layers):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def cpu_conv_layout(x: torch.Tensor) -> torch.Tensor:
    """``x (N, C, H, W)`` in channels-last memory on a CPU (the same values, another memory order).

    oneDNN runs the convolutions on channels-last activations without reordering them at each call:
    importance sampling of the conv models ran 1.7-1.9x faster on one CPU thread, a training step no slower
    (``benchmarks/conv_layout.py``). GPUs keep the default layout.
    """
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


class ConvEncoderTrunk(nn.Module):
    """Stride-2 convolutions then a linear layer: ``(N, C, H, W) -> (N, out_features)``."""

    def __init__(self, in_shape: Sequence[int], channels: Sequence[int], out_features: int, activation: str = "silu"):
        super().__init__()
        c, h, w = in_shape
        convs: list[nn.Module] = []
        for c_in, c_out in zip([c, *channels[:-1]], channels, strict=True):
            convs += unit(lambda c_in=c_in, c_out=c_out: nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), activation)
        self.convs = nn.Sequential(*convs)
        h_out, w_out = halved_sizes(h, len(channels))[-1], halved_sizes(w, len(channels))[-1]
        self.head = nn.Linear(channels[-1] * h_out * w_out, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(cpu_conv_layout(x)).flatten(1))


class ConvDecoderTrunk(nn.Module):
    """The mirror of :class:`ConvEncoderTrunk`: ``(N, in_features) -> (N, *out_shape)``.

    Transposed convolutions pick their ``output_padding`` so each layer lands exactly on the size the
    encoder saw, which makes odd sizes (7x7 after two halvings of 28, or 5x5) come out right.
    """

    def __init__(self, in_features: int, channels: Sequence[int], out_shape: Sequence[int], activation: str = "silu"):
        super().__init__()
        c_out, h, w = out_shape
        hs, ws = halved_sizes(h, len(channels)), halved_sizes(w, len(channels))
        self.start_shape = (channels[-1], hs[-1], ws[-1])
        self.fc = stack(in_features, [math.prod(self.start_shape)], activation)
        rev = list(channels)[::-1]
        layers: list[nn.Module] = []
        for i, (c_in, c_next) in enumerate(zip(rev, [*rev[1:], rev[-1]], strict=True)):
            big_h, small_h = hs[-2 - i], hs[-1 - i]
            big_w, small_w = ws[-2 - i], ws[-1 - i]
            pad = (big_h - (2 * small_h - 1), big_w - (2 * small_w - 1))
            layers += unit(
                lambda c_in=c_in, c_next=c_next, pad=pad: nn.ConvTranspose2d(
                    c_in, c_next, 3, stride=2, padding=1, output_padding=pad
                ),
                activation,
            )
        layers.append(nn.Conv2d(rev[-1], c_out, kernel_size=3, padding=1))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(cpu_conv_layout(self.fc(z).view(-1, *self.start_shape))).contiguous()


class TableInput(nn.Module):
    """Encoder input for table rows with missing values and categorical columns: ``(N, D) -> (N, width)``.

    A numeric column passes through with NaN (missing) set to 0, which is the column mean once the table is
    standardised (the zero imputation of MIWAE, Mattei & Frellsen 2019, arXiv:1812.02633). A categorical column
    holding level indices 0..K-1 becomes K one-hot columns, all 0 when missing. ``categories[j]`` is 0 for a
    numeric column, else its number of levels; ``width = n_numeric + sum K``.
    """

    def __init__(self, categories: Sequence[int]):
        super().__init__()
        self.categories = tuple(int(k) for k in categories)
        self.numeric = [j for j, k in enumerate(self.categories) if k == 0]
        self.categorical = [j for j, k in enumerate(self.categories) if k > 0]
        self.width = len(self.numeric) + sum(self.categories)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        observed = ~torch.isnan(x)
        filled = torch.where(observed, x, torch.zeros((), dtype=x.dtype, device=x.device))
        parts = [filled[:, self.numeric]] if self.numeric else []
        for j in self.categorical:
            k = self.categories[j]
            one_hot = nn.functional.one_hot(filled[:, j].long().clamp(0, k - 1), k).to(x.dtype)
            parts.append(one_hot * observed[:, j : j + 1])
        return torch.cat(parts, dim=1)


class ConcatFlat(nn.Module):
    """``(x, c) -> inner(concat(first(x), c))``: an MLP trunk that also sees a condition vector ``c (N, K)``.

    ``first`` maps ``x`` to ``(N, features)`` (default: flatten; e.g. :class:`TableInput` for tables).
    """

    def __init__(self, inner: nn.Module, first: nn.Module | None = None):
        super().__init__()
        self.inner, self.first = inner, first if first is not None else nn.Flatten()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.first(x)
        return self.inner(torch.cat([h, c.to(h.dtype)], dim=1))


class ConcatPlanes(nn.Module):
    """``(x, c) -> inner(concat(x, c as constant planes))``: a conv trunk that also sees ``c (N, K)``."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        planes = c.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.inner(torch.cat([x, planes], dim=1))
