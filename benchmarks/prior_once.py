"""Importance sampling with p(z) computed once per evaluation against once per pass of draws, in one process.

    python benchmarks/prior_once.py [--threads 1] [--images 8] [--rounds 3]

For the VampPrior recipes (untrained: only speed is measured) it times ``importance_sample`` at k = 5000 per
image, alternating round by round p(z) computed once per evaluation and passed to every pass (what evaluation
does) with p(z) built again by every pass (what it did before: :class:`PriorPerPass`), and checks that both
give the same estimates. Figures go to ``benchmarks/results/prior_once.json`` and the section "Evaluation:
p(z) once" of docs/benchmarks.md.
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
from vaekit.evaluate import importance_sample  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "prior_once.json"
RECIPES = ("vamp-mnist", "vamp-hvae-mnist")
K = 5000


class PriorPerPass(torch.nn.Module):
    """The model, with the p(z) that evaluation hands to each pass ignored: every pass builds its own."""

    def __init__(self, vae: torch.nn.Module):
        super().__init__()
        self.vae, self.prior = vae, vae.prior

    def forward(self, x, n_samples=None, y=None, *, eps=None, pz=None):
        return self.vae(x, n_samples, y, eps=eps)


WAYS = {"once per pass": PriorPerPass, "once": lambda vae: vae}


def measure(recipe: str, images: int, rounds: int) -> dict:
    torch.manual_seed(0)
    vae = vaekit.build_vae((1, 28, 28), recipe_model(recipe))
    x = (torch.rand(images, 1, 28, 28) < 0.13).float()  # the share of black pixels of binarized MNIST
    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    log_px = {}
    for r in range(rounds + 1):  # round 0 warms up
        for way, wrap in WAYS.items():
            t = time.perf_counter()
            log_px[way] = importance_sample(wrap(vae), x, k=K, seed=0).log_px
            if r:
                seconds[way].append((time.perf_counter() - t) / images)
    med = {way: statistics.median(s) for way, s in seconds.items()}
    return {
        "seconds_per_image": med,
        "speedup": med["once per pass"] / med["once"],
        "log_px_difference": float((log_px["once per pass"] - log_px["once"]).abs().max()),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    busy = busy_cores()
    models = {recipe: measure(recipe, args.images, args.rounds) for recipe in RECIPES}
    print(json.dumps(models, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"models": models, **vars(args), "busy_cores": busy, "machine": machine(),
                                   "date": today()}, indent=1) + "\n")  # fmt: skip
    rows = "\n".join(
        f"| `configs/{recipe}.toml` | {r['seconds_per_image']['once per pass']:.3f} | "
        f"{r['seconds_per_image']['once']:.3f} | {r['speedup']:.2f}x | {r['log_px_difference']:.1e} |"
        for recipe, r in models.items()
    )
    quiet = "quiet" if busy < 0.3 else "not quiet"
    body = f"""`python benchmarks/prior_once.py --threads {args.threads} --images {args.images} --rounds {args.rounds}`
({today()}, {machine()}; {busy:.1f} cores busy with other work just before: {quiet}). Importance sampling at
k = {K} of {args.images} random binary images by untrained models built from the recipes (speed only), seconds per
image, medians of {args.rounds} alternating rounds in one process: p(z) built again for every pass of draws (as
before) against once per evaluation, handed to each pass (`vae(x, n, pz=pz)`). A VampPrior builds p(z) by encoding its
500 pseudo-inputs. The last column is the largest difference between the two ways' log p(x).

| recipe | p(z) once per pass | p(z) once | speed-up | log p(x) difference |
|---|---|---|---|---|
{rows}
"""
    update_docs("Evaluation: p(z) once", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
