"""torch.compile for the tensor-in, tensor-out parts of a model, leaving its distributions eager."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def should_compile(setting: bool | None, device: torch.device) -> bool:
    """``setting``, or where it is unset, whether compiling pays on ``device``: on CUDA yes; on CPU no (an MLP
    VAE's training step ran about 10% slower with compiled trunks, torch 2.13, docs/performance.md)."""
    return device.type == "cuda" if setting is None else setting


def compile_trunks(model: nn.Module, **options: Any) -> list[str]:
    """Compile every trunk of ``model`` in place with ``torch.compile(**options)``; return their names.

    A trunk is a module that maps tensors to tensors (an MLP, a convolution stack, an LSTM): the children that
    a component lists in its ``TRUNKS`` attribute (:class:`~vaekit.model.Encoder` and
    :class:`~vaekit.model.Decoder` name ``trunk``; :class:`~vaekit.model.LadderVAE` its ``up``, ``posterior``
    and ``down`` maps). The heads, priors and objectives stay eager, so ``torch.distributions`` remains the
    interface and the ``Draw`` record never enters a graph (compiling the whole ELBO breaks the graph inside
    ``torch.distributions``). Each trunk's ``forward`` is replaced by its compiled version, so parameter names,
    checkpoints, ``state_dict`` and resume are unchanged (compile a model last: a deep copy of a compiled model
    would call the original's trunks); compilation happens at the first call of each trunk. Trunks are compiled for
    dynamic shapes unless ``options`` say otherwise: batches, evaluation chunks and pictures differ in size, and
    trunks of one class share a code object, whose compiled versions torch caps at a few. Compiling twice
    changes nothing.
    """
    names = []
    for prefix, module in model.named_modules():
        for attr in getattr(type(module), "TRUNKS", ()):
            child = getattr(module, attr, None)
            parts = list(child.named_children()) if isinstance(child, nn.ModuleList) else [("", child)]
            for index, part in parts:
                if part is None or "forward" in vars(part):  # absent, or compiled already
                    continue
                # an instance attribute: Module.compile (which wraps _call_impl) captures no graph in torch 2.13
                part.forward = torch.compile(part.forward, **{"dynamic": True, **options})
                names.append(".".join(p for p in (prefix, attr, index) if p))
    log.info("compiled %d trunks: %s", len(names), ", ".join(names))
    return names
