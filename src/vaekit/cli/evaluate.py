"""``vaekit evaluate``: likelihood, ELBO, active units and the modality's own figures; or the MIG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaekit.apps.evaluation import evaluate_all, mig_run, write_figures
from vaekit.apps.generation import check_output
from vaekit.cli.common import (
    DataDir,
    Device,
    NoVerify,
    RunArg,
    RunData,
    Split,
    app,
    counting,
    print_table,
    setup_logging,
    wrote,
)
from vaekit.errors import VaekitError
from vaekit.evaluate import MAX_DRAWS, MAX_DRAWS_ACCELERATOR
from vaekit.run import Run


@app.command()
def evaluate(
    run: RunArg,
    data: RunData = None,
    data_dir: DataDir = None,
    split: Split = "test",
    k: Annotated[int, typer.Option("--k", help="importance samples per example")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="seed of the draws (repeatable figures)")] = 0,
    limit: Annotated[
        int | None, typer.Option("--limit", help="evaluate a seeded random subset of N examples (listed in --json)")
    ] = None,
    device: Device = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the figures to this .json file")] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="nll (likelihood, ELBO, active units) | mig (disentanglement)")
    ] = "nll",
    no_verify: NoVerify = False,
    compile: Annotated[
        bool | None,
        typer.Option("--compile/--no-compile", help="torch.compile the model's trunks [default: on CUDA only]"),
    ] = None,
    max_draws: Annotated[
        int | None,
        typer.Option(
            "--max-draws",
            help="(example, draw) pairs per decoder pass: memory against speed [default: "
            f"{MAX_DRAWS} on a CPU, {MAX_DRAWS_ACCELERATOR} on a GPU]",
        ),
    ] = None,
) -> None:
    """Importance-sampled log-likelihood (nats, bits/dim), the ELBO's terms and active units on held-out data;
    or, with --metric mig, the Mutual Information Gap against the data's ground-truth factors."""
    if json_out is not None:
        check_output(json_out, {".json"})
    if max_draws is not None and max_draws < 1:
        raise VaekitError(f"--max-draws must be at least 1, got {max_draws}")
    if metric not in ("nll", "mig"):
        raise VaekitError(f"unknown metric {metric!r}", "use --metric nll or --metric mig")
    setup_logging(quiet=False)
    opened = Run.open(run, verify=not no_verify)
    if metric == "mig":
        result = mig_run(opened, data=data, split=split, limit=limit, data_dir=data_dir, device=device)
        figures = result.to_dict()
        rows = [
            (name, f"{gap:.3f}", f"z{top}", f"{h:.2f}")
            for name, gap, top, h in zip(result.factor_names, result.gaps, result.top_dims, result.entropy, strict=True)
        ]
        rows.append(("MIG (mean)", f"{result.mig:.3f}", "", ""))
        title = f"{run}: MIG over {result.n_examples} {split} examples"
        columns: tuple[str, ...] = ("factor", "gap", "best dimension", "H(factor) nats")
    else:
        with counting("examples") as progress:
            full = evaluate_all(
                opened,
                data=data,
                split=split,
                k=k,
                seed=seed,
                limit=limit,
                data_dir=data_dir,
                device=device,
                compile=compile,
                max_draws=max_draws,
                progress=progress,
            )
        figures, e = full.to_dict(), full.evaluation
        layers = "+".join(str(a) for a in e.active_units_per_layer)
        rows = [
            ("nll (nats)", f"{e.nll:.3f} ± {e.nll_sem:.3f}"),
            ("negative ELBO (nats)", f"{e.neg_elbo:.3f}"),
            ("  reconstruction", f"{e.recon:.3f}"),
            ("  KL", f"{e.kl:.3f}"),
            ("bits per dimension", f"{e.bits_per_dim:.4f}"),
        ]
        if opened.config.model.likelihood in ("gaussian", "mixed"):  # densities of continuous values
            rows.append(("  nll of continuous data", "a density: negative where p(x) > 1"))
        rows += [
            ("active units", f"{e.active_units} of {sum(e.latent_dims)} ({layers})"),
        ]
        if e.kl_per_dim is not None:
            rows.append(("KL per dimension (largest)", " ".join(f"{v:.2f}" for v in sorted(e.kl_per_dim)[::-1][:8])))
        rows.append(("seconds", f"{e.seconds:.1f}"))
        rows += full.rows
        title, columns = f"{run}: {e.n_examples} {split} examples, k = {e.k}", ("figure", "value")
    if json_out is not None:
        write_figures(figures, json_out)
    print_table(title, rows, columns)
    if json_out is not None:
        wrote(json_out)
