"""Generation and inference on arrays: sample, encode, decode, reconstruct; and writing their results.

These take and return NumPy arrays, run without gradients in memory-bounded batches, and validate that the
input fits the model. The tensor-level versions are methods of :class:`vaekit.VAE`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from torch.distributions import Distribution

from vaekit.apps.images import plot_table_pairs, save_image_grid, save_pairs
from vaekit.data.dataset import as_examples
from vaekit.errors import DataError, VaekitError
from vaekit.model.vae import VAE
from vaekit.train.checkpoint import atomic_write_bytes, atomic_write_text


def _device(vae: VAE) -> torch.device:
    return next(vae.parameters()).device


def model_input(vae: VAE, x: np.ndarray | torch.Tensor, what: str = "input") -> torch.Tensor:
    """Validate ``x`` as examples for ``vae`` (shape, finiteness) and convert it to float32.

    A model built for missing data (``missing=True`` or a ``mixed`` likelihood) accepts NaN as "missing".
    """
    model = (vae.config or {}).get("model", {})
    allow_missing = bool(model.get("missing")) or model.get("likelihood") == "mixed"
    t = as_examples(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, what, allow_missing=allow_missing)
    if tuple(t.shape[1:]) != vae.x_shape:
        raise DataError(
            f"{what} has examples of shape {tuple(t.shape[1:])}, the model expects {vae.x_shape}",
            "use data like the data the model was trained on",
        )
    return t


def posterior(vae, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
    """q(z|x), or q(z|x, y) when labels are given (models without labels are called as ``encode(x)``)."""
    return vae.encode(x) if y is None else vae.encode(x, y)


def likelihood(vae, z: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
    """p(x|z), or p(x|z, y) when labels are given (models without labels are called as ``decode(z)``)."""
    return vae.decode(z) if y is None else vae.decode(z, y)


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


def model_labels(
    vae: VAE, y: np.ndarray | torch.Tensor | int | None, n: int, what: str = "labels"
) -> torch.Tensor | None:
    """Labels for a conditional VAE as a long tensor ``(n,)`` (an int means ``n`` copies); None for others."""
    n_classes = getattr(vae, "n_classes", 0)
    if not n_classes:
        if y is not None:
            raise VaekitError("this model is not conditional: it takes no labels", "train with --condition label")
        return None
    if y is None:
        raise VaekitError(f"this model is conditional: it needs {what}", f"give a label from 0 to {n_classes - 1}")
    t = torch.as_tensor(np.asarray(y))
    t = t.expand(n) if t.dim() == 0 else t.reshape(-1)
    if len(t) != n:
        raise DataError(f"{n} examples but {len(t)} {what}", "give one label per example")
    if t.dtype.is_floating_point and not torch.equal(t, t.round()):
        raise DataError(f"{what} must be whole numbers", f"use labels 0..{n_classes - 1}")
    t = t.long()
    if len(t) and (int(t.min()) < 0 or int(t.max()) >= n_classes):
        bad = int(t[(t < 0) | (t >= n_classes)][0])
        raise DataError(
            f"label {bad} is out of range: this model was trained on labels 0..{n_classes - 1}",
            f"use a label from 0 to {n_classes - 1}",
        )
    return t


@torch.no_grad()
def sample(
    vae: VAE,
    n: int,
    *,
    temperature: float = 1.0,
    seed: int | None = None,
    mean: bool = True,
    y: np.ndarray | torch.Tensor | int | None = None,
) -> np.ndarray:
    """``n`` examples decoded from prior draws ``z ~ N(0, T^2 I)``: array ``(n, *x_shape)``.

    A conditional VAE draws the classes ``y`` (one label for all, or one per sample).
    """
    if n < 1:
        raise VaekitError(f"cannot draw {n} samples", "ask for at least 1")
    if temperature <= 0:
        raise VaekitError(f"temperature must be positive, got {temperature}")
    vae.eval()
    labels = model_labels(vae, y, n)
    dev = _device(vae)
    g = _generator(seed, dev)
    if labels is None:
        return vae.sample(n, temperature=temperature, generator=g, mean=mean).cpu().numpy()
    return vae.sample(n, temperature=temperature, generator=g, mean=mean, y=labels.to(dev)).cpu().numpy()


def sample_by_label(vae: VAE, per_class: int = 10, *, temperature: float = 1.0, seed: int | None = None) -> np.ndarray:
    """A conditional VAE's samples class by class: ``(n_classes * per_class, *x_shape)``, class c in row c.

    The same prior draws z are used in every row, so columns show one "style" across the classes.
    """
    n_classes = getattr(vae, "n_classes", 0)
    if not n_classes:
        raise VaekitError("only a conditional VAE draws by label", "train with --condition label")
    if per_class < 1:
        raise VaekitError(f"cannot draw {per_class} samples per class", "ask for at least 1")
    vae.eval()
    dev = _device(vae)
    with torch.no_grad():
        z = vae.prior.sample(per_class, temperature=temperature, generator=_generator(seed, dev))
        z = z.repeat(n_classes, 1)
        y = torch.arange(n_classes, device=dev).repeat_interleave(per_class)
        return vae.decode(z, y).mean.cpu().numpy()


@torch.no_grad()
def encode(
    vae: VAE,
    x: np.ndarray | torch.Tensor,
    *,
    sample: bool = False,
    seed: int | None = None,
    batch_size: int = 1024,
    y: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Latent codes ``(N, latent_dim)``: the posterior means E[z|x], or one draw z ~ q(z|x) with ``sample``.

    A conditional VAE also needs the labels ``y (N,)``.
    """
    vae.eval()
    xs = model_input(vae, x)
    labels = model_labels(vae, y, len(xs))
    dev = _device(vae)
    g = _generator(seed, dev)
    out = []
    for i, chunk in enumerate(xs.split(batch_size)):
        yb = None if labels is None else labels[i * batch_size : (i + 1) * batch_size].to(dev)
        qz = posterior(vae, chunk.to(dev), yb)
        if sample:
            out.append(qz.mean + qz.stddev * torch.randn(qz.mean.shape, generator=g, device=dev))
        else:
            out.append(qz.mean)
    return torch.cat(out).cpu().numpy()


@torch.no_grad()
def decode(
    vae: VAE,
    z: np.ndarray | torch.Tensor,
    *,
    mean: bool = True,
    batch_size: int = 1024,
    y: np.ndarray | torch.Tensor | int | None = None,
) -> np.ndarray:
    """E[x|z] (or a draw of x ~ p(x|z)) for latent codes ``(N, latent_dim)``: array ``(N, *x_shape)``.

    A conditional VAE also needs labels ``y`` (one for all codes, or one per code).
    """
    vae.eval()
    zs = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    if zs.dim() != 2 or zs.shape[1] != vae.latent_dim:
        raise DataError(f"latent codes have shape {tuple(zs.shape)}", f"need (N, {vae.latent_dim})")
    labels = model_labels(vae, y, len(zs))
    dev = _device(vae)
    out = []
    for i, c in enumerate(zs.split(batch_size)):
        yb = None if labels is None else labels[i * batch_size : i * batch_size + len(c)].to(dev)
        px = likelihood(vae, c.to(dev), yb)
        out.append(px.mean if mean else px.sample())
    return torch.cat(out).cpu().numpy()


@torch.no_grad()
def reconstruct(
    vae: VAE, x: np.ndarray | torch.Tensor, *, batch_size: int = 1024, y: np.ndarray | torch.Tensor | None = None
) -> np.ndarray:
    """E[x | z = E[z|x]] for each input: array shaped like ``x``'s examples (given labels ``y`` if conditional)."""
    vae.eval()
    xs = model_input(vae, x)
    labels = model_labels(vae, y, len(xs))
    dev = _device(vae)
    out = []
    for i, c in enumerate(xs.split(batch_size)):
        if labels is None:
            out.append(vae.reconstruct(c.to(dev)))
        else:
            out.append(vae.reconstruct(c.to(dev), labels[i * batch_size : i * batch_size + len(c)].to(dev)))
    return torch.cat(out).cpu().numpy()


# writing ----------------------------------------------------------------------------------------------------
SUFFIXES = {".png", ".npy", ".csv"}


def check_output(path: str | os.PathLike, allowed: set[str]) -> Path:
    """Refuse an output path whose type we cannot write, or whose folder does not exist, before any work."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise VaekitError(f"cannot write {path.name}", f"use one of {', '.join(sorted(allowed))}")
    if not path.parent.exists():
        raise VaekitError(f"folder {path.parent} does not exist", "create it first")
    return path


def write_array(array: np.ndarray, path: str | os.PathLike, *, column_prefix: str = "x") -> None:
    """``.npy`` as is; ``.csv`` with a header (``z0, z1, ...``) for 2-D arrays; ``.png`` as an image grid."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, array)
        atomic_write_bytes(path, buf.getvalue())
    elif suffix == ".csv":
        flat = array.reshape(len(array), -1)
        header = ",".join(f"{column_prefix}{i}" for i in range(flat.shape[1]))
        body = "\n".join(",".join(f"{v:.7g}" for v in row) for row in flat)
        atomic_write_text(path, header + "\n" + body + "\n")
    elif suffix == ".png":
        if array.ndim != 4:
            raise VaekitError("only image data can be written as .png", "use .npy or .csv")
        save_image_grid(array, path)
    else:
        raise VaekitError(f"cannot write {path.name}", "use .png, .npy or .csv")


def write_samples_picture(samples: np.ndarray, path: str | os.PathLike, reference: torch.Tensor | None = None) -> None:
    """A grid of image samples, or for tables a scatter of samples over reference data."""
    if samples.ndim == 4:
        save_image_grid(samples, path)
    else:
        ref = reference if reference is not None else torch.empty(0, samples.shape[1])
        plot_table_pairs(
            ref, torch.as_tensor(samples), path, labels=("data", "samples"), title="samples from the prior"
        )


def write_reconstruction_picture(inputs: torch.Tensor, outputs: np.ndarray, path: str | os.PathLike) -> None:
    """Inputs above their reconstructions (images), or inputs against reconstructions (tables)."""
    out = torch.as_tensor(outputs)
    if inputs.dim() == 4:
        save_pairs(inputs, out, path)
    else:
        plot_table_pairs(inputs, out, path, labels=("input", "reconstruction"), title="reconstructions", paired=True)
