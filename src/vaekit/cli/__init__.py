"""The ``vaekit`` command: parse, open the run or data, one library call, print.

One module per command family (:mod:`~vaekit.cli.train`, :mod:`~vaekit.cli.generate`,
:mod:`~vaekit.cli.evaluate`, :mod:`~vaekit.cli.tables`), sharing the app and option definitions of
:mod:`~vaekit.cli.common`. Every user mistake ends as one line ``error: <what> (<hint>)`` on stderr with exit
code 2.
"""

from __future__ import annotations

import typer

from vaekit.cli import evaluate, generate, tables, train  # noqa: F401  (each module registers its commands)
from vaekit.cli.common import app
from vaekit.errors import VaekitError

ORDER = ["train", "evaluate", "sample", "reconstruct", "encode", "interpolate", "traverse", "latent-map", "report"]
app.registered_commands.sort(
    key=lambda c: ORDER.index(c.name or c.callback.__name__) if (c.name or c.callback.__name__) in ORDER else 99
)

# Typer ships its own copy of click in recent versions; take the exception classes from its MRO so this works
# with either.
_CLICK_ERRORS = {c.__name__: c for c in typer.BadParameter.__mro__}
ClickException, UsageError = _CLICK_ERRORS["ClickException"], _CLICK_ERRORS["UsageError"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every user mistake into one ``error:`` line and exit code 2."""
    try:
        app(args=argv, prog_name="vaekit", standalone_mode=False)
    except VaekitError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except UsageError as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            typer.echo(err.ctx.get_help() if err.ctx else "usage: vaekit COMMAND", err=True)
            return 2
        hint = f" (see vaekit {err.ctx.info_name} --help)" if err.ctx and err.ctx.info_name != "vaekit" else ""
        typer.echo(f"error: {err.format_message()}{hint}", err=True)
        return 2
    except ClickException as err:
        typer.echo(f"error: {err.format_message()}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("error: interrupted (a run can be continued with vaekit train --resume --out RUN)", err=True)
        return 130
    except typer.Exit as err:
        return err.exit_code
    return 0


__all__ = ["app", "main"]
