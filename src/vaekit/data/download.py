"""Data directory resolution, checksummed files, and downloads from public mirrors."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from vaekit.errors import DataError
from vaekit.utils import atomic_open

log = logging.getLogger(__name__)

ENV_VAR = "VAEKIT_DATA_DIR"
CHUNK = 1 << 20


@dataclass(frozen=True)
class FileSpec:
    """One file of a named data set.

    ``path`` is relative to the data directory. ``sha256`` is the digest of the file's content: for a ``.gz``
    path, of the decompressed bytes, so any gzip of the right content is accepted (a copy recompressed at
    another level, or by another tool, is the same data). With ``gzip_after_download`` the mirrors serve the
    raw file and it is stored gzipped under ``path``; otherwise they serve the file as it is stored.
    """

    path: str
    sha256: str
    urls: tuple[str, ...]
    gzip_after_download: bool = False


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else ``$VAEKIT_DATA_DIR``, else the user cache folder (``$XDG_CACHE_HOME/vaekit``)."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "vaekit"


def fetch(spec: FileSpec, root: Path) -> bytes:
    """The verified content of ``spec`` under ``root`` (gunzipped for ``.gz``), downloading it first if missing.

    The file is read once and decompressed once; the checksum covers the decompressed content.
    """
    path = root / spec.path
    if not path.is_file():
        _download(spec, path)
    raw = path.read_bytes()
    content = _gunzip(raw, path) if _gzipped(spec) else raw
    _check_digest(path, content, spec)
    return content


def _gzipped(spec: FileSpec) -> bool:
    return spec.path.endswith(".gz")


def _check_digest(path: Path, data: bytes, spec: FileSpec) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        content = "decompressed content" if _gzipped(spec) else "content"
        raise DataError(
            f"checksum mismatch for {path}: sha256 of its {content} {digest[:16]}..., expected {spec.sha256[:16]}...",
            "the file is corrupt, incomplete or a different version; delete it so it is fetched again",
        )


def _gunzip(raw: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path} is not a valid gzip file ({err})", "delete it so it is fetched again") from None


class _ChecksumMismatch(Exception):
    """The downloaded bytes are not the ones the spec names (the partial file is discarded)."""


class _ContentDigest:
    """The sha256 of a stream's content, fed chunk by chunk: gunzipped on the fly for a gzip stream (one or
    more members, as ``gzip.decompress`` reads them)."""

    def __init__(self, gzipped: bool):
        self.hash = hashlib.sha256()
        self.inflate = zlib.decompressobj(wbits=31) if gzipped else None
        self.in_member = False  # bytes of a gzip member were fed and its end has not come yet

    def update(self, chunk: bytes) -> None:
        if self.inflate is None:
            self.hash.update(chunk)
            return
        try:
            while chunk:
                self.in_member = True
                self.hash.update(self.inflate.decompress(chunk))
                chunk = b""
                if self.inflate.eof:  # a member ended; what follows starts the next one
                    chunk, self.in_member = self.inflate.unused_data, False
                    self.inflate = zlib.decompressobj(wbits=31)
        except zlib.error:
            raise _ChecksumMismatch from None

    def hexdigest(self) -> str:
        if self.in_member:  # a truncated gzip stream
            raise _ChecksumMismatch
        return self.hash.hexdigest()


def _download(spec: FileSpec, path: Path) -> None:
    hint = f"put the file at {path}, or point --data-dir / ${ENV_VAR} at a folder that has {spec.path}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{spec.path} is missing and {path.parent} cannot be created ({err.strerror})", hint) from None
    errors = []
    for url in spec.urls:
        log.info("downloading %s", url)
        try:
            with atomic_open(path, suffix=".part") as raw_out, urllib.request.urlopen(url, timeout=30) as response:
                # the mirror's stream is the raw content, or a gzip of it: its content digest is checked either way
                h = _ContentDigest(gzipped=_gzipped(spec) and not spec.gzip_after_download)
                out = gzip.GzipFile(fileobj=raw_out, mode="wb", mtime=0) if spec.gzip_after_download else raw_out
                while chunk := response.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                if out is not raw_out:
                    out.close()
                if h.hexdigest() != spec.sha256:
                    raise _ChecksumMismatch
            return
        except _ChecksumMismatch:
            errors.append(f"{url}: checksum mismatch")
        except (urllib.error.URLError, OSError, ValueError) as err:
            errors.append(f"{url}: {getattr(err, 'reason', err)}")
    raise DataError(f"{spec.path} is missing and could not be downloaded ({'; '.join(errors)})", hint)
