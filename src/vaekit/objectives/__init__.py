"""Objectives: functions ``(vae, batch) -> Loss``, and the schedules that weight their terms."""

from vaekit.objectives.elbo import elbo
from vaekit.objectives.iwae import iwae
from vaekit.objectives.kl import kl_per_dim, kl_terms
from vaekit.objectives.loss import Loss
from vaekit.objectives.schedules import LinearWarmup
from vaekit.objectives.tc import beta_tc, kl_decomposition

__all__ = ["LinearWarmup", "Loss", "beta_tc", "elbo", "iwae", "kl_decomposition", "kl_per_dim", "kl_terms"]
