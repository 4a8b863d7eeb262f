"""Melody files: MIDI through ``mido``, ABC and MusicXML through ``music21``; notes quantised to sixteenths.

MIDI onsets and ends are rounded to the nearest sixteenth of the file's beat (ticks per quarter / 4), so a
file keeps its rhythm whatever its tempo. Channel 10 (General MIDI drums) is ignored. More than one sounding
note is reduced to the highest (:func:`vaekit.music.tokens.top_line`, with a warning). :func:`midi_bytes` writes
notes back as a one-track type-1 MIDI file at 480 ticks per quarter.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vaekit.data.dataset import Dataset
from vaekit.errors import DataError
from vaekit.music.tokens import (
    DEFAULT_BARS,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    Note,
    check_range,
    notes_to_tokens,
    top_line,
    windows,
)

log = logging.getLogger(__name__)

MIDI_SUFFIXES = {".mid", ".midi"}
SCORE_SUFFIXES = {".abc", ".xml", ".musicxml", ".mxl"}
MELODY_SUFFIXES = MIDI_SUFFIXES | SCORE_SUFFIXES
DRUM_CHANNEL = 9
TICKS_PER_QUARTER = 480


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise DataError(f"reading melodies needs the {module} package", "pip install 'vaekit[music]'") from None


def read_midi_notes(path: Path) -> list[Note]:
    """The melody of a MIDI file: all non-drum notes on the sixteenth grid, reduced to their top line."""
    mido = _require("mido")
    try:
        midi = mido.MidiFile(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        raise DataError(f"cannot read {path} as MIDI ({err.__class__.__name__}: {err})", "is it a .mid file?") from None
    if midi.type == 2:
        raise DataError(f"{path} is a type-2 MIDI file (independent patterns)", "export it as type 0 or 1")
    ticks_per_step = midi.ticks_per_beat / STEPS_PER_QUARTER
    notes: list[Note] = []
    drums = 0
    for track in midi.tracks:
        tick = 0
        sounding: dict[tuple[int, int], int] = {}
        for msg in track:
            tick += msg.time
            if msg.type not in ("note_on", "note_off"):
                continue
            if msg.channel == DRUM_CHANNEL:
                drums += msg.type == "note_on" and msg.velocity > 0
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                if key in sounding:  # re-struck without a note-off: the first one ends here
                    notes.append(_quantised(msg.note, sounding.pop(key), tick, ticks_per_step))
                sounding[key] = tick
            elif key in sounding:
                notes.append(_quantised(msg.note, sounding.pop(key), tick, ticks_per_step))
        for (_, pitch), start in sounding.items():  # no note-off before the end of the track
            notes.append(_quantised(pitch, start, tick, ticks_per_step))
    if not notes:
        if drums:
            raise DataError(f"{path} has only drum notes (channel 10)", "give a file with a melody")
        raise DataError(f"{path} has no notes (empty or silent)", "give a file with a melody")
    return top_line(notes, str(path))


def _quantised(pitch: int, start: int, end: int, ticks_per_step: float) -> Note:
    s = round(start / ticks_per_step)
    return Note(pitch, s, max(s + 1, round(end / ticks_per_step)))


def score_notes(score, what: str) -> list[Note]:
    """The top line of a music21 stream (ties joined, grace notes and unpitched notes dropped)."""
    notes: list[Note] = []
    for n in score.stripTies().flatten().notes:
        length = float(n.quarterLength)
        if length <= 0:
            continue
        start = round(float(n.offset) * STEPS_PER_QUARTER)
        end = max(start + 1, round((float(n.offset) + length) * STEPS_PER_QUARTER))
        pitches = getattr(n, "pitches", ())
        if pitches:
            notes.append(Note(max(p.midi for p in pitches), start, end))
    return top_line(notes, what)


def read_score_notes(path: Path) -> list[Note]:
    """The melody of an ABC or MusicXML file (the first tune of an ABC collection) through music21."""
    music21 = _require("music21")
    try:
        parsed = music21.converter.parse(str(path))
    except Exception as err:  # music21 raises many unrelated types for unreadable scores
        raise DataError(f"cannot read {path} as a score ({err.__class__.__name__})", "is the file valid?") from None
    scores = getattr(parsed, "scores", None)
    if scores:
        if len(scores) > 1:
            log.warning("%s holds %d tunes: reading the first", path, len(scores))
        parsed = scores[0]
    notes = score_notes(parsed, str(path))
    if not notes:
        raise DataError(f"{path} has no notes (empty or silent)", "give a file with a melody")
    return notes


def read_melody_notes(path: str | Path) -> list[Note]:
    """The melody of a ``.mid``/``.midi``, ``.abc`` or MusicXML file, as notes on the sixteenth grid."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}", "give an existing melody file")
    if path.suffix.lower() in MIDI_SUFFIXES:
        return read_midi_notes(path)
    if path.suffix.lower() in SCORE_SUFFIXES:
        return read_score_notes(path)
    raise DataError(f"cannot read {path.name} as a melody", f"use one of {', '.join(sorted(MELODY_SUFFIXES))}")


def midi_bytes(notes: Sequence[Note], *, bpm: float = 120.0, program: int = 0, velocity: int = 90) -> bytes:
    """A type-1 MIDI file playing ``notes`` (steps are sixteenths) on channel 1 with General MIDI ``program``."""
    mido = _require("mido")
    ticks = TICKS_PER_QUARTER // STEPS_PER_QUARTER
    events = sorted(
        [(n.start * ticks, 1, n.pitch) for n in notes] + [(n.end * ticks, 0, n.pitch) for n in notes]
    )  # at equal times note-offs (0) come before note-ons (1)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    now = 0
    for tick, on, pitch in events:
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=velocity if on else 0, channel=0, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(track)
    buf = io.BytesIO()
    midi.save(file=buf)
    return buf.getvalue()


def is_melody_path(name: str | Path) -> bool:
    """A melody file by its suffix, or a folder that holds one."""
    path = Path(name)
    if path.suffix.lower() in MELODY_SUFFIXES:
        return True
    return path.is_dir() and any(p.suffix.lower() in MELODY_SUFFIXES for p in path.iterdir())


def read_melody_tokens(path: str | Path) -> np.ndarray:
    """A melody file's whole tune as tokens ``(steps,)`` int64; its pitches must lie in 21-108."""
    notes = read_melody_notes(path)
    check_range(notes, str(path))
    return notes_to_tokens(notes)


def load_melody_files(path: str | Path, bars: int | None = None) -> Dataset:
    """A melody file, or a folder of them, as one ``train`` split of windows ``(N, 16 * bars)`` (float32 tokens).

    Windows start at every bar. A tune shorter than one window is an error (in a folder: skipped with a
    warning, an error only when no file has a whole window).
    """
    path = Path(path)
    bars = bars or DEFAULT_BARS
    n_steps = bars * STEPS_PER_BAR
    if not path.exists():
        raise DataError(f"no such file or folder: {path}", "give a melody file or a folder of them")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in MELODY_SUFFIXES) if path.is_dir() else [path]
    parts = []
    for f in files:
        tokens = read_melody_tokens(f)
        w = windows(tokens, n_steps)
        if len(w) == 0:
            message = (
                f"{f} is {len(tokens)} steps long, shorter than one window of {bars} bars ({n_steps} steps)",
                "give a longer tune, or use fewer --bars",
            )
            if not path.is_dir():
                raise DataError(*message)
            log.warning("skipping %s (%s)", *message)
            continue
        parts.append(w)
    if not parts:
        raise DataError(f"no file in {path} holds a whole window of {bars} bars", "give longer tunes or fewer --bars")
    x = torch.from_numpy(np.concatenate(parts).astype(np.float32))
    return Dataset(path.stem, splits={"train": x}, modality="melodies")
