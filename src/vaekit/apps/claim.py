"""A run folder claimed for one training run: checked once its lock is held, released (and removed if the run
created it and left it empty) when the run ends; and what Ctrl-C during training says was kept."""

from __future__ import annotations

import contextlib
import os

from vaekit.errors import Interrupted, RunFolderError, VaekitError
from vaekit.train import RunFolder


def claim_folder(
    out: str | os.PathLike | None, resume: bool, restart: bool = False, verify: bool = True
) -> RunFolder | None:
    """The run folder ``out``, locked by this process (rank 0) for the run; checked only once it is held.

    A new run needs an empty or absent folder, a resumed one a checkpoint, and a ``restart`` (a run with no
    completed epoch, started again) a folder whose earlier training files are then removed.
    """
    if out is None:
        if resume:
            raise VaekitError("--resume needs the run folder", "give --out RUN")
        return None
    folder = RunFolder(out, verify=verify)
    if folder.path.exists() and not folder.path.is_dir():
        raise RunFolderError(f"--out {folder.path} is a file, not a folder", "give a folder for the run")
    created = not folder.path.exists()
    lock = folder.lock()
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 writes the folder and holds its lock
        lock.acquire()
    try:
        if resume and not folder.has_state():
            raise RunFolderError(
                f"nothing to resume in {folder.path} (no {RunFolder.STATE})", "start a new run instead"
            )
        if restart:
            folder.clear_training()
        elif not resume and not folder.is_empty():
            raise VaekitError(
                f"run folder {folder.path} already exists", "use --resume to continue it, or another --out"
            )
    except BaseException:
        lock.release()
        if created and folder.is_empty():
            folder.path.rmdir()
        raise
    folder.held_lock, folder.created = lock, created
    return folder


def release_folder(folder: RunFolder | None) -> None:
    """Give up the folder's lock; a folder this run created and left empty (it failed early) goes too."""
    if folder is None:
        return
    if folder.held_lock is not None:
        folder.held_lock.release()
    if folder.created and folder.is_empty():
        with contextlib.suppress(OSError):
            folder.path.rmdir()


def interrupted(folder: RunFolder | None, epoch: int | None, epochs: int, resume: bool = False) -> Interrupted:
    """The message of Ctrl-C during training (``epoch``: epochs completed, None before training started)."""
    what = "interrupted before training started" if epoch is None else f"interrupted after epoch {epoch} of {epochs}"
    if folder is None:
        return Interrupted(what, "nothing was written")
    if epoch == 0 or (epoch is None and not resume):
        return Interrupted(what, f"no epoch completed; vaekit train --resume --out {folder.path} starts it again")
    return Interrupted(what, f"continue with vaekit train --resume --out {folder.path}")
