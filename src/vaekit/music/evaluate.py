"""Melody figures: reconstruction accuracy of a sequence VAE (pooled and per window), statistics that compare
samples with tunes, and how smoothly decoded interpolations move."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from vaekit.music.tokens import FIRST_PITCH_TOKEN, HOLD, STEPS_PER_BAR, token_pitch
from vaekit.utils import inference

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


@dataclass(frozen=True, eq=False)
class ReconstructionCounts:
    """Per-window counts ``(N,)`` (int64) behind :func:`reconstruction_accuracy`, so that figures can be pooled
    over any subset of windows or compared window by window between two models on the same windows.

    ``steps`` and ``events`` (steps whose true token is not HOLD) per window; ``teacher_forced``,
    ``free_running``, ``teacher_forced_events``, ``free_running_events``: right steps (of all steps, of event
    steps); ``onsets_both``, ``onsets_reference``, ``onsets_decoded``: note starts in both, in the input, in the
    free-running reconstruction (:func:`onset_f1`).
    """

    steps: np.ndarray
    events: np.ndarray
    teacher_forced: np.ndarray
    free_running: np.ndarray
    teacher_forced_events: np.ndarray
    free_running_events: np.ndarray
    onsets_both: np.ndarray
    onsets_reference: np.ndarray
    onsets_decoded: np.ndarray

    def accuracy(self) -> dict[str, float]:
        """The pooled figures of :func:`reconstruction_accuracy`: Σ right / Σ steps (or Σ events), and onset
        precision, recall and F1 over all windows' notes."""
        total, events = int(self.steps.sum()), int(self.events.sum())
        out = {
            name: int(getattr(self, name).sum()) / (events if name.endswith("_events") else total)
            for name in ("teacher_forced", "free_running", "teacher_forced_events", "free_running_events")
        }
        both, ref, dec = (int(a.sum()) for a in (self.onsets_both, self.onsets_reference, self.onsets_decoded))
        return out | _onset_scores(both, ref, dec)


@inference
def reconstruction_counts(
    vae: nn.Module, x: torch.Tensor, *, batch_size: int = 512, generator: torch.Generator | None = None
) -> ReconstructionCounts:
    """Per-window right steps of the reconstructions from z = E[z|x], teacher-forced and free-running (greedy),
    and per-window note-start counts (see :func:`reconstruction_accuracy` for what each one means).

    ``x`` is ``(N, steps)`` tokens; the model must have an autoregressive categorical decoder.
    """
    device = vae.device
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in fields(ReconstructionCounts)}
    for chunk in x.split(batch_size):
        chunk = chunk.to(device).round().long()
        px = vae.decode(vae.encode(chunk).mean)
        is_event = chunk != HOLD
        free = px.mode
        for name, guess in (("teacher_forced", px.logits(chunk).argmax(-1)), ("free_running", free)):
            hit = guess == chunk
            parts[name].append(hit.sum(-1).cpu().numpy())
            parts[f"{name}_events"].append((hit & is_event).sum(-1).cpu().numpy())
        parts["steps"].append(np.full(len(chunk), chunk.shape[-1]))
        parts["events"].append(is_event.sum(-1).cpu().numpy())
        onsets = _onset_counts(chunk.cpu().numpy(), free.cpu().numpy())
        for i, name in enumerate(("onsets_both", "onsets_reference", "onsets_decoded")):
            parts[name].append(onsets[:, i])
    return ReconstructionCounts(
        **{k: np.concatenate(v).astype(np.int64) if v else np.zeros(0, dtype=np.int64) for k, v in parts.items()}
    )


def reconstruction_accuracy(
    vae: nn.Module, x: torch.Tensor, *, batch_size: int = 512, generator: torch.Generator | None = None
) -> dict[str, float]:
    """Share of steps whose most likely token is right, with z = E[z|x] (the posterior mean), and the onset F1.

    ``teacher_forced``: argmax_t p(x_t | x_<t, z) against x_t, the true prefix fed in (what training sees);
    ``free_running``: the greedy decoding from z alone, each step fed its own previous output (what a user
    hears). ``*_events`` count only the steps whose true token is an event (a note-on or a note-off, not
    HOLD), which a model that always predicts HOLD gets wrong. ``onset_precision``, ``onset_recall`` and
    ``onset_f1`` compare the notes of the free-running reconstruction with the input's (:func:`onset_f1`).
    All are pooled over the windows (Σ right / Σ steps); :func:`reconstruction_counts` gives them per window.
    ``x`` is ``(N, steps)`` tokens; the model must have an autoregressive categorical decoder.
    """
    return reconstruction_counts(vae, x, batch_size=batch_size, generator=generator).accuracy()


def _onset_counts(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Per row ``(N, 3)``: notes in both, notes in ``reference``, notes in ``decoded`` (a note is a note-on
    token at its step)."""
    ref, dec = reference >= FIRST_PITCH_TOKEN, decoded >= FIRST_PITCH_TOKEN
    return np.stack([(ref & (reference == decoded)).sum(-1), ref.sum(-1), dec.sum(-1)], axis=-1).astype(np.int64)


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
    return _onset_scores(*(int(c) for c in _onset_counts(*as_array).reshape(-1, 3).sum(0)))


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


def token_distance(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """The share of steps whose tokens differ, over the last axis: d(u, v) = (1/T) Σ_t [u_t ≠ v_t] for melodies
    of T steps (the normalised Hamming distance; HOLD and note-off count like any token). A metric on melodies,
    0 for the same melody, 1 when no step agrees; leading axes broadcast, ``(...)`` out."""
    a, b = (np.asarray(t.cpu() if isinstance(t, torch.Tensor) else t) for t in (a, b))
    return np.mean(a != b, axis=-1)


@dataclass(frozen=True, eq=False)
class InterpolationSmoothness:
    """How evenly decoded interpolation paths move from one end to the other: per pair ``(P,)``.

    For a path of S melodies m_1 … m_S (the ends included: the reconstructions of the two windows) and the
    distance d of :func:`token_distance`: ``largest_step`` = max_i d(m_i, m_i+1), ``end_distance`` =
    d(m_1, m_S), ``step_ratio`` = largest_step / end_distance (NaN where the ends are the same melody), and
    ``never_falls``: d(m_1, m_i) never decreases along the path. By the triangle inequality step_ratio ≥
    1 / (S - 1), reached when every step covers an equal share of the way; 1 means the path jumps from one end
    to the other in one step, and above 1 it wanders off between them.
    """

    largest_step: np.ndarray
    end_distance: np.ndarray
    step_ratio: np.ndarray
    never_falls: np.ndarray
    steps: int

    def summary(self) -> dict[str, float | int]:
        """Means over pairs; ``step_ratio`` over the ``pairs_counted`` pairs whose ends differ."""
        counted = self.end_distance > 0
        return {
            "pairs": len(self.end_distance),
            "steps": self.steps,
            "largest_step": float(np.mean(self.largest_step)),
            "end_distance": float(np.mean(self.end_distance)),
            "step_ratio": float(np.mean(self.step_ratio[counted])) if counted.any() else float("nan"),
            "pairs_counted": int(counted.sum()),
            "distance_to_start_never_falls": float(np.mean(self.never_falls)),
        }


def interpolation_smoothness(paths: np.ndarray | torch.Tensor) -> InterpolationSmoothness:
    """:class:`InterpolationSmoothness` of decoded paths ``(P, S, T)``: P pairs, S melodies each (S ≥ 2), T steps
    (e.g. :func:`~vaekit.music.apps.interpolate_melodies` for each pair, stacked)."""
    paths = np.asarray(paths.cpu() if isinstance(paths, torch.Tensor) else paths)
    if paths.ndim != 3 or paths.shape[1] < 2:
        raise ValueError(f"paths must be (pairs, melodies >= 2, steps), got shape {paths.shape}")
    step = token_distance(paths[:, :-1], paths[:, 1:])  # (P, S - 1)
    ends = token_distance(paths[:, 0], paths[:, -1])
    to_start = token_distance(paths[:, :1], paths)  # (P, S)
    ratio = np.where(ends > 0, step.max(1) / np.where(ends > 0, ends, 1.0), np.nan)
    return InterpolationSmoothness(
        largest_step=step.max(1),
        end_distance=ends,
        step_ratio=ratio,
        never_falls=(np.diff(to_start, axis=1) >= 0).all(1),
        steps=paths.shape[1],
    )
