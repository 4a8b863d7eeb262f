"""What a conditional VAE's encoder and decoder see of the label: a one-hot code."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.errors import DataError


class OneHotLabel(nn.Module):
    """``y (*lead,)`` integer labels in ``[0, n_classes)`` -> one-hot codes ``(*lead, n_classes)`` (float32).

    The conditional VAE of Sohn et al. 2015 (NeurIPS, "Learning structured output representation using deep
    conditional generative models"), with p(z) left unconditional as in Kingma et al. 2014 (arXiv:1406.5298):
    q(z|x, y) and p(x|z, y). A label outside the range is a user mistake and says which labels exist.
    """

    def __init__(self, n_classes: int):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a condition needs at least 2 classes, got {n_classes}")
        self.n_classes = n_classes

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = torch.as_tensor(y)
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            if not torch.equal(y, y.round()):
                raise DataError("labels must be whole numbers", f"use labels 0..{self.n_classes - 1}")
            y = y.long()
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            bad = int(y[(y < 0) | (y >= self.n_classes)].flatten()[0])
            raise DataError(
                f"label {bad} is out of range: this model was trained on labels 0..{self.n_classes - 1}",
                f"use a label from 0 to {self.n_classes - 1}",
            )
        return F.one_hot(y.long(), self.n_classes).float()
