"""The Essen Folksong Collection that ships inside music21: parsed once, cached, split by tune.

music21's ``corpus/essenFolksong`` holds ABC files of German, Chinese and other folk songs (Schaffrath
1995). Parsing them all takes minutes, so :func:`essen_tunes` does it once, in parallel, and caches every tune's
tokens (:mod:`vaekit.music.tokens`) in one compressed array file in the data directory
(:mod:`vaekit.music.corpus`)::

    essen/essen-music21-<music21 version>-enc<encoder version>.npz

The cache holds whole tunes, not windows, so 2-bar and 16-bar windows come from one parse. Tunes are split
80 / 10 / 10 into train / val / test by a fixed permutation of tune indices (seed 0), so no window of a test
tune is seen in training. The ``folk`` data set (:mod:`vaekit.music.folk`) reads the same cache and keeps
these splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.data.dataset import Dataset
from vaekit.music import corpus
from vaekit.music.corpus import split_by_tune, split_tunes, windows_of_tunes
from vaekit.music.tokens import DEFAULT_BARS

__all__ = [
    "cache_path",
    "corpus_files",
    "essen_tunes",
    "load_essen",
    "split_by_tune",
    "split_tunes",
    "windows_of_tunes",
]

FOLDER = "essenFolksong"


def corpus_files() -> list[Path]:
    """The ABC files of music21's ``essenFolksong`` corpus, sorted by name."""
    return corpus.collection_files(FOLDER, "essen")


def cache_path(root: Path) -> Path:
    return corpus.cache_path(root, "essen", "essen", "essen")


def essen_tunes(root: Path, *, processes: int = 2, files: list[Path] | None = None, limit: int | None = None):
    """Every Essen tune's tokens as a list of int64 arrays, from the cache (parsing and caching on first use).

    ``files`` and ``limit`` (tunes per file) parse a subset instead, without touching the cache (for tests).
    """
    subset = files is not None or limit is not None
    path = cache_path(root)
    if not subset and path.is_file():
        return corpus.read_tunes(path, "Essen")
    files = corpus_files() if files is None else files
    return corpus.collection_tunes(path, files, what="Essen", processes=processes, limit=limit, cache=not subset)


def load_essen(root: Path, bars: int | None = None) -> Dataset:
    """Melodies of the Essen Folksong Collection inside music21 (about 8,500 tunes): windows of ``bars`` bars
    (default 2; 16 steps each) at every bar, split 80/10/10 by tune. Parsed once, then read from the cache."""
    tunes = essen_tunes(root)
    splits = {}
    for split, index in split_by_tune(len(tunes)).items():
        w = windows_of_tunes([tunes[i] for i in index], bars or DEFAULT_BARS)
        splits[split] = torch.from_numpy(w.astype(np.float32))
    return Dataset("essen", splits=splits, modality="melodies")
