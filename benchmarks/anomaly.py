"""Anomaly-detection benchmark: vaekit's VAEAnomalyDetector against PyOD's VAE and IsolationForest on ODDS.

For each ODDS data set (cardio, thyroid, satellite, shuttle from ``$VAEKIT_DATA_DIR/odds``) and seed: a 60/40
split stratified by the label, features standardised on the training part, each detector fitted on the
training part (anomalies included: no labels are used) and scored on the test part by ROC-AUC. All detectors
run with their defaults, in one run. PyOD is not a vaekit dependency: ``pip install -e '.[bench]'`` (pyod,
tqdm, scipy) for this script.

    python benchmarks/anomaly.py                 # 5 seeds, writes benchmarks/results/anomaly.json and docs
    python benchmarks/anomaly.py --seeds 1 --datasets cardio --no-docs
    python benchmarks/anomaly.py --rerun vaekit  # the other methods' rows from the last anomaly.json

Rows are kept in ``benchmarks/results/anomaly.partial.json`` as they come, so a killed run continues where it
stopped; the file is removed when the run completes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.io
import torch
from _common import ROOT, default_data_dir, machine, today, update_docs
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from vaekit.sklearn import VAEAnomalyDetector

DATASETS = ("cardio", "thyroid", "satellite", "shuttle")
METHODS = ("vaekit", "pyod_vae", "pyod_iforest")


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = scipy.io.loadmat(Path(default_data_dir() or ".") / "odds" / f"{name}.mat")
    return np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"]).ravel().astype(int)


def anomaly_scores(method: str, seed: int, x_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Higher is more anomalous."""
    if method == "vaekit":
        return -VAEAnomalyDetector(random_state=seed).fit(x_train).score_samples(x_test)
    if method == "pyod_vae":
        from pyod.models.vae import VAE

        return VAE(random_state=seed, verbose=0).fit(x_train).decision_function(x_test)
    from pyod.models.iforest import IForest

    return IForest(random_state=seed).fit(x_train).decision_function(x_test)


TUNING_ROWS = {
    "iforest": "IsolationForest",
    "fixed1": "one model, unit scale (the default before)",
    "sigmafree": "one model, learned scale",
    "trim30": "one model, unit scale, trim 30%",
    "mixsig": "both, ranks averaged",
    "default": "both, standardised scores averaged (today's default)",
}


def tuning_table() -> str:
    """Mean ROC-AUC per candidate on the tuning seeds, from ``benchmarks/results/anomaly_tune.json``."""
    path = ROOT / "benchmarks" / "results" / "anomaly_tune.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    lines = ["| candidate | " + " | ".join(DATASETS) + " | mean | seeds |", "|---" * (len(DATASETS) + 3) + "|"]
    for config, label in TUNING_ROWS.items():
        means = [[r["roc_auc"] for r in rows if r["config"] == config and r["dataset"] == d] for d in DATASETS]
        if all(means):
            cells = [f"{np.mean(m):.4f}" for m in means]
            seeds = "3" if all(len(m) == 3 for m in means) else "/".join(str(len(m)) for m in means)
            mean = np.mean([np.mean(m) for m in means])
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.4f} | {seeds} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--rerun", help="methods to run again; the others' rows come from the last anomaly.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names, methods = args.datasets.split(","), args.methods.split(",")
    out = ROOT / "benchmarks" / "results" / "anomaly.json"
    partial = out.with_name("anomaly.partial.json")
    rows = json.loads(partial.read_text()) if partial.exists() else []
    if args.rerun and not rows:
        rerun = set(args.rerun.split(","))
        rows = [r for r in json.loads(out.read_text())["rows"] if r["method"] not in rerun]
    done = {(r["dataset"], r["seed"], r["method"]) for r in rows}
    for name in names:
        x, y = load(name)
        for seed in range(args.seeds):
            x_train, x_test, _, y_test = train_test_split(x, y, test_size=0.4, stratify=y, random_state=seed)
            mean, std = x_train.mean(0), x_train.std(0)
            std = np.where(std > 0, std, 1.0)
            x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
            for method in methods:
                if (name, seed, method) in done:
                    continue
                t0 = time.perf_counter()
                scores = anomaly_scores(method, seed, x_train, x_test)
                seconds = time.perf_counter() - t0
                auc, ap = float(roc_auc_score(y_test, scores)), float(average_precision_score(y_test, scores))
                rows.append(
                    {"dataset": name, "seed": seed, "method": method, "roc_auc": auc, "average_precision": ap,
                     "seconds": seconds}
                )  # fmt: skip
                partial.write_text(json.dumps(rows, indent=1) + "\n")
                print(
                    f"{name:10s} seed {seed} {method:13s} ROC-AUC {auc:.4f}  AP {ap:.4f}  {seconds:.1f} s", flush=True
                )

    def summarise(metric: str) -> tuple[dict, dict, str]:
        summary = {
            n: {
                m: [float(np.mean(v)), float(np.std(v))]
                for m in methods
                for v in [[r[metric] for r in rows if r["dataset"] == n and r["method"] == m]]
            }
            for n in names
        }
        overall = {m: float(np.mean([summary[n][m][0] for n in names])) for m in methods}
        lines = [
            "| data set (rows x features, anomalies) | " + " | ".join(methods) + " |",
            "|---" * (len(methods) + 1) + "|",
        ]
        for n in names:
            x, y = load(n)
            best = max(methods, key=lambda m: summary[n][m][0])
            cells = [
                (f"**{summary[n][m][0]:.4f}**" if m == best else f"{summary[n][m][0]:.4f}")
                + f" ± {summary[n][m][1]:.4f}"
                for m in methods
            ]
            lines.append(f"| {n} ({len(x)} x {x.shape[1]}, {y.mean():.1%}) | " + " | ".join(cells) + " |")
        lines.append("| **mean over data sets** | " + " | ".join(f"{overall[m]:.4f}" for m in methods) + " |")
        return summary, overall, "\n".join(lines)

    summary, overall, table = summarise("roc_auc")
    ap_summary, ap_overall, ap_table = summarise("average_precision")
    others = [m for m in methods if m != "vaekit"]
    verdict = ""
    if "vaekit" in overall and others:
        above = all(overall["vaekit"] > overall[m] for m in others)
        verdict = (
            f"vaekit's mean ROC-AUC {overall['vaekit']:.4f} is {'above' if above else 'not above'} both "
            f"of theirs ({', '.join(f'{m} {overall[m]:.4f}' for m in others)}); target: above both."
        )
    print(table)
    print(ap_table)
    print(verdict)
    record = {
        "date": today(),
        "machine": machine(),
        "seeds": args.seeds,
        "rows": rows,
        "summary": summary,
        "mean_over_datasets": overall,
        "average_precision": {"summary": ap_summary, "mean_over_datasets": ap_overall},
        "verdict": verdict,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    partial.unlink(missing_ok=True)
    if not args.no_docs:
        minutes = sum(r["seconds"] for r in rows) / 60
        update_docs(
            "Anomaly detection on ODDS (issues 4 and 18)",
            f"""
`python benchmarks/anomaly.py` ({today()}, {machine()}; fitting and scoring took {minutes:.0f} min in all).
Each data set: a 60/40 split stratified by the label, features standardised on the training part, every
detector fitted on the training part without labels (its anomalies included) and scored on the test part;
ROC-AUC, mean ± standard deviation over {args.seeds} seeds (the seed draws the split and seeds each detector).
vaekit is `VAEAnomalyDetector()` with its defaults: two MLP VAEs (one hidden layer of 16, a latent of
min(4, features - 1)) on features scaled robustly (each feature's median and max(IQR / 1.349, a quarter of its
standard deviation)), one with a unit-scale Gaussian likelihood and one that learns a scale per feature; each
scores the importance-sampled -log p(x) with 100 draws, standardised by the median and IQR of its scores on
the training rows, and a row's score is the mean of the two; each model trains 100 epochs at most with early
stopping on 10% of the training rows, then again without the 20% of training rows it explains worst.
PyOD {__import__("pyod").__version__}:
`pyod.models.vae.VAE(random_state=seed)` and `pyod.models.iforest.IForest(random_state=seed)`, defaults
otherwise. Bold: the best per row. Raw rows: `benchmarks/results/anomaly.json`.

ROC-AUC:

{table}

{verdict}

Average precision (the same scores):

{ap_table}

How vaekit's defaults were chosen, and what that means for this table. `python benchmarks/anomaly_tune.py` runs
candidates on split seeds 100-102, disjoint from the seeds above; mean ROC-AUC on those seeds (cardio,
thyroid, satellite, shuttle, then their mean):

{tuning_table()}

The two models (today's default) were chosen there (issue 18): a learned scale alone was best on shuttle and
thyroid and worst on cardio, a unit scale the reverse, and the pair (`mixsig`: the two models' score ranks
averaged on the test rows, which a fitted detector cannot do for new rows; `default`: the standardised scores
as shipped, members on seeds of their own) beat both and IsolationForest. Trimming 30% instead of 20% helped
cardio and satellite but lost on shuttle. The robust scaling (issue 18) was chosen
with `python benchmarks/anomaly_tune.py` on split seeds 100-102, disjoint from the seeds above; mean ROC-AUC over
the four data sets on those seeds: robust scaling with the floor 0.8948, IsolationForest 0.8915, the former
scaling by mean and standard deviation 0.8860, plain median/IQR (no floor) lost 0.035 on cardio. The ADBench
files beside ODDS hold the same four data sets, so no independent tuning set was available. Earlier, on seeds
0 and 1 of cardio, thyroid and
satellite (part of the seeds above, so the table is mildly optimistic for vaekit), the first defaults (MLP 64-64,
latent features/2, a learned scale per feature, no trimming) scored cardio 0.78-0.81, thyroid 0.95, satellite
0.70. A learned scale lets near-discrete features (cardio has features with 3 to 8 distinct values) dominate
the likelihood; a unit scale on standardised features fixed most of that (cardio 0.85-0.88). A smaller model
(one layer of 16, latent 4) and the trimmed refit (drop the worst-explained 20% of training rows, fit again)
gave the rest. Standardising on the kept rows instead of all rows raised thyroid to 0.98 but lowered cardio to
0.90-0.93 on the same seeds, so it was left out. With those single-model defaults IsolationForest
stayed ahead on thyroid, satellite and shuttle; the two models of today's default are ahead of it on all four.
""",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
