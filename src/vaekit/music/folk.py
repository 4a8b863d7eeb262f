"""Folk melodies from several of music21's collections behind one data set, ``folk``; O'Neill's as ``oneills``.

``folk`` joins the monophonic folk collections that ship inside music21, in this order (which decides which copy
of a duplicate tune is kept: the first)::

    essen       essenFolksong       the Essen Folksong Collection (Schaffrath 1995), about 8,500 tunes
    ryans       ryansMammoth        Ryan's Mammoth Collection (1883): reels, jigs, hornpipes, one tune a file
    airds       airdsAirs           Aird's Selection of Scotch, English, Irish and Foreign Airs (six volumes, from 1778)
    miscfolk    miscFolk            American fife tunes and Northumbrian Minstrelsy
    nottingham  nottingham-dataset  the two Nottingham Music Database tunes music21 ships

Each collection is parsed once and cached by :mod:`vaekit.music.corpus`: Essen in the very cache the ``essen``
data set uses (``essen/essen-music21-*.npz``), the others in ``folk/<name>-music21-*.npz``. One file per
collection, so ``essen`` and ``folk`` share one parse of the largest collection, a collection added later parses
only itself, and deduplication and splits, computed at load time (about 0.2 s), can change without a parse.

**Duplicates.** A tune's identity (:func:`tune_key`) is its incipit: the pitch intervals between its first 17
notes and their inter-onset intervals divided by their greatest common divisor. The same tune transposed, in
another octave or key, or written in halved or doubled note values has the same identity; rests, the tune's
start within its first bar and whatever follows the incipit (a variant ending, a repeat written out) do not
count. Walking the collections in the order above, a tune whose identity was seen before is dropped, within a
collection as across collections; inside Essen, a tune of ``essen``'s test split comes before one of its
validation split, which comes before one of its training split.

**Splits.** Essen tunes keep the split the ``essen`` data set gives them; with the order above, ``folk``'s
training split holds no tune with the identity of one of ``essen``'s test tunes (``essen``'s own training split
holds 55 such, 6% of its test tunes), so a model trained on ``folk`` can be scored on ``essen``'s test split
and compared with one trained on ``essen``. The tunes each other collection keeps are split 80 / 10 / 10 by a
fixed permutation (seed 0), collection by collection. No identity is in two splits, and windows are cut from
the tunes of a split, so no window of a test tune is trained on.

**The outside test set.** ``oneills1850`` is never part of ``folk`` and was not used to choose anything about
it: the ``oneills`` data set is O'Neill's Music of Ireland (1850 tunes, ``oneills1850``) as one ``test`` split,
without the tunes that duplicate a tune of ``folk``'s training split or an earlier tune of O'Neill's.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vaekit.data.dataset import Dataset
from vaekit.music import corpus, essen
from vaekit.music.tokens import DEFAULT_BARS, FIRST_PITCH_TOKEN

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# How many pitch intervals make a tune's identity: 16, from its first 17 notes. Chosen on the folk collections
# alone (O'Neill's was not looked at) by benchmarks/folk_counts.py: the whole tune misses variants of one tune
# (it finds 223 duplicates, the incipit 608; the Irish Washerwoman of Ryan's and of Aird's is one of those
# missed), 8 intervals take tunes that only open alike (1,188), and the pairs that 16 intervals add to the
# whole-tune ones are mostly variants: their whole sequences have a median similarity of 0.87.
INCIPIT = 16


@dataclass(frozen=True)
class Collection:
    """One tune collection in music21's corpus: its short ``name`` and its ``folder`` under ``corpus/``."""

    name: str
    folder: str


ESSEN = Collection("essen", "essenFolksong")
FOLK = (
    ESSEN,
    Collection("ryans", "ryansMammoth"),
    Collection("airds", "airdsAirs"),
    Collection("miscfolk", "miscFolk"),
    Collection("nottingham", "nottingham-dataset"),
)
ONEILLS = Collection("oneills", "oneills1850")


def tune_key(tokens: np.ndarray, n_intervals: int | None = INCIPIT) -> bytes:
    """A tune's identity, hashed (20 bytes): the pitch intervals between its first ``n_intervals + 1`` notes
    (``None``: all) and their inter-onset intervals divided by their greatest common divisor.

    Transposition, octave and note-value scale leave it unchanged; so do rests (a rest lengthens the gap
    between two onsets just as a longer note would), the first note's offset and the last note's length, and
    anything after the incipit (variants of a tune that differ in a later bar, an ending or a repeat written
    out are one tune).
    """
    tokens = np.asarray(tokens)
    onsets = np.flatnonzero(tokens >= FIRST_PITCH_TOKEN)[: None if n_intervals is None else n_intervals + 1]
    intervals = np.diff(tokens[onsets].astype(np.int64))
    gaps = np.diff(onsets)
    if len(gaps):
        gaps = gaps // np.gcd.reduce(gaps)
    return hashlib.sha1(intervals.astype(np.int16).tobytes() + b"|" + gaps.astype(np.int32).tobytes()).digest()


def collection_tunes(root: Path, collection: Collection, *, processes: int = 2) -> list[np.ndarray]:
    """A collection's tunes (int64 token arrays, in file order), from its cache (parsed and cached on first use)."""
    if collection == ESSEN:
        return essen.essen_tunes(root, processes=processes)
    data_set = "oneills" if collection == ONEILLS else "folk"
    path = corpus.cache_path(root, data_set, collection.name, data_set)
    if path.is_file():
        return corpus.read_tunes(path, collection.folder)
    files = corpus.collection_files(collection.folder, data_set)
    return corpus.collection_tunes(path, files, what=collection.folder, processes=processes)


@dataclass
class Deduplicated:
    """Which tunes of each collection are kept, and how many were dropped as duplicates."""

    kept: dict[str, list[int]] = field(default_factory=dict)  # per collection: indices of the tunes kept
    within: dict[str, int] = field(default_factory=dict)  # dropped: the copy kept is in the same collection
    across: dict[str, int] = field(default_factory=dict)  # dropped: the copy kept is in an earlier collection
    keys: dict[bytes, str] = field(default_factory=dict)  # every identity -> the collection that kept it


def deduplicate(collections: dict[str, list[np.ndarray]], order: dict[str, list[int]] | None = None) -> Deduplicated:
    """Keep the first tune of each identity (:func:`tune_key`), walking ``collections`` in their order and each
    collection's tunes in index order, or in ``order[name]`` (a permutation of its indices) where given."""
    out = Deduplicated()
    for name, tunes in collections.items():
        out.kept[name], out.within[name], out.across[name] = [], 0, 0
        for i in (order or {}).get(name, range(len(tunes))):
            key = tune_key(tunes[i])
            if key not in out.keys:
                out.kept[name].append(int(i))
                out.keys[key] = name
            elif out.keys[key] == name:
                out.within[name] += 1
            else:
                out.across[name] += 1
        out.kept[name].sort()
    return out


@dataclass(frozen=True)
class FolkTunes:
    """The tunes of each split of ``folk`` (``tunes[split]``), where each came from (``source[split]``: the
    collection's name and the tune's index in it), and the counts per collection (``counts[name]``: ``parsed``,
    ``within`` and ``across`` duplicates dropped, ``kept``, and ``train`` / ``val`` / ``test`` tunes)."""

    tunes: dict[str, list[np.ndarray]]
    source: dict[str, list[tuple[str, int]]]
    counts: dict[str, dict[str, int]]


def folk_tunes(root: Path, *, processes: int = 2, collections: tuple[Collection, ...] = FOLK) -> FolkTunes:
    """The deduplicated tunes of the folk collections, split by tune (Essen's keep their ``essen`` split)."""
    parsed = {c.name: collection_tunes(root, c, processes=processes) for c in collections}
    return split_folk(parsed)


def split_folk(parsed: dict[str, list[np.ndarray]]) -> FolkTunes:
    """:func:`folk_tunes` of already parsed collections (``parsed[name]``, in priority order)."""
    essen_split = corpus.split_by_tune(len(parsed.get(ESSEN.name, [])))
    # Essen's held-out copies of a tune win over its training copies: folk then trains on no Essen test tune
    essen_order = [int(i) for s in ("test", "val", "train") for i in sorted(essen_split[s])]
    dedup = deduplicate(parsed, {ESSEN.name: essen_order})
    tunes: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    source: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    counts = {}
    for name, all_tunes in parsed.items():
        kept = dedup.kept[name]
        if name == ESSEN.name:  # the essen data set's own split of all its tunes, restricted to those kept
            split_of = {int(i): s for s, index in essen_split.items() for i in index}
            by_split = {s: [i for i in kept if split_of[i] == s] for s in SPLITS}
        else:
            by_split = {s: sorted(kept[j] for j in index) for s, index in corpus.split_by_tune(len(kept)).items()}
        for s in SPLITS:
            tunes[s] += [all_tunes[i] for i in by_split[s]]
            source[s] += [(name, i) for i in by_split[s]]
        counts[name] = {
            "parsed": len(all_tunes),
            "within": dedup.within[name],
            "across": dedup.across[name],
            "kept": len(kept),
            **{s: len(by_split[s]) for s in SPLITS},
        }
    return FolkTunes(tunes, source, counts)


def _windows(tunes: list[np.ndarray], bars: int | None) -> torch.Tensor:
    return torch.from_numpy(corpus.windows_of_tunes(tunes, bars or DEFAULT_BARS).astype(np.float32))


def load_folk(root: Path, bars: int | None = None) -> Dataset:
    """Melodies of music21's folk collections (Essen, Ryan's Mammoth, Aird's Airs, miscFolk, Nottingham), each
    tune once: windows of ``bars`` bars (default 2; 16 steps each) at every bar, split 80/10/10 by tune, Essen's
    tunes in their ``essen`` splits. O'Neill's 1850 is left out (it is ``oneills``)."""
    corpus.music21_module("folk")  # one clear error before any collection is looked at
    folk = folk_tunes(root)
    return Dataset("folk", splits={s: _windows(folk.tunes[s], bars) for s in SPLITS}, modality="melodies")


@dataclass(frozen=True)
class OutsideTunes:
    """The tunes of the outside test set and its counts: ``parsed``, ``within`` (duplicates inside it),
    ``in_train`` (duplicates of ``folk``'s training tunes, dropped), ``in_held_out`` (duplicates of ``folk``'s
    validation or test tunes, kept) and ``kept``."""

    tunes: list[np.ndarray]
    counts: dict[str, int]


def outside_tunes(parsed: list[np.ndarray], folk: FolkTunes) -> OutsideTunes:
    """The tunes of ``parsed`` that are not duplicates of ``folk``'s training tunes, nor of one before them."""
    train = {tune_key(t) for t in folk.tunes["train"]}
    held_out = {tune_key(t) for s in ("val", "test") for t in folk.tunes[s]}
    kept, seen = [], set()
    counts = dict.fromkeys(("parsed", "within", "in_train", "in_held_out", "kept"), 0)
    counts["parsed"] = len(parsed)
    for tokens in parsed:
        key = tune_key(tokens)
        if key in seen:
            counts["within"] += 1
        elif key in train:
            counts["in_train"] += 1
        else:
            counts["in_held_out"] += key in held_out
            kept.append(tokens)
        seen.add(key)
    counts["kept"] = len(kept)
    return OutsideTunes(kept, counts)


def oneills_tunes(root: Path, *, processes: int = 2) -> OutsideTunes:
    """O'Neill's 1850 tunes without the duplicates of ``folk``'s training tunes (parsing both on first use)."""
    folk = folk_tunes(root, processes=processes)
    return outside_tunes(collection_tunes(root, ONEILLS, processes=processes), folk)


def load_oneills(root: Path, bars: int | None = None) -> Dataset:
    """O'Neill's Music of Ireland (1850 tunes, music21's ``oneills1850``), an outside test set for ``folk``:
    windows of ``bars`` bars at every bar, all in one ``test`` split, without the tunes ``folk`` trains on."""
    corpus.music21_module("oneills")
    outside = oneills_tunes(root)
    return Dataset("oneills", splits={"test": _windows(outside.tunes, bars)}, modality="melodies")
