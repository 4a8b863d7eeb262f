"""What a trained run makes: ``sample``, ``reconstruct``, ``encode``, ``interpolate``, ``traverse``,
``latent-map``, ``compose`` and ``report``. Each opens the run once and makes one library call."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaekit.apps.generation import compose_run, encode_run, reconstruct_run, sample_run
from vaekit.apps.latent import interpolate_run, latent_map_run, traverse_run
from vaekit.cli.common import DataDir, NoVerify, RunArg, RunData, Seed, Split, app, output_option, outputs_help, wrote
from vaekit.run import Run


@app.command()
def sample(
    run: RunArg,
    output: output_option(outputs_help("samples")),
    n: Annotated[
        int | None, typer.Option("-n", help="number of samples [default: 64; with --grid-by-label 10 per class]")
    ] = None,
    temperature: Annotated[
        float, typer.Option("--temperature", "-t", help="prior scale T: z ~ N(0, T^2 I); melodies: softmax T")
    ] = 1.0,
    seed: Seed = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="melody: the most likely token at each step")] = False,
    label: Annotated[int | None, typer.Option("--label", help="conditional VAE: draw this class")] = None,
    grid_by_label: Annotated[
        bool, typer.Option("--grid-by-label", help="conditional VAE: a row of -n draws per class")
    ] = False,
    no_verify: NoVerify = False,
) -> None:
    """Draw new examples from the prior and decode them (a conditional VAE: of one class, or a row per class)."""
    sample_run(
        Run.open(run, verify=not no_verify),
        output,
        n=n,
        temperature=temperature,
        seed=seed,
        label=label,
        by_label=grid_by_label,
        greedy=greedy,
    )
    wrote(output)


@app.command()
def reconstruct(
    run: RunArg,
    output: output_option(outputs_help("reconstructions")),
    data: RunData = None,
    data_dir: DataDir = None,
    split: Split = "test",
    n: Annotated[int | None, typer.Option("-n", help="number of examples [default: 32 for .png, all for .npy]")] = None,
    no_verify: NoVerify = False,
) -> None:
    """Reconstruct inputs through the latent space: E[x | z = E[z|x]] (melodies: a greedy decoding from it)."""
    reconstruct_run(Run.open(run, verify=not no_verify), output, data=data, data_dir=data_dir, split=split, n=n)
    wrote(output)


@app.command()
def encode(
    run: RunArg,
    output: output_option(outputs_help("codes")),
    data: RunData = None,
    data_dir: DataDir = None,
    split: Split = "test",
    draw: Annotated[bool, typer.Option("--sample", help="draw z ~ q(z|x) instead of the mean E[z|x]")] = False,
    seed: Seed = None,
    no_verify: NoVerify = False,
) -> None:
    """Map inputs to latent codes (posterior means, or draws with --sample)."""
    encode_run(
        Run.open(run, verify=not no_verify), output, data=data, data_dir=data_dir, split=split, sample=draw, seed=seed
    )
    wrote(output)


@app.command()
def interpolate(
    run: RunArg,
    output: output_option(outputs_help("interpolation")),
    second: Annotated[
        str | None, typer.Argument(help="the second input file, as in --data a.mid b.mid", show_default=False)
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="data set [default: the run's data]; or two input files (melodies)")
    ] = None,
    data_dir: DataDir = None,
    split: Split = "test",
    pairs: Annotated[int, typer.Option("--pairs", help="number of random held-out pairs (a row each)")] = 8,
    steps: Annotated[int, typer.Option("--steps", help="decoded points per path, ends included")] = 10,
    method: Annotated[str, typer.Option("--method", help="lerp | slerp")] = "lerp",
    seed: Annotated[int, typer.Option("--seed", help="which pairs")] = 0,
    no_verify: NoVerify = False,
) -> None:
    """Decode points on the latent path between pairs of held-out inputs (shown at the ends of each row).

    For a model that reads input files (melodies): ``--data a.mid b.mid -o morph.mid`` gives the melodies between
    two tunes (.mid/.wav played one after the other, .png their piano rolls).
    """
    opened = Run.open(run, verify=not no_verify)
    files = [f for f in (data, second) if f is not None] if second is not None or _is_file(opened, data) else []
    interpolate_run(
        opened,
        output,
        inputs=files,
        data=None if files else data,
        data_dir=data_dir,
        split=split,
        pairs=pairs,
        steps=steps,
        method=method,
        seed=seed,
    )
    wrote(output)


@app.command()
def compose(
    run: RunArg,
    like: Annotated[Path, typer.Option("--like", help="the tune to vary (.mid, .abc, MusicXML)", show_default=False)],
    output: output_option(outputs_help("variations")),
    variations: Annotated[int, typer.Option("--variations", "-n", help="how many variations")] = 8,
    spread: Annotated[
        float, typer.Option("--spread", help="how far from the tune, in prior standard deviations (0: the tune itself)")
    ] = 0.5,
    seed: Seed = None,
    no_verify: NoVerify = False,
) -> None:
    """Variations of a tune: encode it, decode points around its latent code (.mid/.wav one after the other,
    .png their piano rolls over the tune in grey)."""
    compose_run(Run.open(run, verify=not no_verify), like, output, n=variations, spread=spread, seed=seed)
    wrote(output)


def _is_file(run: Run, data: str | None) -> bool:
    return data is not None and run.modality.reads_file(data)


@app.command()
def traverse(
    run: RunArg,
    output: output_option(outputs_help("traversal")),
    data: RunData = None,
    data_dir: DataDir = None,
    split: Split = "test",
    dims: Annotated[str, typer.Option("--dims", help="all (ordered by KL) or a list such as 0,3,5")] = "all",
    span: Annotated[
        float, typer.Option("--range", help="each dimension goes from -RANGE to RANGE (prior std units)")
    ] = 3.0,
    steps: Annotated[int, typer.Option("--steps", help="values per dimension")] = 9,
    index: Annotated[
        int, typer.Option("--index", help="the held-out example whose posterior mean is the base point")
    ] = 0,
    no_verify: NoVerify = False,
) -> None:
    """Vary one latent dimension at a time around a base point: a row per dimension, largest KL first."""
    result = traverse_run(
        Run.open(run, verify=not no_verify),
        output,
        data=data,
        data_dir=data_dir,
        split=split,
        dims=dims,
        span=span,
        steps=steps,
        index=index,
    )
    wrote(output, f"(dimensions {', '.join(str(d) for d in result.dims)})")


@app.command("latent-map")
def latent_map(
    run: RunArg,
    output: output_option(outputs_help("map")),
    data: RunData = None,
    data_dir: DataDir = None,
    split: Split = "test",
    limit: Annotated[int, typer.Option("--limit", help="at most this many examples in the scatter")] = 5000,
    grid: Annotated[int, typer.Option("--grid", help="decoded images per side of the manifold")] = 12,
    no_verify: NoVerify = False,
) -> None:
    """Latent means coloured by label beside the decoded manifold (2-D latent; else the first two PCs)."""
    latent_map_run(
        Run.open(run, verify=not no_verify), output, data=data, data_dir=data_dir, split=split, limit=limit, grid=grid
    )
    wrote(output)


@app.command()
def report(
    run: RunArg,
    data: RunData = None,
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option("--split", help="held-out split for the pictures")] = "test",
    output: Annotated[Path | None, typer.Option("-o", "--output", help=".html file [default: RUN/report.html]")] = None,
    no_verify: NoVerify = False,
) -> None:
    """One self-contained HTML page: config, figures, curves, samples, reconstructions, latent pictures."""
    from vaekit.apps.generation import check_output
    from vaekit.apps.report import write_report

    opened = Run.open(run, verify=not no_verify)
    output = output or run / "report.html"
    check_output(output, {".html"})
    write_report(opened, output, data=data, data_dir=data_dir, split=split)
    wrote(output)
