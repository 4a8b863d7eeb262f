"""The ``folk`` data set (music21's folk collections, deduplicated, split by tune) and ``oneills`` (held out)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import vaekit
from tests.conftest import expect_error, one_thread
from vaekit.data.registry import REGISTRY, dataset_names
from vaekit.errors import DataError
from vaekit.music import corpus, essen, folk
from vaekit.music.folk import deduplicate, outside_tunes, split_folk, tune_key
from vaekit.music.tokens import Note, notes_to_tokens

music21 = pytest.importorskip("music21")

SPLITS = ("train", "val", "test")


def _tune(pitches, lengths, *, shift=0, scale=1, start=0) -> np.ndarray:
    notes, step = [], start
    for p, n in zip(pitches, lengths, strict=True):
        notes.append(Note(p + shift, step, step + n * scale))
        step += n * scale
    return notes_to_tokens(notes)


MELODY = ([67, 64, 64, 65, 62, 62, 60, 62, 64, 65, 67, 67, 67], [2, 2, 4, 2, 2, 4, 2, 2, 2, 2, 4, 4, 8])


def _random_tunes(rng: np.random.Generator, n: int, bars: int = 4) -> list[np.ndarray]:
    """``n`` distinct random tunes of ``bars`` bars (quarters and eighths in a two-octave range)."""
    out = []
    for _ in range(n):
        lengths = rng.choice([2, 4], size=8 * bars)
        lengths = lengths[np.cumsum(lengths) <= 16 * bars]
        out.append(_tune(rng.integers(55, 80, size=len(lengths)).tolist(), lengths.tolist()))
    return out


# identity and deduplication ---------------------------------------------------------------------------------
def test_a_tune_transposed_or_in_another_octave_or_note_value_is_the_same_tune():
    tune = _tune(*MELODY)
    assert tune_key(tune) == tune_key(_tune(*MELODY, shift=5))  # another key
    assert tune_key(tune) == tune_key(_tune(*MELODY, shift=-12))  # another octave
    assert tune_key(tune) == tune_key(_tune(*MELODY, scale=2))  # halved note values written as whole ones
    assert tune_key(tune) == tune_key(_tune(*MELODY, start=4))  # a pickup placed elsewhere in its bar
    staccato = notes_to_tokens([Note(n.pitch, n.start, n.start + 1) for n in vaekit.music.tokens.tokens_to_notes(tune)])
    assert tune_key(tune) == tune_key(staccato)  # rests between the notes instead of held notes


def test_a_different_tune_is_not_the_same_tune():
    pitches, lengths = MELODY
    other_pitch = _tune([*pitches[:5], pitches[5] + 2, *pitches[6:]], lengths)
    other_rhythm = _tune(pitches, [*lengths[:3], 2, 4, *lengths[5:]])
    shorter = _tune(pitches[:-1], lengths[:-1])
    keys = {tune_key(_tune(*MELODY)), tune_key(other_pitch), tune_key(other_rhythm), tune_key(shorter)}
    assert len(keys) == 4


def test_deduplicate_keeps_the_first_copy_and_counts_drops_within_and_across_collections():
    a, b, c, d = _random_tunes(np.random.default_rng(0), 4)
    up = lambda t: np.where(t >= 2, t + 3, t)  # noqa: E731  (the same tune a minor third higher)
    dedup = deduplicate({"first": [a, b, up(a)], "second": [up(b), c, c, d], "third": [d, up(c)]})
    assert dedup.kept == {"first": [0, 1], "second": [1, 3], "third": []}
    assert dedup.within == {"first": 1, "second": 1, "third": 0}
    assert dedup.across == {"first": 0, "second": 1, "third": 2}


# splits ------------------------------------------------------------------------------------------------------
def _parsed(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    tunes = _random_tunes(rng, 230)
    essen_tunes, others = tunes[:120], tunes[120:]
    essen_tunes[7] = essen_tunes[3].copy()  # a duplicate inside Essen
    others[0] = np.where(essen_tunes[5] >= 2, essen_tunes[5] + 2, essen_tunes[5])  # an Essen tune, transposed
    return {"essen": essen_tunes, "ryans": others[:80], "airds": others[80:]}


def test_folk_is_split_by_tune_with_no_tune_in_two_splits_and_essen_tunes_in_their_essen_split():
    parsed = _parsed(np.random.default_rng(1))
    split = split_folk(parsed)
    keys = {s: {tune_key(t) for t in split.tunes[s]} for s in SPLITS}
    assert not (keys["train"] & keys["val"]) and not (keys["train"] & keys["test"]) and not (keys["val"] & keys["test"])
    essen_split = {int(i): s for s, index in corpus.split_by_tune(120).items() for i in index}
    for s in SPLITS:
        for name, i in split.source[s]:
            assert name != "essen" or essen_split[i] == s
        assert all((t == parsed[n][i]).all() for t, (n, i) in zip(split.tunes[s], split.source[s], strict=True))
    counts = split.counts
    assert counts["essen"] == {"parsed": 120, "within": 1, "across": 0, "kept": 119, **counts["essen"]}
    assert counts["ryans"]["across"] == 1 and counts["ryans"]["kept"] == 79
    for c in counts.values():
        assert c["parsed"] == c["within"] + c["across"] + c["kept"] and c["kept"] == sum(c[s] for s in SPLITS)
    assert (counts["ryans"]["train"], counts["ryans"]["val"], counts["ryans"]["test"]) == (63, 8, 8)  # 80/10/10


def test_oneills_drops_duplicates_of_folk_training_tunes_only():
    parsed = _parsed(np.random.default_rng(2))
    split = split_folk(parsed)
    train, test = split.tunes["train"][0], split.tunes["test"][0]
    new = _random_tunes(np.random.default_rng(3), 3)
    outside = [new[0], np.where(train >= 2, train - 12, train), new[1], test, new[0], new[2]]
    result = outside_tunes(outside, split)
    assert result.counts == {"parsed": 6, "within": 1, "in_train": 1, "in_held_out": 1, "kept": 4}
    assert [tune_key(t) for t in result.tunes] == [tune_key(t) for t in (new[0], new[1], test, new[2])]


# the registry and the data sets -------------------------------------------------------------------------------
def _write_caches(root, rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Small made-up caches for every collection, where the loaders look for them: nothing is parsed."""
    parsed = {**_parsed(rng), "miscfolk": _random_tunes(rng, 5), "nottingham": _random_tunes(rng, 2)}
    corpus.write_tunes(essen.cache_path(root), parsed["essen"])
    for c in folk.FOLK[1:]:
        corpus.write_tunes(corpus.cache_path(root, "folk", c.name, "folk"), parsed[c.name])
    split = split_folk(parsed)
    octave_up = np.where(split.tunes["train"][0] >= 2, split.tunes["train"][0] + 12, split.tunes["train"][0])
    oneills = [*_random_tunes(np.random.default_rng(9), 20), octave_up, split.tunes["test"][0]]
    corpus.write_tunes(corpus.cache_path(root, "oneills", "oneills", "oneills"), oneills)
    return parsed


def test_registry_knows_folk_and_oneills_which_read_their_caches(tmp_path, monkeypatch):
    assert {"essen", "folk", "oneills"} <= set(dataset_names())
    assert REGISTRY["folk"].options == REGISTRY["oneills"].options == frozenset({"bars"})
    parsed = _write_caches(tmp_path, np.random.default_rng(4))

    def no_parsing(*args, **kwargs):
        raise AssertionError("the caches should have been read")

    monkeypatch.setattr(corpus, "parse_files", no_parsing)
    data = vaekit.load_dataset("folk", tmp_path, bars=1)
    split = split_folk(parsed)
    assert set(data.splits) == set(SPLITS) and data.x_shape == (16,) and data.modality == "melodies"
    for s in SPLITS:
        expected = corpus.windows_of_tunes(split.tunes[s], 1)
        assert torch.equal(data.splits[s], torch.from_numpy(expected.astype(np.float32)))
    held_out = vaekit.load_dataset("oneills", tmp_path, bars=2)
    assert list(held_out.splits) == ["test"] and held_out.x_shape == (32,)
    outside = folk.oneills_tunes(tmp_path)
    assert outside.counts == {"parsed": 22, "within": 0, "in_train": 1, "in_held_out": 1, "kept": 21}
    assert len(held_out.splits["test"]) == len(corpus.windows_of_tunes(outside.tunes, 2))
    with pytest.raises(DataError, match="no 'train' split"):
        held_out.split("train")


def test_a_folk_run_is_evaluated_on_oneills_and_cannot_train_on_it(tmp_path, capsys):
    from vaekit.cli import main

    _write_caches(tmp_path, np.random.default_rng(5))
    run = tmp_path / "run"
    args = ["--data-dir", str(tmp_path), "--bars", "1", "--latent-dim", "2", "--hidden", "8,8", "--epochs", "1"]
    with one_thread():
        assert main(["train", "--data", "folk", *args, "--out", str(run), "-q"]) == 0
        json_out = tmp_path / "e.json"
        code = main(["evaluate", str(run), "--data", "oneills", "--data-dir", str(tmp_path), "--k", "2"]
                    + ["--limit", "16", "--json", str(json_out)])  # fmt: skip
    assert code == 0 and json.loads(json_out.read_text())["nll"] > 0
    capsys.readouterr()
    expect_error(capsys, ["train", "--data", "oneills", *args, "--out", str(tmp_path / "x")], "has no train split")
    assert not (tmp_path / "x").exists()


# hostile input ------------------------------------------------------------------------------------------------
def test_without_music21_folk_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "music21", None)  # import music21 now raises ImportError
    for name in ("folk", "oneills"):
        with pytest.raises(DataError, match=f"the {name} data set needs the music21 package"):
            vaekit.load_dataset(name, tmp_path)
    expect_error(capsys, ["train", "--data", "folk", "--data-dir", str(tmp_path)], "needs the music21 package")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "mismatch"])
def test_a_corrupt_cache_is_a_clear_error_saying_to_delete_it(tmp_path, damage):
    _write_caches(tmp_path, np.random.default_rng(6))
    path = corpus.cache_path(tmp_path, "folk", "airds", "folk")
    if damage == "garbage":
        path.write_bytes(b"this is not an array file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(vaekit.utils.npz_bytes(tokens=np.zeros(10, np.int8), offsets=np.array([0, 4, 12])))
    with pytest.raises(DataError, match=r"the airdsAirs cache .*airds-music21.* is unreadable .*delete it"):
        vaekit.load_dataset("folk", tmp_path)


# the real corpora -----------------------------------------------------------------------------------------------
def test_a_real_collection_is_parsed_once_and_cached(tmp_path, monkeypatch):
    nottingham = next(c for c in folk.FOLK if c.name == "nottingham")  # two tunes: quick to parse
    tunes = folk.collection_tunes(tmp_path, nottingham, processes=1)
    path = corpus.cache_path(tmp_path, "folk", "nottingham", "folk")
    assert len(tunes) == 2 and path.is_file() and music21.__version__ in path.name
    monkeypatch.setattr(corpus, "parse_files", lambda *a, **k: pytest.fail("the cache should have been read"))
    again = folk.collection_tunes(tmp_path, nottingham)
    assert all((a == b).all() for a, b in zip(tunes, again, strict=True))


@pytest.mark.slow
def test_folk_and_oneills_on_the_real_corpora(tmp_path):
    """Minutes: parses every collection. No tune in two splits, Essen's test tunes in folk's test split,
    oneills holds no tune of folk's training split."""
    split = folk.folk_tunes(tmp_path)
    keys = {s: {tune_key(t) for t in split.tunes[s]} for s in SPLITS}
    assert not (keys["train"] & keys["test"]) and not (keys["train"] & keys["val"]) and not (keys["val"] & keys["test"])
    essen_test = {int(i) for i in corpus.split_by_tune(split.counts["essen"]["parsed"])["test"]}
    assert {i for n, i in split.source["test"] if n == "essen"} <= essen_test
    assert all(c["kept"] > 0 for c in split.counts.values())
    outside = folk.oneills_tunes(tmp_path)
    assert outside.counts["kept"] > 1000 and not {tune_key(t) for t in outside.tunes} & keys["train"]
