"""Evaluation: the importance-sampled log-likelihood, bits per dimension, and latent diagnostics."""

from vaekit.evaluate.diagnostics import active_units
from vaekit.evaluate.evaluation import Evaluation, evaluate_model
from vaekit.evaluate.likelihood import ImportanceSample, importance_sample

__all__ = ["Evaluation", "ImportanceSample", "active_units", "evaluate_model", "importance_sample"]
