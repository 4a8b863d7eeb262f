"""Melodies: the token grid, MIDI/ABC in and out, the Essen cache, sequence VAEs, the music CLI and bad input."""

from __future__ import annotations

import itertools
import logging
import wave

import numpy as np
import pytest
import torch

import vaekit
from tests.conftest import expect_error, one_thread, run_cli
from vaekit.errors import DataError
from vaekit.music.tokens import (
    HOLD,
    N_TOKENS,
    NOTE_OFF,
    Note,
    notes_to_tokens,
    pitch_token,
    tokens_to_notes,
    top_line,
    window_tunes,
    windows,
)

mido = pytest.importorskip("mido")
pytest.importorskip("pretty_midi")
music21 = pytest.importorskip("music21")

from vaekit.music.apps import (  # noqa: E402
    consecutive_windows,
    interpolate_melodies,
    interpolate_melody_files,
    melody_variations,
    reconstruct_melodies,
    reconstruct_tune,
    sample_melodies,
    write_melodies,
)
from vaekit.music.evaluate import (  # noqa: E402
    in_key_share,
    interpolation_smoothness,
    melody_statistics,
    onset_f1,
    reconstruction_accuracy,
    reconstruction_counts,
    rhythm_chance,
    rhythm_repetition,
    token_distance,
)
from vaekit.music.midi import midi_bytes, read_melody_notes, read_melody_tokens  # noqa: E402
from vaekit.music.model import Conductor, RecurrentDecoder, _initial_state  # noqa: E402
from vaekit.utils import latent_path  # noqa: E402

# "Alle meine Entchen"-like: steps of a sixteenth; a rest, notes that touch, a note that ends the tune
TUNE = [
    Note(60, 0, 2),
    Note(62, 2, 4),
    Note(64, 4, 6),
    Note(65, 6, 8),
    Note(67, 8, 16),
    Note(67, 16, 24),
    Note(69, 26, 28),
    Note(69, 28, 30),
    Note(67, 30, 40),
    Note(65, 44, 46),
    Note(64, 46, 48),
    Note(62, 48, 52),
    Note(60, 52, 64),
]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # three people share two cores: tiny RNN steps are slower on two contended threads


def _random_line(rng: np.random.Generator, length: int) -> list[Note]:
    notes, step = [], int(rng.integers(0, 4))
    while step < length - 1:
        end = min(length, step + int(rng.integers(1, 9)))
        notes.append(Note(int(rng.integers(21, 109)), step, end))
        step = end + int(rng.choice([0, 0, 1, 3]))
    return notes


def _write_midi(path, notes, **kwargs):
    path.write_bytes(midi_bytes(notes, **kwargs))
    return path


# the token grid ---------------------------------------------------------------------------------------------
def test_tokens_round_trip_every_note():
    rng = np.random.default_rng(0)
    for _ in range(50):
        notes = _random_line(rng, 64)
        tokens = notes_to_tokens(notes, 64)
        assert tokens.shape == (64,) and tokens.min() >= 0 and tokens.max() < N_TOKENS
        assert tokens_to_notes(tokens) == notes


def test_token_meanings():
    tokens = notes_to_tokens([Note(60, 1, 3), Note(62, 3, 4), Note(21, 6, 8)], 8)
    assert tokens.tolist() == [HOLD, pitch_token(60), HOLD, pitch_token(62), NOTE_OFF, HOLD, 2, HOLD]
    assert N_TOKENS == 90 and pitch_token(108) == 89


def test_midi_round_trip_keeps_pitch_onset_and_duration(tmp_path):
    rng = np.random.default_rng(1)
    for i, notes in enumerate([TUNE, *(_random_line(rng, 96) for _ in range(5))]):
        path = _write_midi(tmp_path / f"t{i}.mid", notes, bpm=97)
        assert read_melody_notes(path) == notes
        assert tokens_to_notes(notes_to_tokens(read_melody_notes(path))) == notes


def test_midi_from_another_program_is_quantised_to_sixteenths(tmp_path):
    """96 ticks per quarter, slightly early and late events, a note-on with velocity 0 as the note-off."""
    midi = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    events = [(0, "on", 60), (47, "off", 60), (50, "on", 64), (95, "on0", 64), (96, "on", 67), (290, "off", 67)]
    now = 0
    for tick, kind, pitch in events:
        velocity = 80 if kind == "on" else 0
        track.append(
            mido.Message("note_on" if kind != "off" else "note_off", note=pitch, velocity=velocity, time=tick - now)
        )
        now = tick
    midi.save(tmp_path / "q.mid")
    assert read_melody_notes(tmp_path / "q.mid") == [Note(60, 0, 2), Note(64, 2, 4), Note(67, 4, 12)]


def test_polyphony_keeps_the_top_line_with_a_warning(tmp_path, caplog):
    chord = [Note(60, 0, 8), Note(64, 0, 4), Note(67, 2, 4), Note(55, 8, 12)]
    with caplog.at_level(logging.WARNING):
        line = top_line(chord, "the chords")
    assert line == [Note(64, 0, 2), Note(67, 2, 4), Note(60, 4, 8), Note(55, 8, 12)]
    assert "polyphonic" in caplog.text
    path = tmp_path / "chords.mid"
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    for pitch in (60, 64, 67):
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    track.append(mido.Message("note_off", note=64, velocity=0, time=0))
    track.append(mido.Message("note_off", note=67, velocity=0, time=0))
    midi.save(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert read_melody_notes(path) == [Note(67, 0, 4)]
    assert "polyphonic" in caplog.text


def test_windows_restrike_a_held_note_and_skip_silence():
    tokens = notes_to_tokens([Note(60, 0, 24), Note(62, 24, 32)], 96)  # then 64 steps of rest
    w = windows(tokens, 16)
    assert len(w) == 2  # the two silent bars are dropped
    assert w[1][0] == pitch_token(60) and tokens_to_notes(w[1]) == [Note(60, 0, 8), Note(62, 8, 16)]
    assert windows(tokens[:10], 16).shape == (0, 16)


def test_window_tunes_tell_where_each_tune_of_a_split_starts():
    first = notes_to_tokens(TUNE)  # 64 steps: 2-bar windows at 0, 16, 32; the one at 32 re-strikes a held G
    second = notes_to_tokens(_random_line(np.random.default_rng(5), 80), 80)
    third = first.copy()  # the same tune again is still another tune
    rows = np.concatenate([windows(t, 32) for t in (first, second, third)])
    assert rows[2, 0] != first[32]  # the re-struck note differs from the tune's HOLD there
    assert window_tunes(rows).tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert window_tunes(rows[3:]).tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert window_tunes(windows(first, 16)).tolist() == [0, 1, 2, 3]  # one-bar windows do not overlap
    assert window_tunes(np.zeros((0, 32))).tolist() == []


def test_abc_file_is_read_through_music21(tmp_path):
    path = tmp_path / "tune.abc"
    path.write_text("X:1\nT:test\nM:4/4\nL:1/8\nK:C\nC2 DE F4 | G8 |]\n")
    assert read_melody_notes(path) == [
        Note(60, 0, 4),
        Note(62, 4, 6),
        Note(64, 6, 8),
        Note(65, 8, 16),
        Note(67, 16, 32),
    ]


# the Essen corpus -------------------------------------------------------------------------------------------
def test_essen_is_parsed_once_cached_and_split_by_tune(tmp_path, monkeypatch):
    from vaekit.music import corpus, essen

    small = min(essen.corpus_files(), key=lambda p: p.stat().st_size)  # a handful of tunes, not the corpus
    monkeypatch.setattr(essen, "corpus_files", lambda: [small])
    tunes = essen.essen_tunes(tmp_path, processes=1)
    assert len(tunes) >= 5 and all(len(t) and t.min() >= 0 and t.max() < N_TOKENS for t in tunes)
    assert essen.cache_path(tmp_path).is_file() and music21.__version__ in essen.cache_path(tmp_path).name

    def no_parsing(*args):
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(corpus, "parse_files", no_parsing)
    again = vaekit.load_dataset("essen", tmp_path, bars=1)
    cached = essen.essen_tunes(tmp_path)
    assert all((a == b).all() for a, b in zip(tunes, cached, strict=True))
    split = essen.split_by_tune(len(tunes))
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(len(tunes)))
    assert set(again.splits) == {"train", "val", "test"} and again.x_shape == (16,)
    # every test window comes from a test tune: windows of the test tunes, and only them
    test_windows = essen.windows_of_tunes([tunes[i] for i in split["test"]], 1)
    assert torch.equal(again.splits["test"], torch.from_numpy(test_windows.astype(np.float32)))


# models -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", ["flat", "hierarchical", "unconditional"])
def test_decoder_is_a_normalised_distribution_over_sequences(kind, layers):
    """sum over every sequence of p(x|z) is 1, and teacher forcing agrees with step-by-step decoding."""
    torch.manual_seed(0)
    conductor = Conductor(3, 8, bars=2, layers=layers) if kind == "hierarchical" else None
    dec = RecurrentDecoder(
        3, 2, 3, 8, embed_dim=4, conductor=conductor, condition=kind != "unconditional", layers=layers
    )
    z = torch.randn(2, 3)
    seqs = torch.tensor(list(itertools.product(range(3), repeat=2)))  # all 9 sequences of 2 tokens
    px = dec(z[:, None].expand(2, 9, 3))
    assert px.batch_shape == (2, 9) and px.event_shape == (2,)
    total = px.log_prob(seqs).exp().sum(-1)
    torch.testing.assert_close(total, torch.ones(2))
    greedy = dec(z).mode
    assert torch.equal(dec(z).logits(greedy).argmax(-1), greedy)
    if kind == "unconditional":
        torch.testing.assert_close(dec(z).log_prob(seqs[:2]), dec(-z).log_prob(seqs[:2]))


def test_decoder_layers_start_each_layer_from_the_code_and_one_layer_keeps_old_shapes():
    """Every stacked layer gets its own slice of tanh(W code + b); one layer is the model saved before layers."""
    torch.manual_seed(0)
    one = vaekit.build_vae((32,), arch="melody", decoder="hierarchical", latent_dim=4, hidden=(16, 16))
    assert one.decoder.rnn.num_layers == 1 and one.decoder.init.out_features == 2 * 16
    assert one.decoder.conductor.init.out_features == 2 * 16
    two = vaekit.build_vae(
        (32,), arch="melody", decoder="hierarchical", latent_dim=4, hidden=(16, 16), decoder_layers=2
    )
    assert two.decoder.rnn.num_layers == 2 and two.decoder.conductor.rnn.num_layers == 2
    code = torch.randn(3, 16)
    h, c = _initial_state(two.decoder.init, code, "lstm", 2)
    flat = torch.tanh(two.decoder.init(code)).reshape(3, 2, 2, 16)  # (N, layer, h or c, width)
    assert h.shape == c.shape == (2, 3, 16)
    torch.testing.assert_close(h[1], flat[:, 1, 0])
    torch.testing.assert_close(c[0], flat[:, 0, 1])
    x = torch.from_numpy(np.stack([notes_to_tokens(TUNE[:6], 32)] * 2).astype(np.float32))
    assert two.decode(torch.randn(2, 4)).log_prob(x).shape == (2,)
    with pytest.raises(ValueError, match="decoder_layers: applies to the melody model"):
        vaekit.ModelConfig(decoder_layers=2)


def test_word_dropout_hides_inputs_only_while_training_and_keeps_old_shapes():
    torch.manual_seed(0)
    x = torch.from_numpy(np.stack([notes_to_tokens(TUNE[:6], 32)] * 4).astype(np.float32))
    plain = vaekit.build_vae((32,), arch="melody", decoder="hierarchical", latent_dim=4, hidden=(16, 16))
    vae = vaekit.build_vae(
        (32,), arch="melody", decoder="hierarchical", latent_dim=4, hidden=(16, 16), word_dropout=0.5
    )
    assert vae.decoder.embed.num_embeddings == plain.decoder.embed.num_embeddings + 1  # the blank token
    z = torch.randn(4, 4)
    vae.eval()
    evaluated = vae.decode(z).log_prob(x)
    torch.testing.assert_close(vae.decode(z).log_prob(x), evaluated)  # evaluation sees every token
    vae.train()
    a, b = vae.decode(z).log_prob(x), vae.decode(z).log_prob(x)
    assert not torch.allclose(a, b) and not torch.allclose(a, evaluated)
    with torch.no_grad():
        vae.decoder.word_dropout = 0.999999
        everything_hidden = vae.decode(z).log_prob(x)
        vae.decoder.embed.weight[vae.decoder.start_token + 1] += 1.0  # only the blank is seen now
        assert not torch.allclose(vae.decode(z).log_prob(x), everything_hidden)
    with pytest.raises(vaekit.VaekitError, match="word_dropout: applies to the melody model"):
        vaekit.build_vae((6,), word_dropout=0.2)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_melody_models_train_under_bf16_autocast_on_any_cpu(cell):
    # oneDNN refuses a bf16 LSTM on CPUs without bf16 kernels: the recurrent cells then run in float32
    torch.manual_seed(0)
    vae = vaekit.build_vae((32,), arch="melody", decoder="hierarchical", latent_dim=4, hidden=(16, 16), cell=cell)
    x = torch.from_numpy(np.stack([notes_to_tokens(TUNE[:6], 32)] * 3).astype(np.float32))
    torch.manual_seed(1)
    full = vaekit.elbo(vae, x).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.manual_seed(1)  # the same draw of z
        low = vaekit.elbo(vae, x).loss
    low.backward()
    assert torch.isfinite(low) and abs(low.item() - full.item()) < 0.02 * abs(full.item())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in vae.decoder.rnn.parameters())


def test_melody_vae_plugs_into_objectives_and_evaluator():
    torch.manual_seed(0)
    vae = vaekit.build_vae((32,), arch="melody", decoder="hierarchical", latent_dim=4, hidden=(16, 16))
    x = torch.from_numpy(np.stack([notes_to_tokens(TUNE[:6], 32)] * 3).astype(np.float32))
    draw = vae(x, 5)
    assert draw.px.log_prob(x).shape == (5, 3) and draw.kl_per_dim.shape == (5, 3, 4)
    one = vaekit.iwae(vae, x, n_samples=1)
    assert torch.isfinite(one.loss)
    ev = vaekit.evaluate_model(vae, x, k=8)
    assert ev.nll <= ev.neg_elbo + 1e-3 and ev.latent_dims == [4]


def test_onset_f1_counts_notes_by_start_and_pitch_not_by_hold():
    a = np.full((2, 32), HOLD)
    a[0, [0, 8, 16]] = [pitch_token(60), pitch_token(62), pitch_token(64)]
    a[1, [4, 20]] = [pitch_token(67), NOTE_OFF]
    assert onset_f1(a, a) == {"onset_precision": 1.0, "onset_recall": 1.0, "onset_f1": 1.0}
    held = np.full_like(a, HOLD)
    held[:, 0] = pitch_token(60)  # one note held for the whole window: most steps right, one note of four
    assert (held == a).mean() > 0.85
    assert onset_f1(a, held) == pytest.approx({"onset_precision": 0.5, "onset_recall": 0.25, "onset_f1": 1 / 3})
    late = a.copy()
    late[0, [8, 9]] = [HOLD, pitch_token(62)]  # a sixteenth late: a miss and a wrong note
    assert onset_f1(a, late)["onset_f1"] == pytest.approx(2 * 3 / 8)
    wrong = a.copy()
    wrong[1, 4] = pitch_token(66)  # right time, wrong pitch
    assert onset_f1(a, wrong)["onset_recall"] == pytest.approx(3 / 4)
    assert np.isnan(onset_f1(np.full_like(a, HOLD), np.full_like(a, HOLD))["onset_f1"])


def test_reconstruction_counts_per_window_pool_to_the_accuracy():
    rng = np.random.default_rng(4)
    x = torch.from_numpy(np.stack([notes_to_tokens(_random_line(rng, 32), 32) for _ in range(5)]).astype(np.float32))
    torch.manual_seed(0)
    vae = vaekit.build_vae((32,), arch="melody", latent_dim=4, hidden=(16, 16)).eval()
    counts = reconstruction_counts(vae, x, batch_size=2)
    assert counts.accuracy() == pytest.approx(reconstruction_accuracy(vae, x), nan_ok=True)
    decoded, rows = reconstruct_melodies(vae, x), x.long().numpy()
    assert (counts.steps == 32).all() and counts.events.tolist() == (rows != HOLD).sum(1).tolist()
    assert counts.free_running.tolist() == (decoded == rows).sum(1).tolist()
    assert counts.free_running_events.tolist() == ((decoded == rows) & (rows != HOLD)).sum(1).tolist()
    for i in range(len(x)):
        one = onset_f1(rows[i : i + 1], decoded[i : i + 1])
        assert one["onset_recall"] == pytest.approx(counts.onsets_both[i] / counts.onsets_reference[i])


def test_a_tiny_model_overfits_a_few_tunes(tmp_path):
    rng = np.random.default_rng(3)
    x = torch.from_numpy(np.stack([notes_to_tokens(_random_line(rng, 32), 32) for _ in range(6)]).astype(np.float32))
    torch.manual_seed(0)
    vae = vaekit.build_vae((32,), arch="melody", latent_dim=8, hidden=(64, 64))
    vaekit.fit(
        vae,
        x.repeat(16, 1),
        val=x,
        epochs=40,
        batch_size=32,
        lr=1e-2,
        free_bits=1.0,
        patience=None,
        device="cpu",
        out=tmp_path / "run",
    )
    acc = reconstruction_accuracy(vae, x)
    assert acc["free_running"] > 0.95 and acc["free_running_events"] > 0.9, acc
    assert (reconstruct_melodies(vae, x) == x.numpy()).mean() == pytest.approx(acc["free_running"])
    assert (
        acc["onset_f1"] == pytest.approx(onset_f1(x, reconstruct_melodies(vae, x))["onset_f1"])
        and acc["onset_f1"] > 0.9
    )
    loaded = vaekit.load(tmp_path / "run")
    torch.manual_seed(1)
    a = loaded.decode(torch.zeros(1, 8)).log_prob(x[:1])
    torch.testing.assert_close(a, vae.decode(torch.zeros(1, 8)).log_prob(x[:1]))
    # interpolation: the ends are the two reconstructions; codes in between move along the great circle
    path = interpolate_melodies(vae, x[0], x[1], steps=5)
    assert path.shape == (5, 32)
    assert (path[0] == reconstruct_melodies(vae, x[:1])[0]).all() and (
        path[-1] == reconstruct_melodies(vae, x[1:2])[0]
    ).all()
    for i in (0, 1):
        write_melodies(x[i].numpy()[None], tmp_path / f"{i}.mid")
    rows = interpolate_melody_files(vae, tmp_path / "0.mid", tmp_path / "1.mid", 5, output=tmp_path / "morph.png")
    assert (rows == path).all() and (tmp_path / "morph.png").is_file()
    # samples: seeded, at a temperature, and greedy
    s = sample_melodies(vae, 4, temperature=0.5, seed=0)
    assert s.shape == (4, 32) and (s == sample_melodies(vae, 4, temperature=0.5, seed=0)).all()
    assert (sample_melodies(vae, 2, greedy=True, seed=1) == sample_melodies(vae, 2, greedy=True, seed=1)).all()
    # a tune longer than a window is reconstructed window after window
    tune = notes_to_tokens(TUNE)
    assert reconstruct_tune(vae, tune).shape == tune.shape


def test_slerp_ends_and_norm():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    path = latent_path(a, b, 5, "slerp")
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    assert (path.norm(dim=1)[1:-1] > 1.0).all()


def test_tune_windows_pad_the_last_one_with_rest():
    tokens = notes_to_tokens(TUNE)  # 64 steps
    rows = consecutive_windows(tokens[:40], 32)
    expected = tokens[:40].copy()
    expected[32] = pitch_token(67)  # the G from step 30 to 40 is struck again where the second window starts
    assert (
        rows.shape == (2, 32)
        and (rows.reshape(-1)[:40] == expected).all()
        and rows[1, 8] == NOTE_OFF
        and (rows[1, 9:] == HOLD).all()
    )
    held = consecutive_windows(notes_to_tokens([Note(60, 0, 8), Note(62, 8, 40)]), 32)  # 62 is held over the boundary
    assert tokens_to_notes(held.reshape(-1)) == [Note(60, 0, 8), Note(62, 8, 32), Note(62, 32, 40)]
    with pytest.raises(DataError, match="shorter than the model's window"):
        consecutive_windows(tokens[:20], 32)


# statistics and writing -------------------------------------------------------------------------------------
def test_melody_statistics():
    c_major = notes_to_tokens([Note(p, 2 * i, 2 * i + 2) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])], 32)
    chromatic = notes_to_tokens([Note(60 + i, 2 * i, 2 * i + 2) for i in range(12)], 32)
    assert in_key_share(np.array([60, 62, 64, 65, 67, 69, 71])) == 1.0
    assert in_key_share(np.arange(60, 72)) == pytest.approx(7 / 12)
    stats = melody_statistics(np.stack([c_major, chromatic, np.full(32, HOLD)]))
    assert stats.silent == pytest.approx(1 / 3) and stats.pitch_range == pytest.approx((12 + 11) / 2)
    assert stats.notes_per_bar == pytest.approx((8 + 12) / 2 / 2) and sum(stats.pitch_classes) == pytest.approx(1)


def test_rhythm_repetition_compares_the_onsets_of_consecutive_bars():
    quarters = notes_to_tokens([Note(60 + i, 4 * i, 4 * i + 4) for i in range(8)], 32)  # the same rhythm twice
    # bar 1 starts notes on 0, 4, 8, 12; bar 2 on 0 and 8: 2 shared of 4 used positions
    changed = notes_to_tokens([Note(60, 4 * i, 4 * i + 4) for i in range(4)] + [Note(62, 16, 24), Note(64, 24, 32)], 32)
    assert rhythm_repetition(quarters[None]) == 1.0
    assert rhythm_repetition(changed[None]) == pytest.approx(0.5)
    assert rhythm_repetition(np.stack([quarters, changed])) == pytest.approx(0.75)
    # paired across melodies: bar 1 of each against bar 2 of the other (0, 4, 8, 12 vs 0, 8 and vs 0, 4, 8, 12)
    assert rhythm_chance(np.stack([quarters, changed])) == pytest.approx((0.5 + 1.0) / 2)
    assert np.isnan(rhythm_repetition(np.full((1, 32), HOLD)))


def test_interpolation_smoothness_compares_the_largest_step_with_the_ends():
    a, b = np.full(12, HOLD), np.full(12, NOTE_OFF)
    even = np.stack([np.where(np.arange(12) < 3 * i, NOTE_OFF, HOLD) for i in range(5)])  # 3 more steps each time
    jump = np.stack([a, a, a, b, b])
    wander = np.stack([a, b, a, a, a])  # out and back: the ends are the same melody
    assert token_distance(a, b) == 1.0 and token_distance(even[0], even[1]) == pytest.approx(0.25)
    s = interpolation_smoothness(np.stack([even, jump, wander]))
    assert s.largest_step.tolist() == [0.25, 1.0, 1.0] and s.end_distance.tolist() == [1.0, 1.0, 0.0]
    assert s.step_ratio[:2].tolist() == [0.25, 1.0] and np.isnan(s.step_ratio[2])  # 1 / (S - 1) is the least
    assert s.never_falls.tolist() == [True, True, False]
    summary = s.summary()
    assert summary["step_ratio"] == pytest.approx(0.625) and summary["pairs_counted"] == 2
    assert summary["pairs"] == 3 and summary["steps"] == 5
    with pytest.raises(ValueError, match="pairs"):
        interpolation_smoothness(even)


def test_write_mid_png_wav_and_folder(tmp_path):
    rows = np.stack([notes_to_tokens(TUNE[:5], 32), notes_to_tokens(TUNE[:3], 32)])
    write_melodies(rows, tmp_path / "m.mid")
    back = read_melody_notes(tmp_path / "m.mid")
    assert back[: len(tokens_to_notes(rows[0]))] == tokens_to_notes(rows[0])
    assert back[-1].start == 48 + tokens_to_notes(rows[1])[-1].start  # one bar of rest after 32 steps
    write_melodies(rows, tmp_path / "m.png", titles=["a", "b"], reference=rows)
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    write_melodies(rows, tmp_path / "m.wav")
    with wave.open(str(tmp_path / "m.wav")) as w:
        assert w.getnchannels() == 1 and w.getnframes() > 22050
    files = write_melodies(rows, tmp_path / "many")
    assert sorted(p.name for p in files) == ["melodies.png", "melody_000.mid", "melody_001.mid"]


# the command line -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tunes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tunes")
    rng = np.random.default_rng(5)
    for i in range(4):
        _write_midi(folder / f"tune{i}.mid", _random_line(rng, 96))
    return folder


@pytest.fixture(scope="module")
def melody_run(tunes, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "melody"
    proc = run_cli(
        "train", "--data", str(tunes), "--latent-dim", "4", "--hidden", "16,16", "--epochs", "2",
        "--batch-size", "16", "--decoder", "hierarchical", "--out", str(run), "-q",
        env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return run


def test_cli_trains_samples_reconstructs_and_evaluates_melodies(melody_run, tunes, tmp_path):
    assert vaekit.load(melody_run).x_shape == (32,)
    for name in ("samples.png", "reconstructions.png", "loss.png"):
        assert (melody_run / name).is_file()
    out = tmp_path / "melodies.mid"
    proc = run_cli("sample", str(melody_run), "-n", "3", "--temperature", "0.8", "--seed", "0", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    midi = mido.MidiFile(out)
    assert any(m.type == "note_on" and m.velocity > 0 for m in midi.tracks[0])
    for output in ("s.png", "s.wav", "folder"):
        proc = run_cli("sample", str(melody_run), "-n", "2", "--greedy", "-o", str(tmp_path / output))
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "folder" / "melody_001.mid").is_file()
    song = tunes / "tune0.mid"
    proc = run_cli("reconstruct", str(melody_run), "--data", str(song), "-o", str(tmp_path / "r.mid"))
    assert proc.returncode == 0, proc.stderr
    back = mido.MidiFile(tmp_path / "r.mid")  # an untrained model may well reconstruct silence: a valid file
    assert back.ticks_per_beat == 480 and sum(m.time for m in back.tracks[0]) <= 96 * 120
    proc = run_cli("evaluate", str(melody_run), "--k", "4", "--json", str(tmp_path / "e.json"))
    assert proc.returncode == 0, proc.stderr
    import json

    figures = json.loads((tmp_path / "e.json").read_text())
    assert (
        0 <= figures["accuracy/free_running"] <= 1
        and "samples/in_key" in figures
        and 0 <= figures["data/rhythm_repetition"] <= 1
        and figures["nll"] > 0
    )


def _bad(tmp_path, name: str, notes=None, raw: bytes | None = None, channel: int = 0):
    path = tmp_path / name
    if raw is not None:
        path.write_bytes(raw)
        return path
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    for pitch, start, end in notes or []:
        track.append(mido.Message("note_on", note=pitch, velocity=80, channel=channel, time=start))
        track.append(mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=end - start))
    midi.save(path)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_midi", "cannot read .* as MIDI"),
        ("empty", "no notes"),
        ("drums", "only drum notes"),
        ("out_of_range", "outside the range 21-108"),
        ("too_short", "shorter than one window"),
    ],
)
def test_bad_melody_files_are_one_error_line(case, message, tmp_path):
    path = {
        "not_midi": lambda: _bad(tmp_path, "x.mid", raw=b"this is not a MIDI file"),
        "empty": lambda: _bad(tmp_path, "x.mid"),
        "drums": lambda: _bad(tmp_path, "x.mid", [(36, 0, 480)] * 40, channel=9),
        "out_of_range": lambda: _bad(tmp_path, "x.mid", [(12, 0, 480)] * 40),
        "too_short": lambda: _bad(tmp_path, "x.mid", [(60, 0, 480)] * 3),
    }[case]()
    proc = run_cli("train", "--data", str(path), "--epochs", "1", "--out", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert __import__("re").search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "run").exists()


def test_bad_input_to_a_trained_melody_model(melody_run, tmp_path):
    short = _bad(tmp_path, "short.mid", [(60, 0, 240)])
    proc = run_cli("reconstruct", str(melody_run), "--data", str(short), "-o", str(tmp_path / "r.mid"))
    assert proc.returncode == 2 and "shorter than the model's window" in proc.stderr
    assert not (tmp_path / "r.mid").exists()
    proc = run_cli("sample", str(melody_run), "-o", str(tmp_path / "s.txt"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot write s.txt (samples of melodies")
    proc = run_cli("train", "--data", "digits", "--bars", "2", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--bars does not apply to data" in proc.stderr


def test_cli_interpolates_between_two_melody_files(melody_run, tunes, tmp_path):
    a, b = tunes / "tune0.mid", tunes / "tune1.mid"
    out = tmp_path / "morph.mid"
    proc = run_cli("interpolate", str(melody_run), "--data", str(a), str(b), "--steps", "5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    midi = mido.MidiFile(out)
    assert midi.ticks_per_beat == 480 and len(midi.tracks[0]) > 0
    proc = run_cli("interpolate", str(melody_run), "--data", str(a), "--steps", "5", "-o", str(tmp_path / "x.mid"))
    assert proc.returncode == 2 and "an interpolation between files needs two of them" in proc.stderr
    assert not (tmp_path / "x.mid").exists()


def test_variations_stay_at_the_tune_with_no_spread_and_wander_with_more():
    torch.manual_seed(0)
    vae = vaekit.build_vae((32,), arch="melody", latent_dim=4, hidden=(16, 16))
    tune = notes_to_tokens(_random_line(np.random.default_rng(0), 80), 80)  # 2.5 windows of 2 bars
    same = melody_variations(vae, tune, 3, spread=0.0, seed=0)
    assert same.shape == (3, 80) and same.dtype == np.int64
    assert (same == reconstruct_tune(vae, tune)).all()
    far = melody_variations(vae, tune, 4, spread=3.0, seed=1)
    assert (far == melody_variations(vae, tune, 4, spread=3.0, seed=1)).all()  # a seed repeats
    assert len({row.tobytes() for row in far}) > 1 and (far != same[0]).any()
    for bad, match in (({"n": 0}, "cannot make 0 variations"), ({"spread": -1.0}, "--spread must be")):
        with pytest.raises(vaekit.VaekitError, match=match):
            melody_variations(vae, tune, **{"n": 2, "spread": 0.5, **bad})


def test_cli_composes_variations_of_a_tune_and_refuses_bad_input(melody_run, tunes, tmp_path, capsys):
    from vaekit.cli import main

    tune = tunes / "tune0.mid"
    with one_thread():
        assert main(["compose", str(melody_run), "--like", str(tune), "-n", "3", "--seed", "0",
                     "-o", str(tmp_path / "v.npy")]) == 0  # fmt: skip
        assert main(["compose", str(melody_run), "--like", str(tune), "-o", str(tmp_path / "v.mid")]) == 0
    rows = np.load(tmp_path / "v.npy")
    assert rows.shape == (3, len(read_melody_tokens(tune)))
    assert ((rows >= 0) & (rows < N_TOKENS)).all()
    assert mido.MidiFile(tmp_path / "v.mid").ticks_per_beat == 480  # (a 2-epoch model may decode silence)
    run = str(melody_run)
    for argv, pattern in (
        (["--like", str(tmp_path / "nope.mid"), "-o", str(tmp_path / "a.mid")], "no file"),
        (["--like", str(tmp_path / "v.npy"), "-o", str(tmp_path / "a.mid")], "cannot read v.npy"),
        (["--like", str(tune), "-o", str(tmp_path / "a.jpg")], "cannot write a.jpg"),
        (["--like", str(tune), "--spread", "nan", "-o", str(tmp_path / "a.mid")], "--spread must be"),
        (["--like", str(tune), "-n", "0", "-o", str(tmp_path / "a.mid")], "cannot make 0 variations"),
    ):
        expect_error(capsys, ["compose", run, *argv], pattern)
        assert not (tmp_path / "a.mid").exists() and not (tmp_path / "a.jpg").exists()
    images = tmp_path / "digits"
    vaekit.save(vaekit.build_vae((1, 8, 8), latent_dim=2, hidden=[8]), images)
    expect_error(
        capsys,
        ["compose", str(images), "--like", str(tune), "-o", str(tmp_path / "a.mid")],
        "makes variations of melodies",
    )


def test_a_four_bar_run_keeps_its_windows_in_every_command(tunes, tmp_path):
    """The run's own bars reach every command through the Run (the report once lost its latent map here)."""
    run = tmp_path / "run4"
    proc = run_cli(
        "train", "--data", str(tunes), "--bars", "4", "--latent-dim", "2", "--hidden", "16,16", "--epochs", "1",
        "--batch-size", "8", "--out", str(run), "-q", env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = (run / "report.html").read_text()
    latent = page[page.index("<h2>Latent map</h2>") :]
    assert "<img" in latent.split("<h2>")[1] and "not drawn" not in latent.split("<h2>")[1]
    proc = run_cli("reconstruct", str(run), "-n", "2", "-o", str(tmp_path / "r.npy"))
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "r.npy").shape == (2, 64)
