"""Exploring the latent space: interpolation, traversals and the latent map, as arrays and as pictures.

Everything here goes through a model's public surface only (``encode(x) -> q(z|x)``, ``decode(z) -> p(x|z)``,
``prior``), so it serves any model with that surface: image VAEs, table VAEs, and sequence VAEs whose decoder
returns a distribution over melodies. Pictures are written by the ``write_*`` functions.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.distributions import Distribution, Independent

from vaekit.apps.generation import model_input, model_labels
from vaekit.apps.images import _figure, image_grid
from vaekit.distributions import kl_per_dim
from vaekit.errors import VaekitError
from vaekit.run import Run
from vaekit.utils import INTERPOLATIONS, atomic_write_bytes, inference, latent_path, npy_bytes, npz_bytes

METHODS = INTERPOLATIONS


def _inputs(vae, x: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    """Arrays are validated as examples (float32); tensors pass as they are (token ids stay integers)."""
    if isinstance(x, torch.Tensor):
        if tuple(x.shape[1:]) != tuple(vae.x_shape):
            raise VaekitError(f"{what} has examples of shape {tuple(x.shape[1:])}, the model expects {vae.x_shape}")
        return x.detach().cpu()
    return model_input(vae, x, what)


def _mean(px) -> torch.Tensor:
    return px.mean


@dataclass(frozen=True)
class Interpolation:
    """``inputs (P, 2, *x_shape)``: the real endpoints; ``z (P, steps, d)``: the latent path from the posterior
    mean of one to the other; ``decoded (P, steps, *x_shape)``: E[x|z] along it; ``t (steps,)`` in [0, 1]."""

    inputs: np.ndarray
    z: np.ndarray
    decoded: np.ndarray
    t: np.ndarray


@inference
def interpolate(
    vae,
    x0: np.ndarray | torch.Tensor,
    x1: np.ndarray | torch.Tensor,
    *,
    steps: int = 10,
    method: str = "lerp",
    y: np.ndarray | torch.Tensor | int | None = None,
    summary: Callable[[Distribution], torch.Tensor] = _mean,
) -> Interpolation:
    """Encode pairs ``(x0[i], x1[i])`` to their posterior means, walk between them, decode every point.

    ``x0`` and ``x1`` are ``(P, *x_shape)`` (tensors are passed to the encoder as they are, so integer token
    sequences work); a conditional VAE takes one label per pair (``y``), used at both ends and along the path.
    ``summary`` turns each p(x|z) into what is returned (default E[x|z]; e.g. ``lambda px: px.mode`` for a
    categorical decoder). See :func:`latent_path` for ``method``.
    """
    a, b = _inputs(vae, x0, "x0"), _inputs(vae, x1, "x1")
    if len(a) != len(b):
        raise VaekitError(f"{len(a)} start points but {len(b)} end points", "give pairs")
    labels = model_labels(vae, y, len(a))
    dev = vae.device
    yd = None if labels is None else labels.to(dev)
    z0, z1 = vae.encode(a.to(dev), yd).mean, vae.encode(b.to(dev), yd).mean
    z = latent_path(z0, z1, steps, method)  # (P, steps, d)
    flat = z.reshape(-1, z.shape[-1])
    y_flat = None if yd is None else yd.repeat_interleave(steps)
    decoded = summary(vae.decode(flat, y_flat)).reshape(len(a), steps, *vae.x_shape)
    t = torch.linspace(0, 1, steps)
    return Interpolation(torch.stack([a, b], 1).numpy(), z.cpu().numpy(), decoded.cpu().numpy(), t.numpy())


def choose_pairs(
    n: int, pairs: int, *, seed: int = 0, labels: torch.Tensor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(a, b)`` of ``pairs`` distinct random pairs out of ``n`` rows (b of a's class if labelled)."""
    if pairs < 1:
        raise VaekitError(f"--pairs must be at least 1, got {pairs}")
    if n < 2:
        raise VaekitError(f"need at least 2 examples to interpolate between, got {n}")
    rng = np.random.default_rng(seed)
    a = rng.choice(n, size=min(pairs, n), replace=False)
    if labels is None:
        b = (a + rng.integers(1, n, size=len(a))) % n
        return a, b
    y = np.asarray(labels)
    b = np.array(
        [rng.choice(np.flatnonzero((y == y[i]) & (np.arange(n) != i)) if (y == y[i]).sum() > 1 else i) for i in a]
    )
    return a, b


@dataclass(frozen=True)
class Traversal:
    """``decoded (n_dims, steps, *x_shape)``: row r varies latent dimension ``dims[r]`` over ``values``
    around ``base (d,)``; ``kl (d,)``: each dimension's mean KL on the data it was ordered by (nats), or for a
    prior that does not factorise the variance of the posterior means (``statistic`` says which)."""

    decoded: np.ndarray
    dims: list[int]
    values: np.ndarray
    base: np.ndarray
    kl: np.ndarray
    statistic: str = "KL"


@inference
def latent_kl(vae, x: np.ndarray | torch.Tensor, y=None, batch_size: int = 1024) -> np.ndarray:
    """Mean KL(q(z_j|x) || p(z_j)) of each latent dimension over ``x``: ``(d,)`` nats.

    For a prior that does not factorise (mixture, VampPrior) the variance of the posterior means over ``x``
    stands in (the active-units statistic of Burda et al. 2016), which orders dimensions the same way.
    """
    xs = model_input(vae, x)
    labels = model_labels(vae, y, len(xs))
    dev = vae.device
    pz = vae.prior()
    sums, means = None, []
    for i, c in enumerate(xs.split(batch_size)):
        yb = None if labels is None else labels[i * batch_size : i * batch_size + len(c)].to(dev)
        qz = vae.encode(c.to(dev), yb)
        per_dim = kl_per_dim(qz, pz)
        means.append(qz.mean)
        if per_dim is not None:
            sums = per_dim.sum(0) + (0 if sums is None else sums)
    if sums is not None:
        return (sums / len(xs)).cpu().numpy()
    return torch.cat(means).var(0).cpu().numpy()


def latent_statistic(vae) -> str:
    """What :func:`latent_kl` measures for ``vae``: ``"KL"`` (nats) for a factorised prior, else ``"var"``."""
    return "KL" if isinstance(vae.prior(), Independent) else "var"


def parse_dims(text: str | Sequence[int] | None, latent_dim: int) -> list[int] | None:
    """``"all"``/None -> None (every dimension, ordered by KL); ``"0,3,5"`` or a list -> those dimensions."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "all"):
        return None
    try:
        dims = [int(p) for p in text.split(",") if p.strip()] if isinstance(text, str) else [int(d) for d in text]
    except ValueError:
        raise VaekitError(
            f"--dims {text!r} is not 'all' or a list of integers", "e.g. --dims all or --dims 0,3"
        ) from None
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if not dims or bad:
        raise VaekitError(f"--dims {text!r} names no dimension or one outside 0..{latent_dim - 1}", "e.g. --dims 0,1")
    return dims


@inference
def traverse(
    vae,
    x: np.ndarray | torch.Tensor,
    *,
    dims: str | Sequence[int] | None = None,
    span: float = 3.0,
    steps: int = 9,
    base_index: int = 0,
    y: np.ndarray | torch.Tensor | None = None,
) -> Traversal:
    """Latent traversals: one row per dimension, that dimension set to ``linspace(-span, span, steps)``.

    The other dimensions stay at ``base``, the posterior mean of ``x[base_index]``; rows are ordered by each
    dimension's mean KL on ``x`` (largest first: the dimensions the model uses), or follow ``dims`` as given.
    Values are in prior standard deviations, since p(z) = N(0, I). ``y``: labels of ``x`` for a conditional VAE
    (the base example's label decodes every row).
    """
    if steps < 2:
        raise VaekitError(f"--steps must be at least 2, got {steps}")
    if span <= 0:
        raise VaekitError(f"--range must be positive, got {span}")
    xs = model_input(vae, x)
    if not 0 <= base_index < len(xs):
        raise VaekitError(f"base example {base_index} is outside the {len(xs)} examples")
    labels = model_labels(vae, y, len(xs))
    kl = latent_kl(vae, xs, labels)
    chosen = parse_dims(dims, vae.latent_dim)
    order = chosen if chosen is not None else [int(j) for j in np.argsort(-kl, kind="stable")]
    dev = vae.device
    y_base = None if labels is None else labels[base_index : base_index + 1].to(dev)
    base = vae.encode(xs[base_index : base_index + 1].to(dev), y_base).mean[0]
    values = torch.linspace(-span, span, steps, device=dev)
    z = base.repeat(len(order), steps, 1)
    for row, j in enumerate(order):
        z[row, :, j] = values
    flat = z.reshape(-1, vae.latent_dim)
    y_flat = None if y_base is None else y_base.expand(len(flat))
    decoded = vae.decode(flat, y_flat).mean.reshape(len(order), steps, *vae.x_shape)
    statistic = latent_statistic(vae)
    return Traversal(decoded.cpu().numpy(), order, values.cpu().numpy(), base.cpu().numpy(), kl, statistic)


def latent_plane(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The plane of a latent map through posterior means ``mu (N, d)``: ``(center (d,), axes (2, d), explained
    (2,))``, float64, so that a plane point ``(u, v)`` is ``z = center + u * axes[0] + v * axes[1]`` and a code
    projects to ``(z - center) @ axes.T``.

    For d = 2 the plane is the latent space itself (center 0, axes the identity); for d > 2 the first two
    principal components of the means, through their mean; for d = 1 the line of z0 (the second axis is 0).
    ``explained``: the fraction of the means' variance along each axis.
    """
    mu = mu.double()
    d = mu.shape[1]
    if d <= 2:
        center, axes = torch.zeros(d, dtype=torch.float64), torch.eye(2, d, dtype=torch.float64)
        var = mu.var(0) if len(mu) > 1 else torch.ones(d, dtype=torch.float64)
        explained = np.zeros(2)
        explained[:d] = (var / var.sum().clamp_min(1e-300)).numpy()
        return center, axes, explained
    center = mu.mean(0)
    _, s, vt = torch.linalg.svd(mu - center, full_matrices=False)
    return center, vt[:2], (s[:2] ** 2 / (s**2).sum().clamp_min(1e-300)).numpy()


@dataclass(frozen=True)
class LatentMap:
    """``coords (N, 2)``: the data's posterior means in the plane (the latent itself for d = 2, else its first
    two principal components); ``labels (N,)`` or None; ``axes (2, d)`` and ``center (d,)`` map plane points
    ``(u, v)`` to ``center + u * axes[0] + v * axes[1]``; ``grid_values (G,)``: the plane coordinates of the
    manifold; ``manifold (G, G, *x_shape)``: E[x|z] on the grid, row 0 at the top (largest v) as in the plot;
    ``explained (2,)``: fraction of the means' variance along each axis."""

    coords: np.ndarray
    labels: np.ndarray | None
    axes: np.ndarray
    center: np.ndarray
    grid_u: np.ndarray
    grid_v: np.ndarray
    manifold: np.ndarray
    explained: np.ndarray


@inference
def latent_map(
    vae,
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | None = None,
    *,
    grid: int = 15,
    y: np.ndarray | torch.Tensor | int | None = None,
) -> LatentMap:
    """Posterior means of ``x`` in a plane, and the decoded manifold over a ``grid x grid`` lattice of it.

    For a 2-D latent the plane is the latent space; otherwise the first two principal components of the
    means (through their mean). The lattice spans the 1st to 99th percentile of the coordinates. Beyond two
    dimensions a lattice point (u, v) decodes z = center + u * axes[0] + v * axes[1] + r, where r is the part
    of the nearest data point's mean off the plane: the plane through the mean alone runs through the gaps
    between the classes and decodes to blurred averages. ``labels`` colour the scatter; ``y`` are a
    conditional VAE's labels of ``x`` (the manifold is decoded with the most frequent one).
    """
    if grid < 2:
        raise VaekitError(f"the manifold grid needs at least 2 points a side, got {grid}")
    xs = model_input(vae, x)
    cond = model_labels(vae, y, len(xs))
    dev = vae.device
    means = []
    for i, c in enumerate(xs.split(1024)):
        yb = None if cond is None else cond[i * 1024 : i * 1024 + len(c)].to(dev)
        means.append(vae.encode(c.to(dev), yb).mean.cpu())
    mu = torch.cat(means).double()
    if mu.shape[1] == 1:
        raise VaekitError("a latent map needs at least 2 latent dimensions")
    center, axes, explained = latent_plane(mu)
    coords = (mu - center) @ axes.T
    lo, hi = np.percentile(coords.numpy(), [1, 99], axis=0)
    gu, gv = np.linspace(lo[0], hi[0], grid), np.linspace(hi[1], lo[1], grid)
    uu, vv = np.meshgrid(gu, gv)  # row r is v = gv[r] (top = largest), column c is u = gu[c]
    plane = torch.from_numpy(np.stack([uu.ravel(), vv.ravel()], 1))
    off_plane = (mu - center) - coords @ axes  # (N, d): zero for a 2-D latent
    nearest = torch.cdist(plane, coords).argmin(1)
    z = (center + plane @ axes + off_plane[nearest]).float().to(dev)
    y_grid = None if cond is None else torch.full((len(z),), int(cond.mode().values), device=dev)
    manifold = vae.decode(z, y_grid).mean.reshape(grid, grid, *vae.x_shape).cpu().numpy()
    lab = None if labels is None else np.asarray(labels).reshape(-1)
    if lab is not None and len(lab) != len(xs):
        raise VaekitError(f"{len(xs)} examples but {len(lab)} labels")
    return LatentMap(
        coords.float().numpy(), lab, axes.float().numpy(), center.float().numpy(), gu, gv, manifold, explained
    )


# pictures ---------------------------------------------------------------------------------------------------
def _need_images(x_shape: Sequence[int], what: str) -> None:
    if len(x_shape) != 3:
        raise VaekitError(f"{what} pictures need image data, this model's examples have shape {tuple(x_shape)}")


def interpolation_rows(result: Interpolation) -> np.ndarray:
    """Rows of ``[input a, decoded path..., input b]``: ``(P * (steps + 2), C, H, W)`` for an image grid."""
    a, b = result.inputs[:, :1], result.inputs[:, 1:]
    return np.concatenate([a, result.decoded, b], axis=1).reshape(-1, *result.decoded.shape[2:])


def interpolation_png(result: Interpolation) -> bytes:
    _need_images(result.decoded.shape[2:], "interpolation")
    buf = io.BytesIO()
    image_grid(interpolation_rows(result), nrow=result.decoded.shape[1] + 2, pad=2).save(buf, format="PNG")
    return buf.getvalue()


def interpolation_gif(result: Interpolation, *, frame_ms: int = 120) -> bytes:
    """An animated GIF walking every pair's path there and back: each frame tiles the pairs side by side.

    The first and the turning frame show the real inputs, the frames between them the decoded path.
    """
    _need_images(result.decoded.shape[2:], "interpolation")
    walk = np.concatenate([result.inputs[:, :1], result.decoded, result.inputs[:, 1:]], axis=1)
    order = list(range(walk.shape[1])) + list(range(walk.shape[1] - 2, 0, -1))
    cols = min(len(walk), 8)
    frames = [image_grid(walk[:, i], nrow=cols, min_tile=64).convert("P") for i in order]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return buf.getvalue()


def traversal_png(result: Traversal) -> bytes:
    """One row per dimension, labelled with its name and mean KL (nats), the values it takes stated above."""
    _need_images(result.decoded.shape[2:], "traversal")
    buf = io.BytesIO()
    grid = result.decoded.reshape(-1, *result.decoded.shape[2:])
    labels = [f"z{j}  {result.statistic} {result.kl[j]:.2f}" for j in result.dims]
    caption = f"each row: one latent dimension from {result.values[0]:g} to {result.values[-1]:g}, the rest fixed"
    image_grid(grid, nrow=result.decoded.shape[1], pad=2, row_labels=labels, caption=caption).save(buf, format="PNG")
    return buf.getvalue()


def latent_map_png(result: LatentMap, *, title: str = "") -> bytes:
    """Scatter of the means coloured by label, beside the decoded manifold on the same plane (images only)."""
    images = result.manifold.ndim == 5
    fig, axes = _figure(2 if images else 1, width=5.0)
    fig.set_size_inches(10.5 if images else 5.5, 5.0)
    ax = axes[0]
    kw = {"s": 6, "alpha": 0.7}
    if result.labels is not None:
        classes = np.unique(result.labels)
        cmap = "tab10" if len(classes) <= 10 else "viridis"
        sc = ax.scatter(result.coords[:, 0], result.coords[:, 1], c=result.labels, cmap=cmap, **kw)
        if len(classes) <= 10:  # beside the axes, where it covers no point
            ax.legend(*sc.legend_elements(), title="label", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            fig.colorbar(sc, ax=ax, label="label")
    else:
        ax.scatter(result.coords[:, 0], result.coords[:, 1], **kw)
    pca = result.axes.shape[1] > 2
    names = ("PC 1", "PC 2") if pca else ("z0", "z1")
    ax.set_xlabel(f"{names[0]} ({100 * result.explained[0]:.0f}% of variance)" if pca else names[0])
    ax.set_ylabel(f"{names[1]} ({100 * result.explained[1]:.0f}% of variance)" if pca else names[1])
    ax.set_title("posterior means of the data")
    ax.margins(0.03)  # every point inside the axes; the manifold beside spans the 1st-99th percentiles
    if images:
        g = result.manifold.shape[0]
        tiles = result.manifold.reshape(g * g, *result.manifold.shape[2:])
        picture = np.asarray(image_grid(tiles, nrow=g, pad=1).convert("RGB"))
        axes[1].imshow(
            picture, extent=(result.grid_u[0], result.grid_u[-1], result.grid_v[-1], result.grid_v[0]), aspect="auto"
        )
        off = " (off-plane part from the nearest data point)" if pca else ""
        axes[1].set_title(f"decoded E[x|z] over the plane{off}", fontsize=10)
        axes[1].set_xlabel(names[0])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def write_picture(data: bytes, path: str | os.PathLike) -> Path:
    """Write encoded picture bytes atomically."""
    atomic_write_bytes(path, data)
    return Path(path)


def write_interpolation(result: Interpolation, path: str | os.PathLike) -> None:
    """``.png`` (a row per pair: real input, path, real input), ``.gif`` (animated) or ``.npy`` (decoded path)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        write_picture(interpolation_gif(result), path)
    elif suffix == ".png":
        write_picture(interpolation_png(result), path)
    else:
        write_picture(npy_bytes(result.decoded), path)


def write_traversal(result: Traversal, path: str | os.PathLike) -> None:
    """``.png`` (a row per dimension) or ``.npy`` (``(n_dims, steps, *x_shape)``)."""
    if Path(path).suffix.lower() == ".png":
        write_picture(traversal_png(result), path)
    else:
        write_picture(npy_bytes(result.decoded), path)


# commands on a run ------------------------------------------------------------------------------------------
def interpolate_run(
    run: Run,
    output: str | os.PathLike,
    *,
    inputs: Sequence[str] = (),
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    pairs: int = 8,
    steps: int = 10,
    method: str = "lerp",
    seed: int = 0,
) -> Interpolation:
    """What ``vaekit interpolate`` does: paths between random held-out pairs of ``split`` (or, with two input
    files in ``inputs``, between their first windows), decoded and written in the run's modality's format."""
    modality = run.modality
    modality.check_output(output, "interpolation")
    vae = run.model()
    if inputs:
        if len(inputs) != 2:
            raise VaekitError(f"an interpolation between files needs two of them, got {len(inputs)}", "give --data a b")
        a, b = (torch.as_tensor(modality.read_file(p, vae)[:1]) for p in inputs)
        result = interpolate(vae, a, b, steps=steps, method=method, summary=modality.show)
        modality.write_interpolation(result, output, names=[Path(p).stem for p in inputs])
        return result
    held_out = run.data(split, data=data, data_dir=data_dir)
    y = held_out.y
    a, b = choose_pairs(len(held_out), pairs, seed=seed, labels=y)
    result = interpolate(
        vae,
        held_out.x[a],
        held_out.x[b],
        steps=steps,
        method=method,
        y=None if y is None else y[a],
        summary=modality.show,
    )
    modality.write_interpolation(result, output)
    return result


def traverse_run(
    run: Run,
    output: str | os.PathLike,
    *,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    dims: str | Sequence[int] | None = None,
    span: float = 3.0,
    steps: int = 9,
    index: int = 0,
) -> Traversal:
    """What ``vaekit traverse`` does: one row per latent dimension around the ``index``-th held-out example."""
    run.modality.check_output(output, "traversal")
    held_out = run.data(split, data=data, data_dir=data_dir)
    if not 0 <= index < len(held_out):
        raise VaekitError(f"--index {index} is outside the {len(held_out)} {split} examples")
    # the KL order needs a sample of the data, not all of it; the base example goes first
    rows = torch.cat([torch.tensor([index]), torch.linspace(0, len(held_out) - 1, min(len(held_out), 2000)).long()])
    chosen = held_out.rows(rows)
    result = traverse(run.model(), chosen.x, dims=dims, span=span, steps=steps, base_index=0, y=chosen.y)
    write_traversal(result, output)
    return result


def latent_map_run(
    run: Run,
    output: str | os.PathLike,
    *,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    limit: int = 5000,
    grid: int = 12,
) -> LatentMap:
    """What ``vaekit latent-map`` does: at most ``limit`` evenly spaced held-out examples in the latent plane,
    as a picture (``.png``) or arrays (``.npz``: coords, labels, manifold, axes, center)."""
    run.modality.check_output(output, "map")
    if limit < 2:
        raise VaekitError(f"--limit must be at least 2, got {limit}")
    held_out = run.data(split, data=data, data_dir=data_dir).spread(limit)
    result = latent_map(run.model(), held_out.x, held_out.labels, grid=grid, y=held_out.y)
    if Path(output).suffix.lower() == ".png":
        write_picture(latent_map_png(result, title=str(run.path)), output)
    else:
        extra = {} if result.labels is None else {"labels": result.labels}
        arrays = {"coords": result.coords, "manifold": result.manifold, "axes": result.axes, "center": result.center}
        write_picture(npz_bytes(**arrays, **extra), output)
    return result
