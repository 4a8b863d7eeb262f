"""Tune collections in music21's corpus: ABC files parsed once, in parallel, cached as whole tunes.

A collection is a folder of ``corpus/`` (``essenFolksong``, ``ryansMammoth``, ...) holding ABC files, each with
one or many tunes (one per ``X:`` header). :func:`collection_tunes` parses every tune into tokens
(:mod:`vaekit.music.tokens`: the top line, shifted by octaves into the pitch range) and caches them in one
compressed array file, written atomically and named by the music21 version and the token encoder version::

    <data dir>/<folder>/<name>-music21-<music21 version>-enc<encoder version>.npz   (tokens, offsets)

The cache holds whole tunes, not windows, so windows of any length come from one parse; :func:`split_by_tune`
and :func:`windows_of_tunes` turn tunes into a data set's splits.
"""

from __future__ import annotations

import logging
import re
import time
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from vaekit.errors import DataError
from vaekit.music.tokens import ENCODER_VERSION, N_TOKENS, STEPS_PER_BAR, notes_to_tokens, octave_into_range, windows
from vaekit.utils import atomic_write_bytes, npz_bytes

log = logging.getLogger(__name__)

SPLIT_FRACTIONS = {"test": 0.1, "val": 0.1}
SPLIT_SEED = 0


def music21_module(data_set: str):
    """The ``music21`` module, or one clear error naming the ``data_set`` that needs it."""
    try:
        import music21
    except ImportError:
        raise DataError(f"the {data_set} data set needs the music21 package", "pip install 'vaekit[music]'") from None
    return music21


def collection_files(folder: str, data_set: str) -> list[Path]:
    """The ABC files of music21's ``corpus/<folder>``, sorted by name."""
    path = Path(music21_module(data_set).__file__).parent / "corpus" / folder
    files = sorted(path.glob("*.abc"))
    if not files:
        raise DataError(f"no ABC files in {path}", f"reinstall music21, which ships the {folder} corpus")
    return files


def split_tunes(text: str) -> list[str]:
    """The tunes of an ABC collection: one text per ``X:`` header."""
    parts = re.split(r"(?m)^(?=X:)", text)
    return [p for p in parts if p.startswith("X:")]


def encode_abc_tune(text: str, what: str = "a tune") -> np.ndarray | None:
    """One ABC tune's tokens (int8, shifted by octaves into the pitch range), or ``None`` if unreadable/empty."""
    from vaekit.music.midi import score_notes

    music21 = music21_module("melody")
    try:
        score = music21.converter.parse(text, format="abc", forceSource=True)
        notes = score_notes(score, what)
    except Exception:  # a malformed tune is skipped, not fatal: music21 raises many unrelated types
        return None
    notes = octave_into_range(notes) if notes else None
    return notes_to_tokens(notes).astype(np.int8) if notes else None


def encode_file(path: str, limit: int | None = None, what: str = "a tune") -> list[np.ndarray | None]:
    """Tokens of every tune of one ABC file (``None`` for an unreadable or empty tune); the first ``limit`` only."""
    tunes = split_tunes(Path(path).read_text(encoding="latin-1"))
    # chords in a few tunes: top line, quietly; the levels are put back, for a parse in the caller's process
    quiet = [logging.getLogger(name) for name in ("music21", "vaekit.music.tokens")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        return [encode_abc_tune(t, what) for t in tunes[:limit]]
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def parse_files(
    files: list[Path], *, processes: int = 2, limit: int | None = None, what: str = "a tune"
) -> list[list[np.ndarray | None]]:
    """:func:`encode_file` of every file (in ``processes`` processes), in file order."""
    n = len(files)
    if processes > 1 and n > 1:
        with ProcessPoolExecutor(min(processes, n)) as pool:
            chunk = max(1, n // (8 * processes))  # one file a task costs more in messages than in parsing
            return list(pool.map(encode_file, [str(f) for f in files], [limit] * n, [what] * n, chunksize=chunk))
    return [encode_file(str(f), limit, what) for f in files]


def cache_path(root: Path, folder: str, name: str, data_set: str) -> Path:
    """Where a collection's tunes are cached: keyed by the music21 version and the token encoder version."""
    version = music21_module(data_set).__version__
    return Path(root) / folder / f"{name}-music21-{version}-enc{ENCODER_VERSION}.npz"


def read_tunes(path: Path, what: str) -> list[np.ndarray]:
    """Tunes (int64 token arrays) from a cache file; a clear error saying to delete it if it is unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            flat, offsets = z["tokens"], z["offsets"]
        bad = (
            flat.ndim != 1
            or offsets.ndim != 1
            or len(offsets) < 1
            or offsets[0] != 0
            or offsets[-1] != len(flat)
            or (np.diff(offsets) < 0).any()
            or (len(flat) and (flat.min() < 0 or flat.max() >= N_TOKENS))
        )
        if bad:
            raise ValueError("tokens and offsets do not match")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"the {what} cache {path} is unreadable ({err})", "delete it to parse again") from None
    return [flat[a:b].astype(np.int64) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def write_tunes(path: Path, tunes: list[np.ndarray]) -> None:
    """Cache ``tunes`` in one compressed file, atomically."""
    offsets = np.cumsum([0] + [len(t) for t in tunes])
    flat = np.concatenate(tunes).astype(np.int8) if tunes else np.zeros(0, dtype=np.int8)
    atomic_write_bytes(path, npz_bytes(compressed=True, tokens=flat, offsets=offsets))


def collection_tunes(
    path: Path,
    files: list[Path],
    *,
    what: str,
    processes: int = 2,
    limit: int | None = None,
    cache: bool = True,
) -> list[np.ndarray]:
    """Every tune's tokens (int64 arrays, in file order) from the cache at ``path``, parsing ``files`` and
    caching them on first use. Unreadable and empty tunes are skipped. ``what`` names the collection in messages
    ("Essen": "the Essen cache ... is unreadable"). ``cache=False`` parses without reading or writing the cache
    (a subset, for tests); ``limit`` keeps the first tunes of each file."""
    if cache and path.is_file():
        return read_tunes(path, what)
    t0 = time.perf_counter()
    log.info("parsing the %s corpus (%d files) with %d processes; cached after this once", what, len(files), processes)
    per_file = parse_files(files, processes=processes, limit=limit, what=f"a tune of {what}")
    tunes = [t for tunes in per_file for t in tunes if t is not None and len(t)]
    skipped = sum(t is None for tunes in per_file for t in tunes)
    log.info("parsed %d tunes (%d unreadable, skipped) in %.0f s", len(tunes), skipped, time.perf_counter() - t0)
    if cache:
        write_tunes(path, tunes)
    return [t.astype(np.int64) for t in tunes]


def split_by_tune(n_tunes: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Tune indices per split: a fixed permutation, the first 10% test, the next 10% val, the rest train."""
    perm = np.random.default_rng(seed).permutation(n_tunes)
    n_test, n_val = round(n_tunes * SPLIT_FRACTIONS["test"]), round(n_tunes * SPLIT_FRACTIONS["val"])
    return {"test": perm[:n_test], "val": perm[n_test : n_test + n_val], "train": perm[n_test + n_val :]}


def windows_of_tunes(tunes: list[np.ndarray], bars: int) -> np.ndarray:
    """All windows of ``bars`` bars (one bar of stride) of the given tunes, ``(N, 16 * bars)`` int64."""
    n_steps = bars * STEPS_PER_BAR
    parts = [windows(t, n_steps) for t in tunes]
    return np.concatenate(parts) if parts else np.zeros((0, n_steps), dtype=np.int64)
