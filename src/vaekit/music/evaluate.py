"""Melody figures: reconstruction accuracy of a sequence VAE, and statistics that compare samples with tunes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vaekit.music.tokens import FIRST_PITCH_TOKEN, HOLD, STEPS_PER_BAR, token_pitch
from vaekit.utils import inference

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


@inference
def reconstruction_accuracy(
    vae: nn.Module, x: torch.Tensor, *, batch_size: int = 512, generator: torch.Generator | None = None
) -> dict[str, float]:
    """Share of steps whose most likely token is right, with z = E[z|x] (the posterior mean), and the onset F1.

    ``teacher_forced``: argmax_t p(x_t | x_<t, z) against x_t, the true prefix fed in (what training sees);
    ``free_running``: the greedy decoding from z alone, each step fed its own previous output (what a user
    hears). ``*_events`` count only the steps whose true token is an event (a note-on or a note-off, not
    HOLD), which a model that always predicts HOLD gets wrong. ``onset_precision``, ``onset_recall`` and
    ``onset_f1`` compare the notes of the free-running reconstruction with the input's (:func:`onset_f1`).
    ``x`` is ``(N, steps)`` tokens; the model must have an autoregressive categorical decoder.
    """
    device = vae.device
    right = {"teacher_forced": 0, "free_running": 0, "teacher_forced_events": 0, "free_running_events": 0}
    total = events = 0
    onsets = np.zeros(3, dtype=np.int64)
    for chunk in x.split(batch_size):
        chunk = chunk.to(device).round().long()
        px = vae.decode(vae.encode(chunk).mean)
        is_event = chunk != HOLD
        free = px.mode
        for name, guess in (("teacher_forced", px.logits(chunk).argmax(-1)), ("free_running", free)):
            hit = guess == chunk
            right[name] += int(hit.sum())
            right[f"{name}_events"] += int((hit & is_event).sum())
        total += chunk.numel()
        events += int(is_event.sum())
        onsets += _onset_counts(chunk.cpu().numpy(), free.cpu().numpy())
    out = {k: v / (events if k.endswith("_events") else total) for k, v in right.items()}
    return out | _onset_scores(*onsets)


def _onset_counts(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """(notes in both, notes in ``reference``, notes in ``decoded``): a note is a note-on token at its step."""
    ref, dec = reference >= FIRST_PITCH_TOKEN, decoded >= FIRST_PITCH_TOKEN
    return np.array([int((ref & (reference == decoded)).sum()), int(ref.sum()), int(dec.sum())])


def _onset_scores(both: int, n_reference: int, n_decoded: int) -> dict[str, float]:
    precision = both / n_decoded if n_decoded else float("nan")
    recall = both / n_reference if n_reference else float("nan")
    f1 = 2 * both / (n_reference + n_decoded) if n_reference + n_decoded else float("nan")
    return {"onset_precision": precision, "onset_recall": recall, "onset_f1": f1}


def onset_f1(reference: np.ndarray | torch.Tensor, decoded: np.ndarray | torch.Tensor) -> dict[str, float]:
    """How many notes of ``decoded`` ``(N, steps)`` are the notes of ``reference``: a note counts when it starts
    on the same sixteenth with the same pitch (how long it is held does not count).

    Pooled over all rows: precision = |R ∩ D| / |D|, recall = |R ∩ D| / |R|, F1 = 2 |R ∩ D| / (|R| + |D|),
    where R and D are the sets of (row, step, pitch) note starts. A decoder that holds one note for bars
    (high all-steps accuracy, since most steps are HOLD) has a low recall here.
    """
    as_array = [
        np.asarray(a.cpu() if isinstance(a, torch.Tensor) else a).round().astype(np.int64) for a in (reference, decoded)
    ]
    if as_array[0].shape != as_array[1].shape:
        raise ValueError(f"shapes differ: {as_array[0].shape} and {as_array[1].shape}")
    return _onset_scores(*_onset_counts(*as_array))


def _pitches(row: np.ndarray) -> np.ndarray:
    row = np.asarray(row)
    return np.array([token_pitch(int(t)) for t in row[row >= FIRST_PITCH_TOKEN]], dtype=np.int64)


def in_key_share(pitches: np.ndarray) -> float:
    """The largest share of ``pitches`` that fits one diatonic scale (any of the 12 major keys; the relative
    minor has the same notes): 1.0 for a tune that stays in a key."""
    if len(pitches) == 0:
        return float("nan")
    classes = np.bincount(pitches % 12, minlength=12)
    best = max(sum(classes[(root + step) % 12] for step in MAJOR_SCALE) for root in range(12))
    return float(best / len(pitches))


@dataclass(frozen=True)
class MelodyStatistics:
    """Statistics of a set of melodies ``(N, steps)``, averaged over melodies that have notes.

    ``pitch_classes``: the pooled histogram of note pitch classes (C = 0), summing to 1; ``in_key``: mean share
    of a melody's notes in its best-fitting diatonic scale; ``notes_per_bar``; ``pitch_range``: mean
    highest minus lowest pitch in semitones; ``silent``: share of melodies without a note.
    """

    pitch_classes: list[float]
    in_key: float
    notes_per_bar: float
    pitch_range: float
    silent: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def melody_statistics(tokens: np.ndarray | torch.Tensor) -> MelodyStatistics:
    rows = np.asarray(tokens.cpu() if isinstance(tokens, torch.Tensor) else tokens).round().astype(np.int64)
    bars = rows.shape[1] / STEPS_PER_BAR
    per_row = [_pitches(r) for r in rows]
    voiced = [p for p in per_row if len(p)]
    pooled = np.concatenate(voiced) if voiced else np.zeros(0, dtype=np.int64)
    hist = np.bincount(pooled % 12, minlength=12).astype(np.float64)
    hist = hist / hist.sum() if hist.sum() else hist
    return MelodyStatistics(
        pitch_classes=hist.tolist(),
        in_key=float(np.mean([in_key_share(p) for p in voiced])) if voiced else float("nan"),
        notes_per_bar=float(np.mean([len(p) / bars for p in voiced])) if voiced else 0.0,
        pitch_range=float(np.mean([p.max() - p.min() for p in voiced])) if voiced else float("nan"),
        silent=1.0 - len(voiced) / max(1, len(rows)),
        n=len(rows),
    )


def pitch_class_distance(a: MelodyStatistics, b: MelodyStatistics) -> float:
    """Total variation distance between two pooled pitch-class histograms: 0 (same) to 1 (disjoint)."""
    return 0.5 * float(np.abs(np.asarray(a.pitch_classes) - np.asarray(b.pitch_classes)).sum())


def onset_grid(tokens: np.ndarray | torch.Tensor) -> np.ndarray:
    """Boolean ``(N, bars, 16)``: where a note starts (a note-on token) in each bar of each melody."""
    rows = np.asarray(tokens.cpu() if isinstance(tokens, torch.Tensor) else tokens).round().astype(np.int64)
    n, steps = rows.shape
    return (rows >= FIRST_PITCH_TOKEN).reshape(n, steps // STEPS_PER_BAR, STEPS_PER_BAR)


def rhythm_repetition(tokens: np.ndarray | torch.Tensor) -> float:
    """How much a melody's bars share their rhythm: the Jaccard similarity |A ∩ B| / |A ∪ B| of the onset
    positions of each pair of consecutive bars, averaged over pairs where either bar has a note and then over
    melodies (1.0: every bar starts notes on the same sixteenths; NaN for one-bar melodies).

    Compare with the same figure for bars of *different* melodies (:func:`rhythm_chance`), the level expected
    from the bars' onset densities alone.
    """
    onsets = onset_grid(tokens)
    return _mean_jaccard(onsets[:, :-1], onsets[:, 1:])


def rhythm_chance(tokens: np.ndarray | torch.Tensor, seed: int = 0) -> float:
    """:func:`rhythm_repetition` with each bar's neighbour taken from another, randomly paired melody."""
    onsets = onset_grid(tokens)
    if len(onsets) < 2:
        return float("nan")
    shift = np.random.default_rng(seed).integers(1, len(onsets))
    return _mean_jaccard(onsets[:, :-1], np.roll(onsets, shift, axis=0)[:, 1:])


def _mean_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum(-1)
    inter = (a & b).sum(-1)
    per_row = [float(np.mean(i[u > 0] / u[u > 0])) for i, u in zip(inter, union, strict=True) if (u > 0).any()]
    return float(np.mean(per_row)) if per_row else float("nan")
