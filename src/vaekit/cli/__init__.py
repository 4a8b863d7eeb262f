"""The ``vaekit`` command: parse, open the run or data, one library call, print.

One module per command family (:mod:`~vaekit.cli.train`, :mod:`~vaekit.cli.generate`,
:mod:`~vaekit.cli.evaluate`, :mod:`~vaekit.cli.tables`, :mod:`~vaekit.cli.explore`), sharing the app and option
definitions of :mod:`~vaekit.cli.common`. Every user mistake ends as one line ``error: <what> (<hint>)`` on stderr
with exit code 2; a file-system failure (permissions, a full disk) too; Ctrl-C says what was kept and exits with
130.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Any

import typer

from vaekit.cli import evaluate, explore, generate, tables, train  # noqa: F401  (each module registers its commands)
from vaekit.cli.common import app
from vaekit.errors import Interrupted, VaekitError

ORDER = [
    "train", "evaluate", "sample", "reconstruct", "encode", "interpolate", "traverse", "latent-map", "compose",
    "report", "explore",
]  # fmt: skip
app.registered_commands.sort(
    key=lambda c: ORDER.index(c.name or c.callback.__name__) if (c.name or c.callback.__name__) in ORDER else 99
)

# Typer ships its own copy of click in recent versions; take the exception classes from its MRO so this works
# with either.
_CLICK_ERRORS = {c.__name__: c for c in typer.BadParameter.__mro__}
ClickException, UsageError = _CLICK_ERRORS["ClickException"], _CLICK_ERRORS["UsageError"]


INTERRUPTED = "interrupted (files are written whole or not at all; a run can be continued with --resume)"


class _CommandInterrupted(Exception):
    """Ctrl-C inside a command, carried past typer (which would turn it into a silent exit code)."""


def _interruptible(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt as err:
            raise _CommandInterrupted(str(err) if isinstance(err, Interrupted) else INTERRUPTED) from None

    return command


def _wrap_commands(typer_app: typer.Typer) -> None:
    """Make every command of ``typer_app`` and its sub-apps (``vaekit anomaly ...``) report Ctrl-C."""
    for command in typer_app.registered_commands:
        command.callback = _interruptible(command.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _wrap_commands(group.typer_instance)


_wrap_commands(app)

# hints for the file-system errors a user can fix
_OS_HINTS = {
    errno.EACCES: "check the folder's permissions",
    errno.EPERM: "check the folder's permissions",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "free some disk space; a training run continues with --resume",
    errno.EDQUOT: "free some disk space; a training run continues with --resume",
    errno.EISDIR: "give a file name, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "give another name",
    errno.ENAMETOOLONG: "give a shorter name",
}


def _os_message(err: OSError) -> str:
    where = f": {err.filename}" if err.filename else ""
    hint = _OS_HINTS.get(err.errno or 0)
    return f"{err.strerror or err}{where}" + (f" ({hint})" if hint else "")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every user mistake into one ``error:`` line and exit code 2."""
    try:
        code = app(args=argv, prog_name="vaekit", standalone_mode=False)
    except VaekitError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except _CommandInterrupted as err:
        typer.echo(f"error: {err}", err=True)
        return 130
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
    except OSError as err:
        typer.echo(f"error: {_os_message(err)}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo(f"error: {INTERRUPTED}", err=True)
        return 130
    except typer.Exit as err:
        return err.exit_code
    if code == 130:  # typer's own answer to an interrupt outside a command
        typer.echo(f"error: {INTERRUPTED}", err=True)
    return code if isinstance(code, int) else 0


__all__ = ["app", "main"]
