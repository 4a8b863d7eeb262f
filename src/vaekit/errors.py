"""User-facing errors: the CLI turns these into one line ``error: <what> (<hint>)`` and exit code 2.

An interrupt (Ctrl-C) during long work is re-raised as :class:`Interrupted`, still a ``KeyboardInterrupt``, that
says what was kept; the CLI prints it the same way and exits with 130, as shells expect.
"""

from __future__ import annotations


class VaekitError(Exception):
    """A mistake the user can fix: bad data, a bad option value, an incomplete run folder.

    ``str(err)`` is the full one-line message, hint included.
    """

    def __init__(self, what: str, hint: str | None = None):
        self.what = what
        self.hint = hint
        super().__init__(f"{what} ({hint})" if hint else what)


class DataError(VaekitError, ValueError):
    """The data cannot be read, is corrupt, or does not fit the model (also a ``ValueError``, as Python expects)."""


class RunFolderError(VaekitError):
    """A run folder is missing, incomplete or from an incompatible version."""


class TrainingError(VaekitError):
    """Training cannot go on (for example, the loss keeps being non-finite)."""


class OptionError(VaekitError, ValueError):
    """An option has a value that cannot work (also a ``ValueError``, as scikit-learn expects)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during long work, saying what was kept and how to go on (``str(err)`` is the one-line message).

    A ``KeyboardInterrupt``, so code that stops on an interrupt still does, and ``except Exception`` does not
    swallow it.
    """

    def __init__(self, what: str, hint: str | None = None):
        self.what = what
        self.hint = hint
        super().__init__(f"{what} ({hint})" if hint else what)
