"""Training and evaluation speed on a CUDA GPU (issue 15); run by benchmarks/gpu_speed.sh on the device machine.

    python benchmarks/gpu_speed.py [--epochs 3] [--eval-images 1000] [--out FILE.json] [--smoke]

Training: the MLP 784-400-20 of benchmarks/train_speed.py on binarized MNIST, batch 128, ``--epochs`` epochs
each: the textbook loop on the GPU (a DataLoader over the images in host memory, each batch moved to the
GPU), and vaekit's Trainer in fp32, with bf16 autocast, and with compiled trunks (``compile_trunks``).
Evaluation: a 512-512 MLP VAE (32 latent dimensions; untrained: speed, not quality) scored with k = 5000 on
``--eval-images`` test images, for several pass sizes, eager and compiled; the fastest is timed on all
10,000 test images. Every time is taken after ``torch.cuda.synchronize()``. Prints each figure as it comes and
writes them all to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir, machine, today  # noqa: E402
from train_speed import TRAIN_FLOP, Images, ReferenceVAE, mlp_vae, reference_loss, vaekit_trainer  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import load_dataset  # noqa: E402
from vaekit.model import compile_trunks  # noqa: E402

K = 5000


def synced() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def reference(train: torch.Tensor, epochs: int, device: torch.device) -> list[float]:
    """Seconds per epoch of the textbook loop on ``device``."""
    torch.manual_seed(0)
    model = ReferenceVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(Images(train.flatten(1)), batch_size=128, shuffle=True)
    seconds = []
    for _ in range(epochs):
        t0 = synced()
        for x in loader:
            x = x.to(device)
            optimizer.zero_grad()
            logits, mu, logvar = model(x)
            loss = reference_loss(logits, x, mu, logvar) / len(x)
            loss.backward()
            optimizer.step()
        seconds.append(synced() - t0)
    return seconds


def trainer(train: torch.Tensor, epochs: int, device: torch.device, *, bf16=False, compiled=False) -> list[float]:
    """Seconds per epoch (training only) of vaekit's Trainer."""
    vae = mlp_vae(train.shape[1:])
    if compiled:
        compile_trunks(vae)
    t = vaekit_trainer(vae, epochs, device=device, autocast=torch.bfloat16 if bf16 else None)
    t.fit(train)
    return [len(train) / r["examples_per_second"] for r in t.history]


def evaluation(x: torch.Tensor, max_draws: int, compiled: bool) -> tuple[float, float]:
    """(seconds, nll) of importance sampling with k = 5000 on ``x``."""
    torch.manual_seed(0)
    vae = vaekit.build_vae(x.shape[1:], hidden=(512, 512), latent_dim=32).to(x.device).eval()
    if compiled:
        compile_trunks(vae)
        vaekit.evaluate_model(vae, x[:2], k=K, max_draws=max_draws)  # compile outside the timing
    t0 = synced()
    e = vaekit.evaluate_model(vae, x, k=K, max_draws=max_draws, seed=0)
    return synced() - t0, e.nll


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--eval-images", type=int, default=1000)
    ap.add_argument("--out", default="gpu_speed.json")
    ap.add_argument("--smoke", action="store_true", help="a few images on the CPU: checks the script, not speed")
    args = ap.parse_args()
    device = torch.device("cpu" if args.smoke else "cuda")
    data = load_dataset("binarized-mnist", args.data_dir)
    train, test = data.split("train"), data.split("test")
    if args.smoke:
        train, test, args.eval_images = train[:1024], test[:4], 2
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu (smoke test)"
    result: dict = {"device": name, "machine": machine(), "date": today(), "train": {}}

    def save():
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    runs = {
        "reference (DataLoader)": lambda: reference(train, args.epochs, device),
        "vaekit fp32": lambda: trainer(train, args.epochs, device),
        "vaekit bf16 autocast": lambda: trainer(train, args.epochs, device, bf16=True),
        "vaekit fp32, compiled trunks": lambda: trainer(train, args.epochs, device, compiled=True),
    }
    for name, fn in runs.items():
        seconds = fn()
        best = min(seconds[1:] or seconds)  # the first epoch carries warm-up and compilation
        result["train"][name] = {"seconds_per_epoch": seconds, "examples_per_second": len(train) / best}
        print(f"train, {name}: {best:.2f} s/epoch, {len(train) / best * TRAIN_FLOP / 1e12:.2f} TFLOP/s", flush=True)
        save()
    ref = result["train"]["reference (DataLoader)"]["examples_per_second"]
    for r in result["train"].values():
        r["speedup"] = r["examples_per_second"] / ref
    x = test.to(device)
    result["eval"] = {}
    for compiled in (False, True):
        for max_draws in (8192, 65536, 262144):
            seconds, nll = evaluation(x[: args.eval_images], max_draws, compiled)
            key = f"max_draws {max_draws}{', compiled' if compiled else ''}"
            result["eval"][key] = {"ms_per_image": seconds / args.eval_images * 1e3, "nll": nll}
            print(f"eval, {key}: {seconds / args.eval_images * 1e3:.2f} ms per image, nll {nll:.3f}", flush=True)
            save()
    best = min(result["eval"], key=lambda k: result["eval"][k]["ms_per_image"])
    max_draws, compiled = int(best.split()[1].rstrip(",")), "compiled" in best
    seconds, nll = evaluation(x, max_draws, compiled)
    result["eval_full"] = {"setting": best, "seconds": seconds, "nll": nll, "n_images": len(x)}
    result["peak_gpu_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(f"eval, all {len(x)} test images with {best}: {seconds:.1f} s, nll {nll:.3f}", flush=True)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
