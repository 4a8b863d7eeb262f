"""Convolutional models on a CPU: channels-last activations against the default layout, in one process.

    python benchmarks/conv_layout.py [--threads 1] [--images 4] [--rounds 3]

For each model of MODELS (built from its recipe, untrained: only speed is measured here) it times, alternating
the two layouts round by round with the same inputs and seed:

- one training step: the ELBO's forward and backward pass on a batch of 100 binary 28x28 images;
- importance sampling at k = 5000 (``vaekit evaluate``'s setting for MNIST) per image;

and checks that both layouts give the same numbers (the layout changes the memory order only). "default" turns
:func:`vaekit.nn.cpu_conv_layout` into the identity, which is what the trunks did before it. Figures go to
``benchmarks/results/conv_layout.json`` and the section "Convolutions on a CPU: memory layout" of
docs/benchmarks.md, with the busy cores measured just before (about 0: quiet machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, busy_cores, machine, recipe_model, today, update_docs  # noqa: E402

import vaekit  # noqa: E402
import vaekit.nn  # noqa: E402
from vaekit.config import ModelConfig  # noqa: E402
from vaekit.evaluate.likelihood import importance_sample  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "conv_layout.json"
MODELS = {
    "convHVAE + VampPrior (configs/vamp-convhvae-mnist.toml)": recipe_model("vamp-convhvae-mnist"),
    "conv VAE (--model conv, defaults)": ModelConfig(arch="conv", likelihood="bernoulli"),
}
K, BATCH = 5000, 100
CHANNELS_LAST = vaekit.nn.cpu_conv_layout


def use_layout(name: str) -> None:
    vaekit.nn.cpu_conv_layout = CHANNELS_LAST if name == "channels-last" else (lambda x: x)


def train_step(vae, x: torch.Tensor) -> tuple[float, float]:
    vae.zero_grad(set_to_none=True)
    t = time.perf_counter()
    loss = vaekit.elbo(vae, x).loss
    loss.backward()
    return time.perf_counter() - t, loss.item()


def measure(cfg: ModelConfig, images: int, rounds: int) -> dict:
    torch.manual_seed(0)
    vae = vaekit.build_vae((1, 28, 28), cfg)
    x = (torch.rand(BATCH, 1, 28, 28) < 0.13).float()  # the share of black pixels of binarized MNIST
    times: dict[str, dict[str, list[float]]] = {}
    values: dict[str, dict[str, float]] = {}
    for r in range(rounds + 1):  # round 0 warms up
        for layout in ("default", "channels-last"):
            use_layout(layout)
            torch.manual_seed(1)
            step, loss = train_step(vae, x)
            t = time.perf_counter()
            log_px = importance_sample(vae, x[:images], k=K, seed=0).log_px
            per_image = (time.perf_counter() - t) / images
            if r:
                times.setdefault(layout, {"step": [], "eval": []})
                times[layout]["step"].append(step)
                times[layout]["eval"].append(per_image)
            values[layout] = {"loss": loss, "log_px": float(log_px.mean())}
    use_layout("channels-last")
    med = {lay: {what: statistics.median(v) for what, v in t.items()} for lay, t in times.items()}
    return {
        "step_seconds": {lay: m["step"] for lay, m in med.items()},
        "eval_seconds_per_image": {lay: m["eval"] for lay, m in med.items()},
        "step_speedup": med["default"]["step"] / med["channels-last"]["step"],
        "eval_speedup": med["default"]["eval"] / med["channels-last"]["eval"],
        "loss_difference": abs(values["default"]["loss"] - values["channels-last"]["loss"]),
        "log_px_difference": abs(values["default"]["log_px"] - values["channels-last"]["log_px"]),
        "test_images_hours": {lay: m["eval"] * 10_000 / 3600 for lay, m in med.items()},
    }


def write_docs(result: dict) -> None:
    rows = []
    for name, r in result["models"].items():
        s, e, h = r["step_seconds"], r["eval_seconds_per_image"], r["test_images_hours"]
        rows.append(
            f"| {name} | {s['default'] * 1e3:.0f} → {s['channels-last'] * 1e3:.0f} ms ({r['step_speedup']:.2f}x) "
            f"| {e['default']:.2f} → {e['channels-last']:.2f} s ({r['eval_speedup']:.2f}x) "
            f"| {h['default']:.1f} → {h['channels-last']:.1f} h | {r['log_px_difference']:.1e} |"
        )
    quiet = "quiet" if result["busy_cores"] < 0.3 else "not quiet"
    command = f"python benchmarks/conv_layout.py --threads {result['threads']} --images {result['images']}"
    body = f"""`{command} --rounds {result["rounds"]}` ({result["date"]}, {result["machine"]};
{result["busy_cores"]:.1f} cores busy with other work just before: {quiet}).
Untrained models built from their recipes (speed only); the medians of {result["rounds"]} alternating rounds in one
process. Training step: the ELBO's forward and backward pass on a batch of {BATCH} binary 28x28 images.
Evaluation: importance sampling with k = {K} per image ({result["images"]} images), and what that makes for the
10,000 test images of binarized MNIST on this many threads. "default" is the layout the conv trunks used before
(PyTorch's contiguous NCHW); "channels-last" is `vaekit.nn.cpu_conv_layout`, which the conv trunks now apply on a
CPU. The last column is the difference between the two layouts' mean log p(x) on the same draws.

| model | training step | evaluation per image | 10,000 test images | log p(x) difference |
|---|---|---|---|---|
{chr(10).join(rows)}
"""
    update_docs("Convolutions on a CPU: memory layout", body)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--images", type=int, default=4, help="test images timed per round at k = 5000")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    busy = busy_cores()
    models = {}
    for name, cfg in MODELS.items():
        models[name] = measure(cfg, args.images, args.rounds)
        print(name, json.dumps(models[name], indent=1), flush=True)
    result = {
        "models": models,
        "threads": args.threads,
        "images": args.images,
        "rounds": args.rounds,
        "busy_cores": busy,
        "machine": machine(),
        "date": today(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    write_docs(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
