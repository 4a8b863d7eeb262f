"""Small tools that data, training and apps all need: atomic files, array bytes, eval mode, slerp, scaling.

Nothing here changes global state or its caller's objects without saying so in its name and docstring:
:func:`eval_mode` restores the mode it found, :func:`seeded` restores the global RNG it seeded.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import torch
from torch import nn

T = TypeVar("T")


# files ------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only when the ``with`` block ends without an exception.

    It is written under a temporary name in the same folder, flushed to disk and moved into place with
    ``os.replace``, so a kill at any moment leaves the old file or the new one, never a torn one. The file
    gets the mode of the file it replaces, else the mode the umask gives a new file.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """The permission bits for a file written at ``path``: those of the file there, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def distribution_checks(enabled: bool) -> Iterator[None]:
    """Turn ``torch.distributions``' argument validation on or off for the block (restored after it)."""
    from torch.distributions import Distribution

    before = Distribution._validate_args
    Distribution.set_default_validate_args(enabled)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(before)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, so files written together are all written.

    An interrupt that arrives inside the block is delivered when it ends. Outside the main thread, where
    Python cannot handle signals, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        if caught and callable(previous):
            previous(signal.SIGINT, None)
        elif caught and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def npy_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` file of ``array``."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npz_bytes(*, compressed: bool = False, **arrays: np.ndarray) -> bytes:
    """The ``.npz`` file of named ``arrays`` (compressed with ``compressed``)."""
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


# torch ------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode inside the block, back in the mode it was in afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def inference(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn(model, ...)`` without gradients and with ``model`` in eval mode, restoring its mode after."""

    @functools.wraps(fn)
    def wrapper(model: nn.Module, *args: Any, **kwargs: Any) -> T:
        with torch.no_grad(), eval_mode(model):
            return fn(model, *args, **kwargs)

    return wrapper


def keeps_global_rng(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` inside ``torch.random.fork_rng``: whatever it seeds or draws, the caller's CPU RNG is unchanged."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with torch.random.fork_rng(devices=[]):
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed the global torch RNG inside the block and restore its state afterwards (no-op for ``None``)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def module_device(module: nn.Module) -> torch.device:
    """Where ``module``'s parameters (else buffers) live; the CPU for a module with neither."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    """A generator on ``device`` seeded with ``seed``; ``None`` (the global RNG) when ``seed`` is ``None``."""
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


# latent paths -----------------------------------------------------------------------------------------------
INTERPOLATIONS = ("lerp", "slerp")


def latent_path(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "lerp") -> torch.Tensor:
    """Points along a path from ``z0`` to ``z1`` (each ``(*lead, d)``): ``(*lead, steps, d)``, ends included.

    ``lerp``: z(t) = (1 - t) z0 + t z1. ``slerp`` (spherical, White 2016, arXiv:1609.04468):
    z(t) = sin((1 - t) w) / sin w * z0 + sin(t w) / sin w * z1 with w the angle between z0 and z1, which keeps
    the norm typical of a Gaussian prior in many dimensions; nearly (anti)parallel codes fall back to lerp.
    """
    from vaekit.errors import VaekitError

    if steps < 2:
        raise VaekitError(f"an interpolation needs at least 2 steps (the two ends), got {steps}")
    return latent_path_at(z0, z1, torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device), method)


def latent_path_at(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, method: str = "lerp") -> torch.Tensor:
    """The points at ``t (steps,)`` (0 is ``z0``, 1 is ``z1``) of the path of :func:`latent_path`:
    ``(*lead, steps, d)``."""
    from vaekit.errors import VaekitError

    if method not in INTERPOLATIONS:
        raise VaekitError(f"unknown interpolation method {method!r}", "use lerp or slerp")
    t = t.to(dtype=z0.dtype, device=z0.device).view(-1, 1)
    a, b = z0.unsqueeze(-2), z1.unsqueeze(-2)
    line = (1 - t) * a + t * b
    if method == "lerp":
        return line
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    sin = torch.sin(omega)
    spherical = torch.sin((1 - t) * omega) / sin * a + torch.sin(t * omega) / sin * b
    return torch.where(sin.abs() < 1e-4, line, spherical)


# tables -----------------------------------------------------------------------------------------------------
def standardisation(
    x: np.ndarray, numeric: np.ndarray | None = None, names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(center, scale)`` so that ``(x - center) / scale`` has mean 0 and standard deviation 1.

    NaN cells are ignored; a constant (or all-missing) column gets scale 1 and, if all-missing, center 0.
    Columns where ``numeric`` is False keep center 0 and scale 1 (category indices are not rescaled).
    Both are always finite: a column whose mean or standard deviation overflows float64 (values near 1e308)
    is divided by its largest magnitude first, so its scale is at most that magnitude; a column that still
    gives no finite figures (it holds inf) is an error naming it (``names``, else its index).
    """
    from vaekit.errors import DataError

    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        center = np.nanmean(x, axis=0)
        scale = np.nanstd(x, axis=0)
        observed = ~np.isnan(x).all(axis=0)
        for j in np.flatnonzero(observed & ~(np.isfinite(center) & np.isfinite(scale))):
            top = np.nanmax(np.abs(x[:, j]))
            shrunk = x[:, j] / top
            center[j], scale[j] = np.nanmean(shrunk) * top, np.nanstd(shrunk) * top
            if not (np.isfinite(center[j]) and np.isfinite(scale[j])):
                name = repr(names[j]) if names is not None else str(j)
                raise DataError(f"column {name} has no finite mean and spread", "its cells must be finite numbers")
    center = np.where(observed, center, 0.0)
    scale = np.where(observed & (scale > 1e-12), scale, 1.0)
    if numeric is not None:
        center = np.where(numeric, center, 0.0)
        scale = np.where(numeric, scale, 1.0)
    return center, scale


def robust_standardisation(
    x: np.ndarray, names: Sequence[str] | None = None, floor: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(center, scale)`` from order statistics: the median, and max(IQR / 1.349, ``floor`` x the standard
    deviation). IQR / 1.349 is the standard deviation of a normal column, but unlike it is not inflated by the
    outliers a detector must find; the floor keeps a near-constant or near-discrete column (an IQR of 0 or one
    step) from being blown up; a constant column gets scale 1. Finite like :func:`standardisation` (quantiles are
    taken of each column divided by its largest magnitude); NaN cells are ignored.
    """
    _, std = standardisation(x, names=names)
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        top = np.nanmax(np.abs(x), axis=0)
        top = np.where(np.isfinite(top) & (top > 0), top, 1.0)
        q25, q50, q75 = np.nanpercentile(x / top, [25, 50, 75], axis=0)
        center = np.nan_to_num(q50 * top)
        spread = (q75 - q25) / 1.349 * top
        spread = np.where(np.isfinite(spread), spread, top)
        constant = ~(np.nanmax(x, axis=0) > np.nanmin(x, axis=0))  # (or all missing): scale 1, as standardisation
    scale = np.maximum(spread, floor * std)
    return center, np.where(constant | ~(scale > 1e-12), 1.0, scale)


def standardise(x: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(x - center) / scale`` in float64, computed as ``x / scale - center / scale`` where ``x - center`` alone
    would overflow (values of opposite sign near 1e308); NaN stays NaN."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        z = (x - center) / scale
        overflowed = np.isinf(z) & np.isfinite(x)
        if overflowed.any():
            z = np.where(overflowed, x / scale - center / scale, z)
    return z


@contextlib.contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@functools.cache
def cpu_has_fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (oneDNN's check: AVX512-BF16 or AMX).

    Without it, bfloat16 matrix products fall back to a reference implementation: on a 2-core AVX2 machine a
    784x400 layer ran 6x slower under bf16 autocast than in fp32, and oneDNN refuses an LSTM outright.
    """
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None and torch.backends.mkldnn.is_available() else False
