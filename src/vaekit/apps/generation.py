"""Generation and inference on arrays: sample, encode, decode, reconstruct; and writing their results.

These take and return NumPy arrays, run without gradients in memory-bounded batches, and validate that the
input fits the model. The tensor-level versions are methods of :class:`vaekit.VAE`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from vaekit.apps.images import save_image_grid
from vaekit.data.dataset import as_examples
from vaekit.errors import DataError, VaekitError
from vaekit.model.vae import VAE
from vaekit.run import Run
from vaekit.utils import atomic_write_bytes, atomic_write_text, eval_mode, inference, make_generator, npy_bytes


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


def model_labels(
    vae: VAE, y: np.ndarray | torch.Tensor | int | None, n: int, what: str = "labels"
) -> torch.Tensor | None:
    """Labels for a conditional VAE as a long tensor ``(n,)`` (an int means ``n`` copies); None for others."""
    n_classes = vae.n_classes
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


@inference
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
    labels = model_labels(vae, y, n)
    dev = vae.device
    g = make_generator(seed, dev)
    if labels is None:
        return vae.sample(n, temperature=temperature, generator=g, mean=mean).cpu().numpy()
    return vae.sample(n, temperature=temperature, generator=g, mean=mean, y=labels.to(dev)).cpu().numpy()


def sample_by_label(vae: VAE, per_class: int = 10, *, temperature: float = 1.0, seed: int | None = None) -> np.ndarray:
    """A conditional VAE's samples class by class: ``(n_classes * per_class, *x_shape)``, class c in row c.

    The same prior draws z are used in every row, so columns show one "style" across the classes.
    """
    n_classes = vae.n_classes
    if not n_classes:
        raise VaekitError("only a conditional VAE draws by label", "train with --condition label")
    if per_class < 1:
        raise VaekitError(f"cannot draw {per_class} samples per class", "ask for at least 1")
    dev = vae.device
    with torch.no_grad(), eval_mode(vae):
        z = vae.prior.sample(per_class, temperature=temperature, generator=make_generator(seed, dev))
        z = z.repeat(n_classes, 1)
        y = torch.arange(n_classes, device=dev).repeat_interleave(per_class)
        return vae.decode(z, y).mean.cpu().numpy()


@inference
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
    xs = model_input(vae, x)
    labels = model_labels(vae, y, len(xs))
    dev = vae.device
    g = make_generator(seed, dev)
    out = []
    for i, chunk in enumerate(xs.split(batch_size)):
        yb = None if labels is None else labels[i * batch_size : (i + 1) * batch_size].to(dev)
        qz = vae.encode(chunk.to(dev), yb)
        if sample:
            out.append(qz.mean + qz.stddev * torch.randn(qz.mean.shape, generator=g, device=dev))
        else:
            out.append(qz.mean)
    return torch.cat(out).cpu().numpy()


@inference
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
    zs = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    if zs.dim() != 2 or zs.shape[1] != vae.latent_dim:
        raise DataError(f"latent codes have shape {tuple(zs.shape)}", f"need (N, {vae.latent_dim})")
    labels = model_labels(vae, y, len(zs))
    dev = vae.device
    out = []
    for i, c in enumerate(zs.split(batch_size)):
        yb = None if labels is None else labels[i * batch_size : i * batch_size + len(c)].to(dev)
        px = vae.decode(c.to(dev), yb)
        out.append(px.mean if mean else px.sample())
    return torch.cat(out).cpu().numpy()


@inference
def reconstruct(
    vae: VAE, x: np.ndarray | torch.Tensor, *, batch_size: int = 1024, y: np.ndarray | torch.Tensor | None = None
) -> np.ndarray:
    """E[x | z = E[z|x]] for each input: array shaped like ``x``'s examples (given labels ``y`` if conditional)."""
    xs = model_input(vae, x)
    labels = model_labels(vae, y, len(xs))
    dev = vae.device
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
        atomic_write_bytes(path, npy_bytes(array))
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


# commands on a run ------------------------------------------------------------------------------------------
def sample_run(
    run: Run,
    output: str | os.PathLike,
    *,
    n: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
    label: int | None = None,
    by_label: bool = False,
    greedy: bool = False,
) -> np.ndarray:
    """What ``vaekit sample`` does: draw ``n`` examples from a run's model (64 by default) and write them to
    ``output`` in the run's modality's format; ``by_label``: a row of ``n`` (default 10) per class for a
    conditional model, ``label``: all of one class. Returns what was written."""
    modality = run.modality
    modality.check_output(output, "samples")
    vae = run.model()
    if by_label:
        if label is not None:
            raise VaekitError("--label and --grid-by-label exclude each other", "give one of them")
        per_class = 10 if n is None else n  # -n counts draws per class here
        rows = sample_by_label(vae, per_class, temperature=temperature, seed=seed)
        modality.write("samples", rows, output, per_row=per_class)
        return rows
    n = 64 if n is None else n
    if n < 1:
        raise VaekitError(f"cannot draw {n} samples", "ask for at least 1")
    if temperature <= 0:
        raise VaekitError(f"temperature must be positive, got {temperature}")
    if vae.n_classes and label is None:
        raise VaekitError("this model is conditional", f"give --label 0..{vae.n_classes - 1} or --grid-by-label")
    labels = model_labels(vae, label, n)
    with eval_mode(vae), torch.no_grad():
        rows = modality.sample(
            vae,
            n,
            temperature=temperature,
            greedy=greedy,
            generator=make_generator(seed, vae.device),
            y=None if labels is None else labels.to(vae.device),
        )
    modality.write("samples", rows, output)
    return rows


def compose_run(
    run: Run,
    like: str | os.PathLike,
    output: str | os.PathLike,
    *,
    n: int = 8,
    spread: float = 0.5,
    seed: int | None = None,
) -> np.ndarray:
    """What ``vaekit compose`` does: ``n`` variations of the input file ``like`` (a tune), decoded from points
    around its code (``spread`` prior standard deviations away), written to ``output`` in the run's
    modality's format (a piano roll shows the input in grey beneath each). Returns what was written."""
    modality = run.modality
    if "variations" not in modality.outputs:
        raise VaekitError(f"this run models {modality.name}: vaekit compose makes variations of melodies")
    modality.check_output(output, "variations")
    if not Path(like).is_file():
        raise VaekitError(f"no file {like}", "give a melody file (.mid, .abc, MusicXML) with --like")
    if not modality.reads_file(like):
        raise VaekitError(f"cannot read {Path(like).name} as one input", "give a melody file (.mid, .abc, MusicXML)")
    rows, tune = modality.variations_of_file(run.model(), like, n, spread=spread, seed=seed)
    titles = [f"variation {i + 1} (spread {spread:g})" for i in range(len(rows))]
    modality.write("variations", rows, output, titles=titles, reference=np.repeat(np.asarray(tune)[None], len(rows), 0))
    return rows


def reconstruct_run(
    run: Run,
    output: str | os.PathLike,
    *,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    n: int | None = None,
) -> np.ndarray:
    """What ``vaekit reconstruct`` does: reconstruct ``split`` of ``data`` (default: the run's data; a single
    input file such as a tune is reconstructed whole) and write inputs and reconstructions to ``output``."""
    modality = run.modality
    modality.check_output(output, "reconstructions")
    vae = run.model()
    if data is not None and modality.reads_file(data):
        rows, reference = modality.reconstruct_file(vae, data)
        modality.write("reconstructions", rows, output, reference=reference)
        return rows
    held_out = run.data(split, data=data, data_dir=data_dir)
    limit = n if n is not None else modality.shown("reconstructions", output)
    held_out = held_out.rows(slice(0, max(limit, 1))) if limit is not None else held_out
    x, y = held_out.x, held_out.y
    with eval_mode(vae), torch.no_grad():
        rows = modality.reconstruct(vae, x.to(vae.device), None if y is None else y.to(vae.device))
    modality.write("reconstructions", rows, output, reference=x.numpy())
    return rows


def encode_run(
    run: Run,
    output: str | os.PathLike,
    *,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    sample: bool = False,
    seed: int | None = None,
) -> np.ndarray:
    """What ``vaekit encode`` does: the latent codes of ``split`` of ``data`` written to ``output``."""
    run.modality.check_output(output, "codes")
    held_out = run.data(split, data=data, data_dir=data_dir)
    codes = encode(run.model(), held_out.x, sample=sample, seed=seed, y=held_out.y)
    run.modality.write("codes", codes, output)
    return codes
