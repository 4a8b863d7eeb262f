"""Data-parallel training under torchrun: two CPU processes with the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import vaekit
from vaekit.cli import main


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_torchrun_two_processes_train_and_write_one_whole_run_folder(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "vaekit", "train", "--data", "digits", "--epochs", "6", "--batch-size", "64",
        "--latent-dim", "4", "--hidden", "64", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, 7))
    ddp_curve = [h["val/loss"] for h in history]
    # converges: the validation loss (summed over both ranks' shards) falls steadily
    assert all(a > b for a, b in zip(ddp_curve, ddp_curve[1:], strict=False)) and ddp_curve[-1] < ddp_curve[0] - 3
    # and follows one process with the same global batch: rank r takes examples r, r + 2, ... of each batch of
    # 64, so the averaged gradient is the same batch's; only the reparameterisation noise differs
    single = tmp_path / "single"
    assert main(["train", *cmd[cmd.index("--data") : cmd.index("--out")], "--out", str(single), "--quiet"]) == 0
    single_curve = [json.loads(line)["val/loss"] for line in (single / "metrics.jsonl").read_text().splitlines()]
    assert max(abs(a - b) for a, b in zip(ddp_curve, single_curve, strict=True)) < 0.5, (ddp_curve, single_curve)
    # 1,293 training images: 646 per rank, 32 per rank per step, 21 steps per epoch (one process: 1293 / 64)
    assert history[0]["step"] == 21
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["epochs_run"] == 6
    for name in ("config.json", "model.safetensors", "trainer_state.pt", "samples.png", "reconstructions.png"):
        assert (out / name).is_file(), name
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    vae = vaekit.load(out)  # the weights rank 0 wrote rebuild the model
    assert vae.latent_dim == 4
    # only rank 0 printed its summary table
    assert proc.stdout.count("run folder") == 1
