"""Look at and listen to trained melody VAEs (issue 7): samples, reconstructions and interpolations.

    python benchmarks/melody_figures.py RUN [RUN ...] [--data-dir D]

For each run (from ``benchmarks/melody.py``) it writes piano rolls to ``docs/images/melody_<name>_*.png`` (the run
folder's name without ``bench-melody-``) and MIDI and WAV files to ``RUN/listen/``, then measures what the
pictures show, so the closing note rests on numbers as well as on looking:

- *keys*: the share of notes in each sample's best-fitting diatonic key, samples against test windows;
- *rhythm*: :func:`~vaekit.music.evaluate.rhythm_repetition` (onset overlap of consecutive bars) of samples
  and test windows, against the chance level of bars paired across melodies;
- *interpolation*: between pairs of test windows from different tunes, the token distance (share of steps that
  differ) between neighbouring melodies on the path against the distance between its ends, and whether the
  distance to the first end grows along the path (:func:`~vaekit.music.evaluate.interpolation_smoothness`);
- *audio*: the WAV is read back and, for each note, the strongest frequency of its middle part is compared
  with the note's pitch (in cents), so a WAV that plays the wrong notes or nothing is caught.

Prints the figures and saves them to ``benchmarks/results/melody_figures.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import ROOT  # noqa: E402

import vaekit  # noqa: E402
from vaekit.music.apps import (  # noqa: E402
    SAMPLE_RATE,
    interpolate_melodies,
    melody_notes,
    reconstruct_melodies,
    sample_melodies,
    wav_bytes,
    write_melodies,
)
from vaekit.music.evaluate import (  # noqa: E402
    interpolation_smoothness,
    melody_statistics,
    rhythm_chance,
    rhythm_repetition,
)
from vaekit.music.midi import midi_bytes  # noqa: E402

SECONDS_PER_STEP = 60.0 / 120.0 / 4  # sixteenths at the 120 bpm that write_melodies uses


def wav_pitch_errors(rows: np.ndarray) -> np.ndarray:
    """Cents between each note's pitch and the strongest frequency in the middle of its stretch of the WAV."""
    notes = melody_notes(rows)
    with wave.open(io.BytesIO(wav_bytes(midi_bytes(notes))), "rb") as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    errors = []
    for n in notes:
        a, b = n.start * SECONDS_PER_STEP * SAMPLE_RATE, n.end * SECONDS_PER_STEP * SAMPLE_RATE
        part = audio[int(a + 0.2 * (b - a)) : int(b - 0.2 * (b - a))]
        if len(part) < 512:
            continue
        spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part)), n=1 << 16))
        peak = np.fft.rfftfreq(1 << 16, 1 / SAMPLE_RATE)[spectrum.argmax()]
        expected = 440.0 * 2 ** ((n.pitch - 69) / 12)
        errors.append(1200 * np.log2(max(peak, 1e-6) / expected))
    return np.asarray(errors)


def figures(run: Path, data_dir: str | None, seed: int) -> dict:
    vae = vaekit.load(run).eval()
    data = json.loads((run / "config.json").read_text())["run"]["data"]
    bars = data["bars"]
    test = vaekit.load_dataset(data["name"], data_dir, bars=bars).split("test").round().long().numpy()
    name = run.name.removeprefix("bench-melody-")
    images = ROOT / "docs" / "images"
    listen = run / "listen"
    listen.mkdir(exist_ok=True)
    out: dict = {"run": str(run.relative_to(ROOT)), "bars": bars}
    shown = 8 if bars <= 4 else 3

    for temperature in (1.0, 0.5):
        samples = sample_melodies(vae, 512, temperature=temperature, seed=seed)
        stats = melody_statistics(samples)
        out[f"samples_T{temperature}"] = {
            "in_key": stats.in_key,
            "notes_per_bar": stats.notes_per_bar,
            "rhythm_repetition": rhythm_repetition(samples),
        }
        tag = f"T{temperature:g}".replace(".", "")
        write_melodies(samples[:shown], images / f"melody_{name}_samples_{tag}.png")
        write_melodies(samples[:4], listen / f"samples_{tag}.mid")
        write_melodies(samples[:4], listen / f"samples_{tag}.wav")
    data_stats = melody_statistics(test)
    out["test"] = {
        "in_key": data_stats.in_key,
        "notes_per_bar": data_stats.notes_per_bar,
        "rhythm_repetition": rhythm_repetition(test),
        "rhythm_chance": rhythm_chance(test, seed=seed),
    }

    rng = np.random.default_rng(seed)
    picks = rng.choice(len(test), size=min(len(test), 2 * 64), replace=False)
    x = test[picks]
    recon = reconstruct_melodies(vae, x[:shown])
    write_melodies(recon, images / f"melody_{name}_reconstructions.png", reference=x[:shown])

    steps = 7
    paths = np.stack([interpolate_melodies(vae, a, b, steps) for a, b in zip(x[0::2], x[1::2], strict=True)])
    smooth = interpolation_smoothness(paths).summary()
    out["interpolation"] = {
        "pairs": smooth["pairs"],
        "steps": steps,
        "largest_neighbour_distance": smooth["largest_step"],
        "end_distance": smooth["end_distance"],
        "largest_step_over_end_distance": smooth["step_ratio"],
        "distance_to_start_never_falls": smooth["distance_to_start_never_falls"],
    }
    path = paths[0]
    titles = ["start (reconstruction)"] + [f"{i / (steps - 1):.2f}" for i in range(1, steps - 1)] + ["end"]
    shown_steps = slice(None) if bars <= 4 else slice(None, None, 3)  # 16 bars: the ends and the middle
    write_melodies(path[shown_steps], images / f"melody_{name}_interpolation.png", titles=titles[shown_steps])
    write_melodies(path, listen / "interpolation.mid")
    write_melodies(path, listen / "interpolation.wav")

    cents = np.abs(wav_pitch_errors(path))
    out["wav"] = {
        "notes": len(cents),
        "median_abs_cents": float(np.median(cents)),
        "within_50_cents": float(np.mean(cents < 50)),
    }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = ROOT / "benchmarks" / "results" / "melody_figures.json"
    rows = json.loads(results.read_text()) if results.is_file() else []
    for run in args.runs:
        row = figures(run.resolve(), args.data_dir, args.seed)
        rows = [r for r in rows if r["run"] != row["run"]] + [row]
        print(json.dumps(row, indent=1), flush=True)
    results.write_text(json.dumps(sorted(rows, key=lambda r: r["run"]), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
