"""The Essen Folksong Collection that ships inside music21: parsed once, cached, split by tune.

music21's ``corpus/essenFolksong`` holds ABC files of German, Chinese and other folk songs (Schaffrath
1995). Parsing them all takes minutes, so :func:`essen_tunes` does it once, in parallel, and caches every tune's
tokens (:mod:`vaekit.music.tokens`) in one compressed array file in the data directory::

    essen/essen-music21-<music21 version>-enc<encoder version>.npz

The cache holds whole tunes, not windows, so 2-bar and 16-bar windows come from one parse. Tunes are split
80 / 10 / 10 into train / val / test by a fixed permutation of tune indices (seed 0), so no window of a test
tune is seen in training.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from vaekit.data.dataset import Dataset
from vaekit.errors import DataError
from vaekit.music.tokens import (
    DEFAULT_BARS,
    ENCODER_VERSION,
    STEPS_PER_BAR,
    notes_to_tokens,
    octave_into_range,
    windows,
)
from vaekit.utils import atomic_write_bytes, npz_bytes

log = logging.getLogger(__name__)

SPLIT_FRACTIONS = {"test": 0.1, "val": 0.1}
SPLIT_SEED = 0


def _music21():
    try:
        import music21
    except ImportError:
        raise DataError("the essen data set needs the music21 package", "pip install 'vaekit[music]'") from None
    return music21


def corpus_files() -> list[Path]:
    """The ABC files of music21's ``essenFolksong`` corpus, sorted by name."""
    folder = Path(_music21().__file__).parent / "corpus" / "essenFolksong"
    files = sorted(folder.glob("*.abc"))
    if not files:
        raise DataError(f"no ABC files in {folder}", "reinstall music21, which ships the Essen corpus")
    return files


def split_tunes(text: str) -> list[str]:
    """The tunes of an ABC collection: one text per ``X:`` header."""
    parts = re.split(r"(?m)^(?=X:)", text)
    return [p for p in parts if p.startswith("X:")]


def encode_abc_tune(text: str) -> np.ndarray | None:
    """One ABC tune's tokens (int8, shifted by octaves into the pitch range), or ``None`` if unreadable/empty."""
    from vaekit.music.midi import score_notes

    music21 = _music21()
    try:
        score = music21.converter.parse(text, format="abc", forceSource=True)
        notes = score_notes(score, "an Essen tune")
    except Exception:  # a malformed tune is skipped, not fatal: music21 raises many unrelated types
        return None
    notes = octave_into_range(notes) if notes else None
    return notes_to_tokens(notes).astype(np.int8) if notes else None


def _encode_file(path: str, limit: int | None) -> list[np.ndarray | None]:
    import logging as _logging

    _logging.getLogger("music21").setLevel(_logging.ERROR)
    _logging.getLogger("vaekit.music.tokens").setLevel(_logging.ERROR)  # chords in a few tunes: top line, quietly
    tunes = split_tunes(Path(path).read_text(encoding="latin-1"))
    return [encode_abc_tune(t) for t in tunes[:limit]]


def cache_path(root: Path) -> Path:
    return Path(root) / "essen" / f"essen-music21-{_music21().__version__}-enc{ENCODER_VERSION}.npz"


def essen_tunes(root: Path, *, processes: int = 2, files: list[Path] | None = None, limit: int | None = None):
    """Every Essen tune's tokens as a list of int64 arrays, from the cache (parsing and caching on first use).

    ``files`` and ``limit`` (tunes per file) parse a subset instead, without touching the cache (for tests).
    """
    path = cache_path(root)
    subset = files is not None or limit is not None
    if not subset and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                flat, offsets = z["tokens"], z["offsets"]
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"the Essen cache {path} is unreadable ({err})", "delete it to parse again") from None
        return [flat[a:b].astype(np.int64) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    files = corpus_files() if files is None else files
    t0 = time.perf_counter()
    log.info("parsing the Essen corpus (%d files) with %d processes; cached after this once", len(files), processes)
    if processes > 1:
        with ProcessPoolExecutor(processes) as pool:
            per_file = list(pool.map(_encode_file, [str(f) for f in files], [limit] * len(files)))
    else:
        per_file = [_encode_file(str(f), limit) for f in files]
    tunes = [t for tunes in per_file for t in tunes if t is not None and len(t)]
    skipped = sum(t is None for tunes in per_file for t in tunes)
    log.info("parsed %d tunes (%d unreadable, skipped) in %.0f s", len(tunes), skipped, time.perf_counter() - t0)
    if not subset:
        offsets = np.cumsum([0] + [len(t) for t in tunes])
        atomic_write_bytes(
            path, npz_bytes(compressed=True, tokens=np.concatenate(tunes).astype(np.int8), offsets=offsets)
        )
    return [t.astype(np.int64) for t in tunes]


def split_by_tune(n_tunes: int) -> dict[str, np.ndarray]:
    """Tune indices per split: a fixed permutation, the first 10% test, the next 10% val, the rest train."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n_tunes)
    n_test, n_val = round(n_tunes * SPLIT_FRACTIONS["test"]), round(n_tunes * SPLIT_FRACTIONS["val"])
    return {"test": perm[:n_test], "val": perm[n_test : n_test + n_val], "train": perm[n_test + n_val :]}


def windows_of_tunes(tunes: list[np.ndarray], bars: int) -> np.ndarray:
    """All windows of ``bars`` bars (one bar of stride) of the given tunes, ``(N, 16 * bars)`` int64."""
    n_steps = bars * STEPS_PER_BAR
    parts = [windows(t, n_steps) for t in tunes]
    return np.concatenate(parts) if parts else np.zeros((0, n_steps), dtype=np.int64)


def load_essen(root: Path, bars: int | None = None) -> Dataset:
    """Melodies of the Essen Folksong Collection inside music21 (about 8,500 tunes): windows of ``bars`` bars
    (default 2; 16 steps each) at every bar, split 80/10/10 by tune. Parsed once, then read from the cache."""
    tunes = essen_tunes(root)
    splits = {}
    for split, index in split_by_tune(len(tunes)).items():
        w = windows_of_tunes([tunes[i] for i in index], bars or DEFAULT_BARS)
        splits[split] = torch.from_numpy(w.astype(np.float32))
    return Dataset("essen", splits=splits, modality="melodies")
