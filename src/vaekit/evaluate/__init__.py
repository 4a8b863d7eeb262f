"""Evaluation: the importance-sampled log-likelihood, bits per dimension, latent diagnostics, a paired bootstrap."""

from vaekit.evaluate.bootstrap import PairedBootstrap, paired_bootstrap
from vaekit.evaluate.diagnostics import active_units
from vaekit.evaluate.disentanglement import MIG, mutual_information_gap
from vaekit.evaluate.evaluation import Evaluation, evaluate_model
from vaekit.evaluate.likelihood import (
    MAX_DRAWS,
    MAX_DRAWS_ACCELERATOR,
    ImportanceSample,
    default_max_draws,
    importance_sample,
)

__all__ = [
    "MAX_DRAWS",
    "MAX_DRAWS_ACCELERATOR",
    "MIG",
    "Evaluation",
    "ImportanceSample",
    "PairedBootstrap",
    "active_units",
    "default_max_draws",
    "evaluate_model",
    "importance_sample",
    "mutual_information_gap",
    "paired_bootstrap",
]
