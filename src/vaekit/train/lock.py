"""An exclusive lock on a run folder, so two processes never write one folder at once.

The lock is an ``flock`` on ``RUN/.lock``, a file that holds the owner's process id. The operating system
drops the lock when its process ends, however it ends (``kill -9`` included), so a lock left behind by a dead
process is stale by construction and the next run takes it over.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from vaekit.errors import RunFolderError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not locked
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class FolderLock:
    """Held by one process at a time: :meth:`acquire` raises :class:`RunFolderError` naming the holder."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (creating the folder), or raise ``run folder ... is in use by process N``."""
        if self.held:
            return
        if fcntl is None:
            log.debug("no flock on this platform: %s is not locked", self.folder)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise RunFolderError(
                    f"run folder {self.folder} is in use by process {holder}",
                    "wait for it to finish, or give another --out",
                ) from None
            # the holder before us may have removed the file after we opened it: then we locked an orphan
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        """Give the lock up and remove its file (removed while still held, so no one locks an orphan)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
