"""How many tunes and windows the ``folk`` data set and the ``oneills`` outside test set give, per collection.

    python benchmarks/folk_counts.py [--data-dir D] [--processes 2]

Parses every collection that has no cache yet in the data directory (timed; give a fresh ``--data-dir`` to
time them all), then counts per collection: ABC tunes (``X:`` headers), tunes parsed, unreadable or empty
ones, duplicates dropped (of a tune of the same collection, of an earlier collection), tunes kept and their
split, and windows of 2 and 16 bars per split. It checks that no tune identity is in two splits of ``folk``,
that ``folk``'s training split holds no identity of an ``essen`` test tune, and that ``oneills`` holds none of
``folk``'s training split. Prints and saves ``benchmarks/results/folk_counts.json`` and a section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, default_data_dir, machine, today, update_docs  # noqa: E402

from vaekit.data.download import resolve_data_dir  # noqa: E402
from vaekit.music import corpus, essen, folk  # noqa: E402

SPLITS = folk.SPLITS
BARS = (2, 16)
SECTION = "Melodies: the folk data set and the oneills outside test set"


def cache_of(root: Path, c: folk.Collection) -> Path:
    if c == folk.ESSEN:
        return essen.cache_path(root)
    data_set = "oneills" if c == folk.ONEILLS else "folk"
    return corpus.cache_path(root, data_set, c.name, data_set)


def parse(root: Path, c: folk.Collection, processes: int) -> tuple[list, dict]:
    """A collection's tunes (parsed now and timed where it had no cache) and its file and header counts."""
    files = corpus.collection_files(c.folder, "folk")
    headers = sum(len(corpus.split_tunes(f.read_text(encoding="latin-1"))) for f in files)
    cached = cache_of(root, c).is_file()
    t0 = time.perf_counter()
    tunes = folk.collection_tunes(root, c, processes=processes)
    seconds = None if cached else time.perf_counter() - t0
    info = {"folder": c.folder, "files": len(files), "abc_tunes": headers, "parse_seconds": seconds}
    print(f"{c.name:<10} {len(tunes):>5} tunes " + ("(cached)" if cached else f"parsed in {seconds:.0f} s"), flush=True)
    return tunes, info


def _sequence(tokens: np.ndarray) -> list[tuple[int, int]]:
    """A whole tune as (pitch interval, inter-onset interval over their gcd) pairs, for a similarity ratio."""
    onsets = np.flatnonzero(tokens >= 2)
    gaps = np.diff(onsets)
    gaps = gaps // np.gcd.reduce(gaps) if len(gaps) else gaps
    return list(zip(np.diff(tokens[onsets]).tolist(), gaps.tolist(), strict=True))


def identity_choice(parsed: dict[str, list[np.ndarray]]) -> list[dict]:
    """Duplicates found by identities of several lengths, in the folk collections only. For an incipit, the
    pairs it finds beyond the whole-tune identity, and how alike their whole sequences are (difflib's ratio:
    1 for the same sequence; a variant of a tune scores high, a tune that only opens alike low)."""
    tunes = [t for name in parsed for t in parsed[name]]
    whole = [folk.tune_key(t, None) for t in tunes]
    out = []
    for n in (8, 12, 16, 24, 32, None):
        first: dict[bytes, int] = {}
        added = []
        for i, t in enumerate(tunes):
            key = folk.tune_key(t, n)
            if key not in first:
                first[key] = i
            elif whole[first[key]] != whole[i]:
                added.append((first[key], i))
        ratios = [
            difflib.SequenceMatcher(None, _sequence(tunes[a]), _sequence(tunes[b]), autojunk=False).ratio()
            for a, b in added
        ]
        row = {"notes": "whole tune" if n is None else n + 1, "duplicates": len(tunes) - len(first)}
        if n is not None:
            row.update(
                beyond_whole_tune=len(added),
                median_similarity=float(np.median(ratios)) if ratios else None,
                share_below_half=float(np.mean(np.array(ratios) < 0.5)) if ratios else None,
            )
        out.append(row)
        print(row, flush=True)
    return out


def n_windows(tunes: list, bars: int) -> int:
    return len(corpus.windows_of_tunes(tunes, bars))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=default_data_dir())
    p.add_argument("--processes", type=int, default=2)
    args = p.parse_args()
    root = resolve_data_dir(args.data_dir)
    parsed, rows = {}, {}
    for c in folk.FOLK:
        parsed[c.name], rows[c.name] = parse(root, c, args.processes)
    choice = identity_choice(parsed)  # before O'Neill's is read: it takes no part in the choice
    split = folk.split_folk(parsed)
    for name, row in rows.items():
        row.update(split.counts[name])
        row["unreadable"] = row["abc_tunes"] - row["parsed"]
        for bars in BARS:
            for s in SPLITS:
                tunes = [parsed[n][i] for n, i in split.source[s] if n == name]
                row[f"windows_{bars}_{s}"] = n_windows(tunes, bars)
    total = {k: sum(r[k] for r in rows.values()) for k in rows["essen"] if k not in ("folder", "parse_seconds")}
    total["parse_seconds"] = sum(r["parse_seconds"] or 0 for r in rows.values()) or None

    keys = {s: {folk.tune_key(t) for t in split.tunes[s]} for s in SPLITS}
    assert not (keys["train"] & keys["val"] or keys["train"] & keys["test"] or keys["val"] & keys["test"])
    essen_split = corpus.split_by_tune(len(parsed["essen"]))
    essen_test = {folk.tune_key(parsed["essen"][i]) for i in essen_split["test"]}
    essen_train = {folk.tune_key(parsed["essen"][i]) for i in essen_split["train"]}
    assert not keys["train"] & essen_test
    essen_leak = sum(folk.tune_key(parsed["essen"][i]) in essen_train for i in essen_split["test"])
    essen_ref = {
        "test_tunes": len(essen_split["test"]),
        "test_tunes_also_in_essen_train": essen_leak,
        **{
            f"windows_{bars}_{s}": n_windows([parsed["essen"][i] for i in essen_split[s]], bars)
            for bars in BARS
            for s in SPLITS
        },
    }

    oneills_tunes, oneills = parse(root, folk.ONEILLS, args.processes)
    outside = folk.outside_tunes(oneills_tunes, split)
    assert not {folk.tune_key(t) for t in outside.tunes} & keys["train"]
    oneills.update(outside.counts)
    oneills["unreadable"] = oneills["abc_tunes"] - oneills["parsed"]
    oneills.update({f"windows_{bars}_test": n_windows(outside.tunes, bars) for bars in BARS})

    out = {
        "machine": machine(),
        "date": today(),
        "command": " ".join(["python", *sys.argv]),
        "identity_notes": folk.INCIPIT + 1,
        "identity_choice": choice,
        "collections": rows,
        "folk": total,
        "essen_data_set": essen_ref,
        "oneills": oneills,
    }
    path = ROOT / "benchmarks" / "results" / "folk_counts.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"folk": total, "oneills": oneills}, indent=1))
    update_docs(SECTION, docs_section(out))
    return 0


def _seconds(v: float | None) -> str:
    return "cached" if v is None else f"{v:.0f}"


def docs_section(out: dict) -> str:
    rows, total, one, ref = out["collections"], out["folk"], out["oneills"], out["essen_data_set"]
    head = (
        "| collection | ABC tunes | unreadable | duplicates (same / earlier collection) | kept | train / val / test "
        "tunes | 2-bar windows train / val / test | 16-bar windows train / val / test | parse s |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )

    def line(name: str, r: dict) -> str:
        w = {b: " / ".join(f"{r[f'windows_{b}_{s}']:,}" for s in SPLITS) for b in BARS}
        return (
            f"| {name} | {r['abc_tunes']:,} | {r['unreadable']} | {r['within']} / {r['across']} | {r['kept']:,} "
            f"| {r['train']:,} / {r['val']:,} / {r['test']:,} | {w[2]} | {w[16]} | {_seconds(r['parse_seconds'])} |"
        )

    choice = "| notes | duplicates | pairs beyond the whole tune | their median similarity | share below 0.5 |\n"
    choice += "|---|---|---|---|---|\n"
    choice += "\n".join(
        f"| {c['notes']} | {c['duplicates']:,} | {c.get('beyond_whole_tune', '')} | "
        + (f"{c['median_similarity']:.2f} | {c['share_below_half']:.2f} |" if c.get("median_similarity") else " | |")
        for c in out["identity_choice"]
    )
    table = head + "\n".join(line(f"`{n}` ({r['folder']})", r) for n, r in rows.items())
    table += "\n" + line("**folk**", total)
    essen_windows = {b: " / ".join(f"{ref[f'windows_{b}_{s}']:,}" for s in SPLITS) for b in BARS}
    return f"""`{out["command"]}` ({out["date"]}, {out["machine"]}). Tunes of music21's folk collections as the
`folk` data set reads them (`vaekit/music/folk.py`): each ABC tune parsed into tokens (its top line, octaves
shifted into range), a tune that music21 cannot read or that has no note counted as unreadable; duplicates
dropped by the identity of a tune's first {out["identity_notes"]} notes (pitch intervals and inter-onset
intervals over their gcd: transposition-, octave- and note-value-invariant), keeping the first copy in the
order of the table (Essen's test tunes before its validation and training tunes); Essen's tunes in their
`essen` split, the other collections' 80/10/10 by a fixed permutation; windows at every bar. Parse seconds
with 2 processes on a busy 2-core machine, on first use (then `folk` loads from the caches in about 2 s).

{table}

No tune identity is in two splits of `folk`, and `folk`'s training split holds none of the
{ref["test_tunes"]:,} `essen` test tunes (in the `essen` data set, {ref["test_tunes_also_in_essen_train"]} of
them have a duplicate in its training split). For comparison, `essen` itself gives
{essen_windows[2]} windows of 2 bars and {essen_windows[16]} of 16 bars (train / val / test).

How long an incipit makes a tune's identity (`folk.INCIPIT`) was chosen on these collections, before and
without O'Neill's: the duplicates each length finds, and for an incipit the pairs it finds beyond the whole-tune
identity, with how alike their whole sequences of intervals and relative durations are (difflib's ratio: 1 for
the same sequence). The whole tune misses variants of a tune; the first 9 notes also take tunes that only open alike.

{choice}

**`oneills`** (O'Neill's Music of Ireland, music21's `oneills1850`; never in `folk`, and not looked at to
choose anything about it): {one["abc_tunes"]:,} ABC tunes, {one["unreadable"]} unreadable, {one["within"]}
duplicates inside it and {one["in_train"]} duplicates of `folk` training tunes dropped, {one["kept"]:,} tunes
kept ({one["in_held_out"]} of them duplicates of `folk` validation or test tunes), all in one `test` split:
{one["windows_2_test"]:,} windows of 2 bars, {one["windows_16_test"]:,} of 16 bars; parsed in
{_seconds(one["parse_seconds"])} s."""


if __name__ == "__main__":
    sys.exit(main())
