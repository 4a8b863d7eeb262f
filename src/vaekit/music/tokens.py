"""The melody token grid: a monophonic line on sixteenth notes, one token per step out of 90 classes.

In the spirit of MusicVAE (Roberts et al. 2018, arXiv:1803.05428)::

    0        NOTE_OFF  the sounding note stops here (a rest starts)
    1        HOLD      nothing new: the note (or the rest) before goes on
    2 .. 89  note-on of MIDI pitch 21 .. 108 (the piano's range): token = pitch - 19

A step is a sixteenth note and a bar is 16 steps. A :class:`Note` is ``(pitch, start, end)`` in steps, end
exclusive; :func:`notes_to_tokens` and :func:`tokens_to_notes` are inverse on monophonic notes on the grid.
Data sets hold windows of tokens as float32 rows ``(N, steps)`` (exact for integers), so the trainer and the
evaluator batch them like any other examples; the models turn them back into integer ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from vaekit.errors import DataError

log = logging.getLogger(__name__)

NOTE_OFF, HOLD = 0, 1
MIN_PITCH, MAX_PITCH = 21, 108
FIRST_PITCH_TOKEN = 2
N_TOKENS = FIRST_PITCH_TOKEN + MAX_PITCH - MIN_PITCH + 1  # 90
STEPS_PER_BAR = 16
STEPS_PER_QUARTER = 4
DEFAULT_BARS = 2
ENCODER_VERSION = 1  # bump when the encoding of a tune changes: cached corpora are keyed by it


class Note(NamedTuple):
    """One note on the grid: MIDI ``pitch``, ``start`` step and ``end`` step (exclusive)."""

    pitch: int
    start: int
    end: int


def pitch_token(pitch: int) -> int:
    return pitch - MIN_PITCH + FIRST_PITCH_TOKEN


def token_pitch(token: int) -> int:
    return token - FIRST_PITCH_TOKEN + MIN_PITCH


def top_line(notes: Iterable[Note], what: str = "the melody") -> list[Note]:
    """Reduce notes to a monophonic line: at every step the highest sounding note (the "skyline").

    A note keeps sounding while it is the highest; a lower note that outlasts a higher one resumes as a new
    note when the higher one ends. Logs a warning when more than one note sounded at once.
    """
    notes = sorted((n for n in notes if n.end > n.start), key=lambda n: (n.start, -n.pitch))
    if not notes:
        return []
    length = max(n.end for n in notes)
    top = np.full(length, -1, dtype=np.int64)  # index of the note that owns each step
    count = np.zeros(length, dtype=np.int64)
    for i, n in enumerate(notes):
        count[n.start : n.end] += 1
        span = top[n.start : n.end]
        higher = (span < 0) | (np.array([notes[j].pitch if j >= 0 else -1 for j in span]) < n.pitch)
        span[higher] = i
    if (count > 1).any():
        log.warning("%s is polyphonic: keeping the highest note at each step (its top line)", what)
    line: list[Note] = []
    step = 0
    while step < length:
        owner = top[step]
        if owner < 0:
            step += 1
            continue
        end = step
        while end < length and top[end] == owner:
            end += 1
        line.append(Note(notes[owner].pitch, step, end))
        step = end
    return line


def check_monophonic(notes: Sequence[Note]) -> None:
    for a, b in zip(notes[:-1], notes[1:], strict=False):
        if b.start < a.end:
            raise ValueError(f"notes overlap: {a} and {b}; reduce them with top_line first")


def notes_to_tokens(notes: Sequence[Note], n_steps: int | None = None) -> np.ndarray:
    """Tokens ``(n_steps,)`` int64 for monophonic ``notes`` (default length: up to the last note's end).

    A note is its pitch token then HOLD; a rest is NOTE_OFF then HOLD; a note that ends where the next one
    starts needs no NOTE_OFF. Steps before the first note are HOLD (silence continues from the start).
    """
    notes = sorted(notes, key=lambda n: n.start)
    check_monophonic(notes)
    length = max((n.end for n in notes), default=0) if n_steps is None else n_steps
    tokens = np.full(length, HOLD, dtype=np.int64)
    for n in notes:
        if not MIN_PITCH <= n.pitch <= MAX_PITCH:
            raise DataError(f"pitch {n.pitch} is outside the range {MIN_PITCH}-{MAX_PITCH}")
        if n.start >= length:
            break
        tokens[n.start] = pitch_token(n.pitch)
        if n.end < length and tokens[n.end] == HOLD:
            tokens[n.end] = NOTE_OFF
    return tokens


def tokens_to_notes(tokens: Sequence[int] | np.ndarray) -> list[Note]:
    """The notes a token row plays: each pitch token starts a note that lasts until the next non-HOLD token."""
    notes: list[Note] = []
    current: tuple[int, int] | None = None
    tokens = [int(t) for t in np.asarray(tokens).reshape(-1)]
    for step, t in enumerate(tokens):
        if t == HOLD:
            continue
        if current is not None:
            notes.append(Note(current[0], current[1], step))
            current = None
        if t >= FIRST_PITCH_TOKEN:
            current = (token_pitch(t), step)
    if current is not None:
        notes.append(Note(current[0], current[1], len(tokens)))
    return notes


def check_range(notes: Sequence[Note], what: str) -> None:
    """A user's melody must lie in MIDI pitches 21-108 (the model has no tokens for other pitches)."""
    if not notes:
        return
    lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
    if lo < MIN_PITCH or hi > MAX_PITCH:
        raise DataError(
            f"{what} has pitches {lo}-{hi}, outside the range {MIN_PITCH}-{MAX_PITCH} the model plays",
            "transpose it into the piano's range",
        )


def octave_into_range(notes: Sequence[Note]) -> list[Note] | None:
    """``notes`` moved by whole octaves so they fit pitches 21-108; ``None`` when their span is too wide."""
    if not notes:
        return list(notes)
    lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
    if hi - lo > MAX_PITCH - MIN_PITCH:
        return None
    shift = 0
    while lo + shift < MIN_PITCH:
        shift += 12
    while hi + shift > MAX_PITCH:
        shift -= 12
    if lo + shift < MIN_PITCH:  # no octave shift fits; a semitone shift does
        shift = MIN_PITCH - lo
    return [Note(n.pitch + shift, n.start, n.end) for n in notes]


def windows(tokens: np.ndarray, n_steps: int, stride: int = STEPS_PER_BAR, *, drop_silent: bool = True) -> np.ndarray:
    """Windows ``(n, n_steps)`` of a tune's tokens starting every ``stride`` steps; windows without a note dropped
    (unless ``drop_silent=False``).

    A window that starts inside a note begins with that note re-struck, so every window reads on its own.
    The tune is cut, never padded: a tune shorter than one window gives none.
    """
    starts = range(0, len(tokens) - n_steps + 1, stride)
    out = []
    state = HOLD  # what sounds at a window's first step if it is HOLD: the last non-HOLD token before it
    last_change = 0
    for s in starts:
        changes = np.nonzero(tokens[last_change:s] != HOLD)[0]
        if len(changes):
            state = int(tokens[last_change + changes[-1]])
        last_change = s
        w = tokens[s : s + n_steps].copy()
        if w[0] == HOLD and state >= FIRST_PITCH_TOKEN:
            w[0] = state
        if not drop_silent or (w >= FIRST_PITCH_TOKEN).any():
            out.append(w)
    return np.stack(out) if out else np.zeros((0, n_steps), dtype=np.int64)


def window_tunes(rows: np.ndarray, stride: int = STEPS_PER_BAR) -> np.ndarray:
    """Which tune each window ``(N, n_steps)`` comes from, as indices 0, 1, ... ``(N,)``, for windows that
    :func:`windows` cut from tunes one after the other (a data set's split): window i + 1 continues the tune of
    window i when it is window i moved on by ``stride`` steps, x_i+1[t] = x_i[t + stride] for 0 < t <
    n_steps - stride (its first step may re-strike a held note), and starts a new index otherwise.

    Windows that do not overlap (``n_steps <= stride + 1``) cannot be told apart: each gets its own index. A run
    of silent bars (whose windows :func:`windows` drops) also starts a new index.
    """
    rows = np.asarray(rows)
    if len(rows) == 0 or rows.shape[1] <= stride + 1:
        return np.arange(len(rows))
    continues = (rows[1:, 1:-stride] == rows[:-1, 1 + stride :]).all(1)
    return np.concatenate([[0], np.cumsum(~continues)])


def as_token_rows(x: np.ndarray, what: str) -> np.ndarray:
    """Validate rows of tokens (integers in [0, 90)) and return them as int64."""
    x = np.asarray(x)
    if x.ndim != 2 or not np.all(np.isfinite(x)) or (x != np.round(x)).any() or x.min() < 0 or x.max() >= N_TOKENS:
        raise DataError(f"{what} is not rows of melody tokens", f"need integers in [0, {N_TOKENS}) of shape (N, steps)")
    return x.astype(np.int64)
