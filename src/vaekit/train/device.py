"""Device selection."""

from __future__ import annotations

import torch

from vaekit.errors import VaekitError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit device that is not available is an error."""
    has_mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise VaekitError("device cuda is not available", "use --device cpu or auto")
    if name == "mps" and not has_mps:
        raise VaekitError("device mps is not available", "use --device cpu or auto")
    if name not in {"cpu", "cuda", "mps"}:
        raise VaekitError(f"unknown device {name!r}", "choose auto, cpu, cuda or mps")
    return torch.device(name)
