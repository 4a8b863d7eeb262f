"""``vaekit explore``: serve the live latent-space explorer of a run until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from vaekit.cli.common import DataDir, NoVerify, RunArg, RunData, Split, app
from vaekit.run import Run
from vaekit.server import explore as serve
from vaekit.server import is_loopback


@app.command()
def explore(
    run: RunArg,
    data: RunData = None,
    data_dir: DataDir = None,
    split: Split = "test",
    port: Annotated[int, typer.Option("--port", help="port to serve on (0: any free port)")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="address to serve on; anything but 127.0.0.1 exposes the model")
    ] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="open the page in the default browser")] = False,
    limit: Annotated[int, typer.Option("--limit", help="held-out examples on the latent map")] = 5000,
    no_verify: NoVerify = False,
) -> None:
    """Explore the latent space live in a browser: the map of held-out codes, decoding under the pointer,
    a slider per latent dimension, interpolation and sampling. Serves until Ctrl-C."""
    explorer = serve(
        Run.open(run, verify=not no_verify),
        data=data,
        data_dir=data_dir,
        split=split,
        host=host,
        port=port,
        limit=limit,
        open_browser=open_browser,
    )
    if not is_loopback(host):
        typer.echo(
            f"warning: serving on {host}: anyone who can reach this machine on port {explorer.port} can use the model "
            "and read the run's data (the default --host 127.0.0.1 serves this machine only)",
            err=True,
        )
    typer.echo(f"exploring {run} at {explorer.url} (Ctrl-C stops)")
    try:
        explorer.wait()
    except KeyboardInterrupt:
        pass
    finally:
        explorer.stop()
    typer.echo("stopped")
