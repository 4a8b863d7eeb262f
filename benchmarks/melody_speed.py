"""Melody VAE training speed: float32 against bfloat16 autocast (``--precision bf16``), same model and batches.

    python benchmarks/melody_speed.py [--threads 2] [--steps 8] [--data-dir D]

For 2- and 16-bar windows of the Essen training split and both decoders (the benchmark's model: a
bidirectional 256-unit LSTM encoder, latent 32, a 256-unit LSTM decoder), it times ``--steps`` Adam steps of the
free-bits ELBO on batches of 128 after two warm-up steps, once in float32 and once under
``torch.autocast("cpu", torch.bfloat16)`` as the Trainer runs it, from the same initial weights. It also gives
the loss of one batch in both precisions, to show what bfloat16 changes in the numbers. Prints and saves
``benchmarks/results/melody_speed.json`` and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from _common import ROOT, machine, today, update_docs  # noqa: E402

import vaekit  # noqa: E402
from vaekit.objectives import elbo  # noqa: E402


def examples_per_second(vae, batches, bf16: bool) -> float:
    opt = torch.optim.Adam(vae.parameters(), 1e-3)
    for i, x in enumerate(batches):
        if i == 2:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = elbo(vae, x, free_bits=0.5).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return sum(len(x) for x in batches[2:]) / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for bars in (2, 16):
        x = vaekit.load_dataset("essen", args.data_dir, bars=bars).split("train")
        g = torch.Generator().manual_seed(0)
        batches = [x[torch.randint(len(x), (args.batch_size,), generator=g)] for _ in range(args.steps + 2)]
        for decoder in ("flat", "hierarchical"):
            torch.manual_seed(0)
            vae = vaekit.build_vae((bars * 16,), arch="melody", decoder=decoder, latent_dim=32, hidden=(256, 256))
            with torch.no_grad():
                torch.manual_seed(1)
                loss32 = float(elbo(vae, batches[0]).loss)
                torch.manual_seed(1)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss16 = float(elbo(vae, batches[0]).loss)
            fp32 = examples_per_second(copy.deepcopy(vae), batches, bf16=False)
            bf16 = examples_per_second(copy.deepcopy(vae), batches, bf16=True)
            row = {
                "bars": bars,
                "decoder": decoder,
                "fp32_examples_per_second": fp32,
                "bf16_examples_per_second": bf16,
                "speedup": bf16 / fp32,
                "loss_fp32": loss32,
                "loss_bf16": loss16,
            }
            rows.append(row)
            print(
                f"{bars:>2} bars {decoder:<12} fp32 {fp32:7.0f} ex/s  bf16 {bf16:7.0f} ex/s  x{bf16 / fp32:4.1f}  "
                f"loss {loss32:.3f} vs {loss16:.3f}",
                flush=True,
            )
    out = {"machine": machine(), "date": today(), "command": " ".join(["python", *sys.argv]), "rows": rows}
    path = ROOT / "benchmarks" / "results" / "melody_speed.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "| bars | decoder | fp32 examples/s | bf16 examples/s | speed-up | loss fp32 | loss bf16 |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['bars']} | {r['decoder']} | {r['fp32_examples_per_second']:.0f} | {r['bf16_examples_per_second']:.0f} "
        f"| {r['speedup']:.1f}x | {r['loss_fp32']:.3f} | {r['loss_bf16']:.3f} |"
        for r in rows
    ]
    update_docs(
        "Melody VAE training speed: float32 against bf16 autocast (issue 7)",
        f"""`{out["command"]}` ({out["date"]}, {out["machine"]}). {args.steps} Adam steps of batch
{args.batch_size} after 2 warm-up steps, the same initial weights and batches in both precisions; the loss is
the negative ELBO of one batch at initialisation, in nats per window, in each precision.

"""
        + "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
