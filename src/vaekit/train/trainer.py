"""A plain-PyTorch trainer. It knows models, losses and tensors, nothing about VAEs.

Data that fits in memory lives as tensors on the training device and is batched by index, so the loop has
no per-example Python and no host synchronisation except one finiteness check per step (needed to skip a
bad update before the optimiser applies it). The optimiser is PyTorch's fused AdamW (one kernel for all
parameters instead of a dozen small operations per tensor); the gradient norm is computed once per step and
the gradients are rescaled only when they exceed ``grad_clip``; on a CPU the number of threads is measured
while training (:class:`~vaekit.train.threads.ThreadTuner`). See docs/performance.md for the measurements.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from vaekit.errors import TrainingError
from vaekit.objectives.loss import Loss
from vaekit.train import distributed
from vaekit.train.callbacks import call
from vaekit.train.checkpoint import RunFolder, module_tensors
from vaekit.train.schedules import LRSchedule
from vaekit.train.threads import ThreadTuner
from vaekit.utils import cpu_has_fast_bfloat16, distribution_checks, eval_mode, interrupts_deferred

log = logging.getLogger(__name__)

Batch = torch.Tensor | tuple[torch.Tensor, ...]
TrainLossFn = Callable[[nn.Module, Batch, int], Loss]
EvalLossFn = Callable[[nn.Module, Batch], Loss]


def _index(data: Batch, idx: torch.Tensor | slice) -> Batch:
    return tuple(t[idx] for t in data) if isinstance(data, tuple) else data[idx]


def _length(data: Batch) -> int:
    return len(data[0]) if isinstance(data, tuple) else len(data)


def _to(data: Batch, device: torch.device) -> Batch:
    return tuple(t.to(device) for t in data) if isinstance(data, tuple) else data.to(device)


class Trainer:
    """Minimise ``loss_fn(model, batch, step).loss`` with AdamW over in-memory tensors.

    Every epoch: shuffle with a seeded generator, step through batches (the last one may be smaller),
    evaluate ``val_loss_fn`` on the validation tensors, log the mean of each loss term as ``train/<term>`` and
    ``val/<term>``, keep the best weights by ``val/loss`` (``train/loss`` without validation data), stop
    early after ``patience`` epochs without improvement, and checkpoint to ``run_folder`` if given.

    A step whose loss or gradient norm is not finite, or whose gradient norm exceeds ``skip_grad_norm``, is
    skipped and counted; ``max_bad_steps`` in a row stop training with :class:`TrainingError`, leaving the last
    good checkpoint in place. ``lr_schedule`` sets the rate before every step; ``time_limit`` (seconds) stops
    after the epoch that passes it. ``autocast=torch.bfloat16`` runs the training forward pass under autocast
    (evaluation stays in full precision). ``threads`` fixes the number of CPU threads for the fit; ``None``
    (the default) lets a :class:`~vaekit.train.threads.ThreadTuner` choose it by measuring steps, up to
    ``torch.get_num_threads()``, again whenever the machine's load changes.

    Under ``torchrun`` (a process group is initialised, see :mod:`vaekit.train.distributed`) the model is
    wrapped in DistributedDataParallel, each rank takes every ``world``-th example of the epoch's shared
    permutation with ``batch_size // world`` per step (``batch_size`` stays the global batch), metrics are
    summed across ranks, and only rank 0 writes the run folder.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: TrainLossFn,
        *,
        val_loss_fn: EvalLossFn | None = None,
        epochs: int = 10,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        grad_clip: float | None = None,
        patience: int | None = None,
        max_bad_steps: int = 20,
        seed: int = 0,
        device: torch.device | str = "cpu",
        batch_transform: Callable[[Batch], Batch] | None = None,
        run_folder: RunFolder | None = None,
        callbacks: Sequence[Any] = (),
        lr_schedule: LRSchedule | None = None,
        skip_grad_norm: float | None = None,
        time_limit: float | None = None,
        autocast: torch.dtype | None = None,
        threads: int | None = None,
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.rank, self.world = distributed.rank(), distributed.world_size()
        if batch_size < self.world:
            raise ValueError(f"batch_size {batch_size} is smaller than the {self.world} processes")
        self.train_model: nn.Module = self.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.loss_fn = loss_fn
        self.val_loss_fn = val_loss_fn or (lambda m, b: loss_fn(m, b, self.step))
        self.epochs, self.batch_size = epochs, batch_size
        self.grad_clip, self.patience, self.max_bad_steps = grad_clip, patience, max_bad_steps
        self.seed = seed
        self.batch_transform = batch_transform
        self.run_folder = run_folder
        self.callbacks = list(callbacks)
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=lr, weight_decay=weight_decay, fused=_fused_available(self.model, self.device)
        )
        self.lr_schedule, self.skip_grad_norm, self.time_limit = lr_schedule, skip_grad_norm, time_limit
        self.autocast = autocast
        if autocast is not None and self.device.type == "cpu" and not cpu_has_fast_bfloat16():
            log.warning(
                "this CPU has no bfloat16 matrix instructions (AVX512-BF16 or AMX): bf16 training runs several "
                "times slower than fp32 here"
            )
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.threads = threads
        self.tuner: ThreadTuner | None = None  # set for the duration of fit when threads are tuned
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0  # epochs completed
        self.step = 0  # optimiser steps taken
        self.skipped_steps = 0
        self.best: float = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stop_reason = ""
        self.steps_per_epoch = 0
        self.improved = False  # did the epoch just finished set a new best?

    # state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where training stopped (tensors and plain values only)."""
        return {
            "model": module_tensors(self.model),
            "optimizer": self.optimizer.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_shuffle": self.generator.get_state(),
            "epoch": self.epoch,
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "lr_schedule": self.lr_schedule.state_dict() if self.lr_schedule else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng_torch"])
        self.generator.set_state(state["rng_shuffle"])
        for key in ("epoch", "step", "skipped_steps", "best", "best_epoch", "bad_epochs"):
            setattr(self, key, state[key])
        self.history = list(state["history"])
        if self.lr_schedule is not None and state.get("lr_schedule") is not None:
            self.lr_schedule.load_state_dict(state["lr_schedule"])

    # loop -----------------------------------------------------------------------------------------------
    def fit(self, train: Batch, val: Batch | None = None, *, resume: bool = False) -> list[dict[str, Any]]:
        """Train; returns the per-epoch history. With ``resume``, continue from ``run_folder``'s state."""
        if resume:
            if self.run_folder is None:
                raise ValueError("resume needs a run_folder")
            self.load_state_dict(self.run_folder.load_state())
            self.best_state = self.run_folder.load_model_state() if self.best_epoch else None
            log.info("resuming after epoch %d (step %d)", self.epoch, self.step)
        else:
            torch.manual_seed(self.seed + self.rank)  # each rank draws its own noise
        train = _to(train, self.device)
        val = _to(val, self.device) if val is not None else None
        self.steps_per_epoch = math.ceil(_length(train) // self.world / self._rank_batch)
        call(self.callbacks, "on_fit_start", self)
        t_start = time.perf_counter()
        # Diverging weights must reach the non-finite-loss check as NaN, not as torch.distributions' ValueError
        # about invalid parameters; the data were checked against the model before training.
        with distribution_checks(False), self._threads():
            while self.epoch < self.epochs and not self.stop_reason:
                self._run_epoch(train, val)
                if self.time_limit is not None and not self.stop_reason:
                    # every rank must agree, so the slowest clock decides
                    over = float(time.perf_counter() - t_start > self.time_limit)
                    late = distributed.all_reduce_sum(torch.tensor(over, device=self.device))
                    if float(late) > 0:
                        self.stop_reason = f"time limit of {self.time_limit / 60:g} minutes reached"
        if not self.stop_reason:
            self.stop_reason = f"reached {self.epochs} epochs"
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        call(self.callbacks, "on_fit_end", self)
        return self.history

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """The fit's CPU threads: fixed, or chosen by a tuner; the caller's setting is restored afterwards."""
        before = torch.get_num_threads()
        tune = self.threads is None and self.device.type == "cpu" and before > 1
        self.tuner = ThreadTuner(before) if tune else None
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    @property
    def _rank_batch(self) -> int:
        return self.batch_size // self.world

    def _run_epoch(self, train: Batch, val: Batch | None) -> None:
        call(self.callbacks, "on_epoch_start", self, self.epoch + 1)
        t0 = time.perf_counter()
        self.model.train()
        n = _length(train)
        perm = torch.randperm(n, generator=self.generator).to(self.device)
        if self.world > 1:  # equal shards, so every rank takes the same number of steps
            perm = perm[: n - n % self.world][self.rank :: self.world]
        sums: dict[str, torch.Tensor] = {}
        seen = 0
        bad_in_row = 0
        bs = self._rank_batch
        params = [p for p in self.model.parameters() if p.requires_grad]
        for start in range(0, len(perm), bs):
            with self.tuner.unit() if self.tuner is not None else contextlib.nullcontext():
                batch = _index(train, perm[start : start + bs])
                if self.batch_transform is not None:
                    batch = self.batch_transform(batch)
                if self.lr_schedule is not None:
                    for group in self.optimizer.param_groups:
                        group["lr"] = self.lr_schedule(self.step)
                with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                    out = self.loss_fn(self.train_model, batch, self.step)
                self.optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                grads = [p.grad for p in params if p.grad is not None]
                norm = nn.utils.get_total_norm(grads)
                ok = torch.isfinite(out.loss.detach() + norm)
                if self.skip_grad_norm is not None:
                    ok = ok & (norm <= self.skip_grad_norm)
                if not bool(ok):
                    self.skipped_steps += 1
                    bad_in_row += 1
                    if bad_in_row >= self.max_bad_steps:
                        raise TrainingError(
                            f"training diverged: {bad_in_row} steps in a row had a non-finite loss or an "
                            f"exploding gradient (epoch {self.epoch + 1}); {self._kept()}",
                            "lower --lr, raise --batch-size, or check the data",
                        )
                    continue
                bad_in_row = 0
                if self.grad_clip is not None and float(norm) > self.grad_clip:
                    nn.utils.clip_grads_with_norm_(grads, self.grad_clip, norm)
                self.optimizer.step()
                self.step += 1
                b = _length(batch)
                seen += b
                for k, v in out.terms.items():
                    sums[k] = sums.get(k, 0) + v.detach().sum()
                call(self.callbacks, "on_step_end", self, out)
        train_seconds = time.perf_counter() - t0
        totals = self._reduce(sums, seen)
        seen = int(totals.pop("_n"))
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step}
        record.update({f"train/{k}": v / max(seen, 1) for k, v in totals.items()})
        if val is not None:
            record.update({f"val/{k}": v for k, v in self.evaluate(val).items()})
        record["epoch_seconds"] = time.perf_counter() - t0
        record["examples_per_second"] = seen / train_seconds if train_seconds > 0 else 0.0
        record["skipped_steps"] = self.skipped_steps
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        record["threads"] = torch.get_num_threads() if self.device.type == "cpu" else None
        self.epoch += 1
        self.history.append(record)
        self._track_best(record, has_val=val is not None)
        if self.lr_schedule is not None:
            self.lr_schedule.epoch_end(record.get("val/loss" if val is not None else "train/loss", math.inf))
        self._checkpoint()
        log.info(
            "epoch %d  %s  (%.1fs, %.0f ex/s)",
            self.epoch,
            "  ".join(f"{k}={v:.3f}" for k, v in record.items() if "/" in k and k.endswith(("loss", "kl", "recon"))),
            record["epoch_seconds"],
            record["examples_per_second"],
        )
        call(self.callbacks, "on_epoch_end", self, record)

    def _track_best(self, record: dict[str, Any], *, has_val: bool) -> None:
        monitor = record.get("val/loss" if has_val else "train/loss", math.inf)
        self.improved = monitor < self.best
        if self.improved:
            self.best, self.best_epoch, self.bad_epochs = monitor, self.epoch, 0
            self.best_state = copy.deepcopy(module_tensors(self.model))
        else:
            self.bad_epochs += 1
            if self.patience is not None and self.bad_epochs >= self.patience:
                self.stop_reason = (
                    f"early stop: no improvement for {self.patience} epochs (best epoch {self.best_epoch})"
                )

    def _reduce(self, sums: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        """Per-term sums and the example count ``_n``, added up over all ranks (one collective)."""
        keys = list(sums)  # the same order on every rank: the loss function's
        flat = torch.stack(
            [torch.as_tensor(sums[k], dtype=torch.float64, device=self.device) for k in keys]
            + [torch.tensor(float(n), dtype=torch.float64, device=self.device)]
        )
        flat = distributed.all_reduce_sum(flat).tolist()
        return {**dict(zip(keys, flat[:-1], strict=True)), "_n": flat[-1]}

    def _checkpoint(self) -> None:
        if self.run_folder is None or self.rank != 0:
            return
        with interrupts_deferred():  # weights, state and metrics of one epoch, all or none of them
            if self.improved:
                self.run_folder.save_model(self.best_state)
            self.run_folder.save_state(self.state_dict())
            self.run_folder.write_metrics(self.history)

    def _kept(self) -> str:
        """What a run stopped now leaves behind, in words."""
        if self.run_folder is None:
            return "no run folder was given, so nothing was saved"
        if self.epoch == 0:
            return "no epoch completed, so there is no checkpoint"
        return f"the checkpoint of epoch {self.epoch} is kept"

    @torch.no_grad()
    def evaluate(
        self, data: Batch, loss_fn: EvalLossFn | None = None, batch_size: int | None = None
    ) -> dict[str, float]:
        """Mean of each loss term over ``data`` (one pass, no updates)."""
        loss_fn = loss_fn or self.val_loss_fn
        data = _to(data, self.device)
        if self.world > 1:
            data = _index(data, slice(self.rank, None, self.world))
        n, bs = _length(data), batch_size or max(self.batch_size, 1024)
        sums: dict[str, torch.Tensor] = {}
        with eval_mode(self.model):
            for start in range(0, n, bs):
                out = loss_fn(self.model, _index(data, slice(start, start + bs)))
                for k, v in out.terms.items():
                    sums[k] = sums.get(k, 0) + v.sum()
        totals = self._reduce(sums, n)
        n_total = totals.pop("_n")
        return {k: v / n_total for k, v in totals.items()}


def _fused_available(model: nn.Module, device: torch.device) -> bool:
    """PyTorch's fused AdamW takes floating-point parameters on CPU and CUDA."""
    return device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in model.parameters())
