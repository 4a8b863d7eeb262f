"""Melodies in and out: sample, reconstruct, interpolate and evaluate a sequence VAE; write .mid, .png, .wav.

Every function takes a model (or a run folder) and token rows ``(N, steps)`` (see :mod:`vaekit.music.tokens`)
and returns int64 token rows; :func:`write_melodies` renders rows to a MIDI file (one after the other, a bar of
rest between), a piano-roll picture, a WAV file, or a folder with one MIDI file per melody::

    vae = vaekit.load("runs/essen")
    write_melodies(sample_melodies(vae, 8, temperature=0.5, seed=0), "melodies.mid")
    a, b = read_melody_tokens("a.mid"), read_melody_tokens("b.mid")
    write_melodies(interpolate_melodies(vae, a[:32], b[:32], steps=7), "morph.png")
    write_melodies(melody_variations(vae, a, 8, spread=0.5, seed=0), "variations.mid")
"""

from __future__ import annotations

import io
import logging
import math
import os
import wave
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.errors import DataError, VaekitError
from vaekit.model.vae import VAE
from vaekit.music.evaluate import melody_statistics, pitch_class_distance, reconstruction_accuracy, rhythm_repetition
from vaekit.music.midi import midi_bytes, read_melody_tokens
from vaekit.music.model import RecurrentDecoder
from vaekit.music.tokens import (
    HOLD,
    MAX_PITCH,
    MIN_PITCH,
    NOTE_OFF,
    STEPS_PER_BAR,
    Note,
    as_token_rows,
    tokens_to_notes,
    windows,
)
from vaekit.run import load
from vaekit.utils import atomic_write_bytes, eval_mode, make_generator, seeded

log = logging.getLogger(__name__)

MELODY_OUTPUTS = {".mid", ".midi", ".png", ".wav"}
MAX_VARIATIONS = 256
SAMPLE_RATE = 22050


def _model(run_or_model: VAE | str | os.PathLike) -> VAE:
    """The model itself, or the model of a run folder; an error if it does not decode melodies."""
    vae = run_or_model if isinstance(run_or_model, torch.nn.Module) else load(run_or_model)
    if not isinstance(vae.decoder, RecurrentDecoder):
        raise VaekitError("this model does not decode melodies", "train one with --data essen or --model melody")
    return vae


def _rows(vae: VAE, x: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    rows = as_token_rows(x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x), what)
    if rows.shape[1:] != vae.x_shape:
        steps = vae.x_shape[0]
        raise DataError(
            f"{what} has {rows.shape[1]} steps, the model reads {steps} ({steps // STEPS_PER_BAR} bars)",
            "cut the melody to the model's window",
        )
    return torch.from_numpy(rows).to(vae.device)


@torch.no_grad()
def sample_melodies(
    run_or_model: VAE | str | os.PathLike,
    n: int,
    *,
    temperature: float = 1.0,
    greedy: bool = False,
    seed: int | None = None,
) -> np.ndarray:
    """``n`` new melodies ``(n, steps)``: z ~ p(z), then x_t ~ softmax(logits_t / T) step by step (or the most
    likely token with ``greedy``). T < 1 makes the decoder surer, T > 1 more adventurous (MusicVAE's knob)."""
    if n < 1:
        raise VaekitError(f"cannot draw {n} samples", "ask for at least 1")
    if temperature <= 0:
        raise VaekitError(f"temperature must be positive, got {temperature}")
    from vaekit.music.modality import Melodies

    vae = _model(run_or_model)
    with eval_mode(vae):
        return Melodies().sample(
            vae, n, temperature=temperature, greedy=greedy, generator=make_generator(seed, vae.device)
        )


@torch.no_grad()
def reconstruct_melodies(
    run_or_model: VAE | str | os.PathLike,
    x: np.ndarray | torch.Tensor,
    *,
    greedy: bool = True,
    temperature: float = 1.0,
    seed: int | None = None,
) -> np.ndarray:
    """Windows ``(N, steps)`` through the latent space: z = E[z|x], decoded greedily (or sampled at T)."""
    vae = _model(run_or_model)
    rows = _rows(vae, x, "the melodies")
    g = make_generator(seed, vae.device)
    with eval_mode(vae):
        out = [
            vae.decode(vae.encode(chunk).mean).sample(temperature=0.0 if greedy else temperature, generator=g)
            for chunk in rows.split(512)
        ]
    return torch.cat(out).cpu().numpy()


def consecutive_windows(tokens: np.ndarray, n_steps: int, what: str = "the tune") -> np.ndarray:
    """A whole tune cut into consecutive windows ``(ceil(len / n_steps), n_steps)``; the last padded with rest.

    A note held across a window boundary is struck again at the start of the next window (each window is
    encoded on its own).
    """
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    if len(tokens) < n_steps:
        raise DataError(
            f"{what} is {len(tokens)} steps long, shorter than the model's window of {n_steps} steps",
            "give a longer tune, or a model trained with fewer --bars",
        )
    n = math.ceil(len(tokens) / n_steps)
    padded = np.full(n * n_steps, HOLD, dtype=np.int64)
    padded[: len(tokens)] = tokens
    notes = tokens_to_notes(tokens)
    if len(padded) > len(tokens) and notes and notes[-1].end == len(tokens):
        padded[len(tokens)] = NOTE_OFF  # the tune's last note ends where the tune does
    return windows(padded, n_steps, n_steps, drop_silent=False)


def reconstruct_tune(run_or_model: VAE | str | os.PathLike, tokens: np.ndarray, **kwargs: Any) -> np.ndarray:
    """A whole tune ``(steps,)`` reconstructed window by window, cut back to its length."""
    vae = _model(run_or_model)
    rows = consecutive_windows(tokens, vae.x_shape[0])
    return reconstruct_melodies(vae, rows, **kwargs).reshape(-1)[: len(tokens)]


@torch.no_grad()
def interpolate_melodies(
    run_or_model: VAE | str | os.PathLike,
    melody_a: np.ndarray | torch.Tensor,
    melody_b: np.ndarray | torch.Tensor,
    steps: int = 7,
    *,
    method: str = "slerp",
) -> np.ndarray:
    """``steps`` melodies ``(steps, window)`` from ``melody_a`` to ``melody_b`` (both ends included).

    Each melody is one window ``(window,)``; its code is the posterior mean E[z|x]; codes in between follow
    ``slerp`` (default) or ``lerp``, and each is decoded greedily, so the ends are the two reconstructions.
    """
    from vaekit.apps.latent import interpolate

    vae = _model(run_or_model)
    rows = _rows(vae, np.stack([np.asarray(melody_a).reshape(-1), np.asarray(melody_b).reshape(-1)]), "the melodies")
    path = interpolate(vae, rows[:1], rows[1:], steps=steps, method=method, summary=lambda px: px.mode)
    return path.decoded[0]


def interpolate_melody_files(
    run_or_model: VAE | str | os.PathLike,
    path_a: str | os.PathLike,
    path_b: str | os.PathLike,
    steps: int = 7,
    *,
    method: str = "slerp",
    output: str | os.PathLike | None = None,
) -> np.ndarray:
    """:func:`interpolate_melodies` between the first window of two melody files; with ``output``, also write the
    melodies there (``.mid``/``.wav``: one after the other; ``.png``: their piano rolls in one picture)."""
    vae = _model(run_or_model)
    if output is not None:
        check_melody_output(output)
    a, b = (read_melody(p, vae.x_shape[0]) for p in (path_a, path_b))
    rows = interpolate_melodies(vae, a, b, steps, method=method)
    if output is not None:
        titles = [f"{Path(path_a).stem}" if i == 0 else f"{i / (steps - 1):.2f}" for i in range(steps)]
        titles[-1] = Path(path_b).stem
        write_melodies(rows, output, titles=titles)
    return rows


@torch.no_grad()
def melody_variations(
    run_or_model: VAE | str | os.PathLike,
    tokens: np.ndarray | torch.Tensor,
    n: int = 8,
    *,
    spread: float = 0.5,
    seed: int | None = None,
) -> np.ndarray:
    """``n`` variations ``(n, steps)`` of a whole tune ``tokens (steps,)``: each of its windows is encoded to
    E[z|x], moved to z = E[z|x] + spread * eps with eps ~ N(0, I) (one draw per variation and window;
    ``spread`` is in prior standard deviations), and decoded greedily; the windows are joined and cut back to
    the tune's length. ``spread = 0`` gives the reconstruction n times; 1 wanders about as far as two tunes'
    codes lie apart."""
    if not 1 <= n <= MAX_VARIATIONS:
        raise VaekitError(f"cannot make {n} variations", f"ask for 1 to {MAX_VARIATIONS}")
    if not (math.isfinite(spread) and spread >= 0):
        raise VaekitError(f"--spread must be a finite number >= 0, got {spread}", "0.5 stays close to the tune")
    vae = _model(run_or_model)
    tune = np.asarray(tokens.cpu() if isinstance(tokens, torch.Tensor) else tokens).reshape(-1)
    rows = _rows(vae, consecutive_windows(tune, vae.x_shape[0]), "the tune")
    g = make_generator(seed, vae.device)
    with eval_mode(vae):
        mu = vae.encode(rows).mean  # (windows, d)
        eps = torch.randn(n, *mu.shape, generator=g, device=mu.device, dtype=mu.dtype)
        z = (mu + spread * eps).flatten(0, 1)  # (n * windows, d)
        decoded = torch.cat([vae.decode(c).sample(temperature=0.0, generator=g) for c in z.split(512)])
    return decoded.reshape(n, -1)[:, : len(tune)].cpu().numpy()


def melody_variation_file(
    run_or_model: VAE | str | os.PathLike,
    path: str | os.PathLike,
    n: int = 8,
    *,
    spread: float = 0.5,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(variations (n, steps), tune (steps,))`` of the melody file ``path`` (:func:`melody_variations`)."""
    tune = read_melody(path)
    return melody_variations(run_or_model, tune, n, spread=spread, seed=seed), tune


def read_melody(path: str | os.PathLike, n_steps: int | None = None) -> np.ndarray:
    """A melody file's tokens ``(steps,)``; with ``n_steps``, its first window of that many steps."""
    tokens = read_melody_tokens(path)
    return tokens if n_steps is None else consecutive_windows(tokens, n_steps, str(path))[0]


# figures ----------------------------------------------------------------------------------------------------
def evaluate_melodies(
    run_or_model: VAE | str | os.PathLike,
    x: np.ndarray | torch.Tensor,
    *,
    n_samples: int = 512,
    temperature: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Reconstruction accuracy on held-out windows ``x`` and statistics of ``n_samples`` prior samples beside
    those of ``x``: ``accuracy/teacher_forced``, ``accuracy/free_running``, ``samples/<stat>``, ``data/<stat>``
    (see :class:`~vaekit.music.evaluate.MelodyStatistics`, and ``rhythm_repetition``) and
    ``pitch_class_distance`` (total variation)."""
    vae = _model(run_or_model)
    rows = _rows(vae, x, "the held-out melodies")
    with seeded(seed), eval_mode(vae):
        accuracy = reconstruction_accuracy(vae, rows)
    samples = sample_melodies(vae, n_samples, temperature=temperature, seed=seed)
    s, d = melody_statistics(samples), melody_statistics(rows)
    out: dict[str, Any] = {f"accuracy/{k}": v for k, v in accuracy.items()}
    for prefix, stats in (("samples", s), ("data", d)):
        out.update({f"{prefix}/{k}": v for k, v in stats.to_dict().items() if k != "pitch_classes"})
    out["samples/rhythm_repetition"], out["data/rhythm_repetition"] = (rhythm_repetition(r) for r in (samples, rows))
    out["pitch_class_distance"] = pitch_class_distance(s, d)
    return out


# writing ----------------------------------------------------------------------------------------------------
def melody_notes(rows: np.ndarray, gap_bars: int = 1) -> list[Note]:
    """The notes of token rows played one after the other, ``gap_bars`` bars of rest between."""
    rows = np.atleast_2d(np.asarray(rows))
    stride = rows.shape[1] + gap_bars * STEPS_PER_BAR
    return [
        Note(n.pitch, n.start + i * stride, n.end + i * stride) for i, r in enumerate(rows) for n in tokens_to_notes(r)
    ]


def check_melody_output(path: str | os.PathLike) -> Path:
    """Refuse an output we cannot write before any work: a melody suffix, or a folder (created if missing)."""
    path = Path(path)
    if path.suffix == "" or path.is_dir():
        return path
    if path.suffix.lower() not in MELODY_OUTPUTS:
        raise VaekitError(
            f"cannot write melodies to {path.name}", f"use {', '.join(sorted(MELODY_OUTPUTS))} or a folder"
        )
    if not path.parent.exists():
        raise VaekitError(f"folder {path.parent} does not exist", "create it first")
    return path


def write_melodies(
    rows: np.ndarray,
    path: str | os.PathLike,
    *,
    titles: list[str] | None = None,
    reference: np.ndarray | None = None,
    bpm: float = 120.0,
) -> list[Path]:
    """Write token rows ``(N, steps)`` to ``path``: ``.mid`` / ``.wav`` (played one after the other, a bar of rest
    between), ``.png`` (one piano roll per row; ``reference`` rows drawn in grey beneath), or a folder
    (``melody_000.mid``... and ``melodies.png``). Returns the files written."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.int64))
    path = check_melody_output(path)
    if path.suffix == "" or path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        written = []
        for i, r in enumerate(rows):
            written += write_melodies(r[None], path / f"melody_{i:03d}.mid", bpm=bpm)
        return written + write_melodies(rows, path / "melodies.png", titles=titles, reference=reference)
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        atomic_write_bytes(path, midi_bytes(melody_notes(rows), bpm=bpm))
    elif suffix == ".wav":
        atomic_write_bytes(path, wav_bytes(midi_bytes(melody_notes(rows), bpm=bpm)))
    else:
        from vaekit.apps.images import save_png

        save_png(piano_roll_figure(rows, titles=titles, reference=reference), path)
    return [path]


def write_melody_pictures(vae: VAE, folder: Any, held_out: torch.Tensor | None, *, seed: int) -> None:
    """A run folder's pictures for melodies: ``samples.png`` (8 prior samples at T = 1) and
    ``reconstructions.png`` (8 evenly spaced held-out windows in grey, their greedy reconstructions on top)."""
    write_melodies(sample_melodies(vae, 8, seed=seed), folder / "samples.png")
    if held_out is not None and len(held_out):
        x = held_out[torch.linspace(0, len(held_out) - 1, min(8, len(held_out))).long()]
        write_melodies(reconstruct_melodies(vae, x), folder / "reconstructions.png", reference=x.cpu().numpy())


def wav_bytes(midi: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono WAV of a MIDI file: fluidsynth with a General MIDI sound font when ``$VAEKIT_SOUNDFONT``
    names one (and pyfluidsynth is installed), else pretty_midi's sine-wave synthesizer."""
    try:
        import pretty_midi
    except ImportError:
        raise VaekitError("writing .wav needs the pretty_midi package", "pip install 'vaekit[music]'") from None
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    font = os.environ.get("VAEKIT_SOUNDFONT")
    audio = None
    if font:
        try:
            audio = pm.fluidsynth(fs=sample_rate, sf2_path=font)
        except (ImportError, ValueError, OSError) as err:
            log.warning("fluidsynth failed (%s): using the sine-wave synthesizer", err)
    if audio is None:
        audio = pm.synthesize(fs=sample_rate)
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    pcm = (audio / peak * 0.8 * 32767 if peak > 0 else audio).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def piano_roll_figure(rows: np.ndarray, *, titles: list[str] | None = None, reference: np.ndarray | None = None):
    """One piano roll per row (pitch against sixteenth steps, bar lines every 16 steps), stacked vertically.

    ``reference`` rows (e.g. the inputs of reconstructions) are drawn as grey boxes beneath the orange notes.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows = np.atleast_2d(rows)
    refs = [None] * len(rows) if reference is None else list(np.atleast_2d(reference))
    notes = [tokens_to_notes(r) for r in rows]
    ref_notes = [tokens_to_notes(r) if r is not None else [] for r in refs]
    pitches = [n.pitch for ns in notes + ref_notes for n in ns] or [60]
    lo, hi = max(MIN_PITCH, min(pitches) - 2), min(MAX_PITCH, max(pitches) + 2)
    steps = rows.shape[1]
    fig = Figure(figsize=(min(16.0, 2.0 + steps / 8), 1.0 + 1.3 * len(rows)))
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for i, ax in enumerate(axes):
        for n in ref_notes[i]:
            ax.broken_barh([(n.start, n.end - n.start)], (n.pitch - 0.5, 1), color="0.75")
        for n in notes[i]:
            ax.broken_barh(
                [(n.start, n.end - n.start)], (n.pitch - 0.4, 0.8), color="tab:orange", edgecolor="k", lw=0.5
            )
        for bar in range(0, steps + 1, STEPS_PER_BAR):
            ax.axvline(bar, color="0.6", lw=0.5)
        ax.set_xlim(0, steps)
        ax.set_ylim(lo - 0.5, hi + 0.5)
        ax.tick_params(labelsize=7)
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=8, loc="left")
        if i < len(axes) - 1:
            ax.set_xticklabels([])
    axes[-1].set_xlabel("sixteenth steps")
    fig.supylabel("MIDI pitch", fontsize=8)
    return fig
