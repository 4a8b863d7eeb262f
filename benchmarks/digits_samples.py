"""Which default makes the no-argument run's samples recognisable digits? Measured with a digits classifier.

    python benchmarks/digits_samples.py [--tune-seeds 1,2] [--report-seed 0] [--n 1000]

A new user's first picture is ``runs/digits/samples.png`` of ``vaekit train`` (the digits preset). Here a
classifier trained on the digits training split (an RBF support-vector machine; its test-split accuracy is
printed) judges samples of the preset trained with each prior (``normal``, ``mog``, ``vamp``), drawn at
temperatures 1, 0.8 and 0.6, and from a Gaussian mixture fitted afterwards to the posterior means of the
training images (10 components, full covariance: the aggregate posterior, Ghosh et al. 2020,
arXiv:1903.12436). Per sampler:

- ``recognisable``: the share of samples the classifier gives one class with probability >= 0.9;
- ``classes``: exp(entropy) of the classes it assigns (10 if every digit comes out equally often; a sampler
  that draws only the easiest digits scores fewer);
- the run's ``test ELBO`` (nats per image on the digits test split, higher is better) beside it, so a
  choice that costs likelihood shows.

The choice is the prior, made on the training seeds ``--tune-seeds`` from samples at temperature 1 (what
``samples.png`` shows: the model's own distribution): the best ``recognisable`` among priors whose samples
cover the digits (``classes`` >= 9) and whose run's test ELBO is not below the normal prior's (the VampPrior
draws the most recognisable digits but cost about 5 nats of likelihood on the first seed: a default that looks
better and models worse is not chosen). Lower temperatures (``vaekit sample --temperature``) and the mixture
fitted afterwards are rows beside it: what a user gets on top. It is reported on ``--report-seed`` (0: the
seed of the run a user gets), which the choice
never saw. Runs are trained through the CLI into ``runs/digits-samples/`` and reused when present (the script
resumes); results go to ``benchmarks/results/digits_samples.json`` and the section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, busy_cores, machine, today, update_docs  # noqa: E402

import vaekit  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "digits_samples.json"
RUNS = ROOT / "runs" / "digits-samples"
PRIORS = ("normal", "mog", "vamp")
TEMPERATURES = (1.0, 0.8, 0.6)
CONFIDENT = 0.9


def trained(prior: str, seed: int) -> Path:
    """The digits preset trained with ``prior`` and ``seed`` (trained now unless the run is there)."""
    out = RUNS / f"{prior}-s{seed}"
    if not (out / "summary.json").is_file():
        cmd = [sys.executable, "-m", "vaekit", "train", "--out", str(out), "--prior", prior, "--seed", str(seed)]
        subprocess.run([*cmd, "--no-report"], check=True, capture_output=True)
    return out


def classifier(data: vaekit.Dataset):
    from sklearn.svm import SVC

    clf = SVC(gamma="scale", probability=True, random_state=0)
    clf.fit(data.split("train").flatten(1).numpy(), data.labels["train"].numpy())
    accuracy = clf.score(data.split("test").flatten(1).numpy(), data.labels["test"].numpy())
    return clf, float(accuracy)


def judge(clf, images: np.ndarray) -> dict[str, float]:
    p = clf.predict_proba(images.reshape(len(images), -1))
    share = np.bincount(p.argmax(1), minlength=10) / len(p)
    entropy = -(share[share > 0] * np.log(share[share > 0])).sum()
    return {"recognisable": float((p.max(1) >= CONFIDENT).mean()), "classes": float(np.exp(entropy))}


def aggregate_samples(vae, x_train: torch.Tensor, n: int, seed: int) -> np.ndarray:
    """Decoded means of ``n`` draws from a 10-component Gaussian mixture fitted to E[z|x] of the training set."""
    from sklearn.mixture import GaussianMixture

    codes = vaekit.encode(vae, x_train)
    gmm = GaussianMixture(10, covariance_type="full", random_state=seed).fit(codes)
    z, _ = gmm.sample(n)
    return vaekit.decode(vae, torch.as_tensor(z, dtype=torch.float32))


def samplers(run: Path, x_train: torch.Tensor, n: int, seed: int):
    vae = vaekit.load(run)
    for t in TEMPERATURES:
        yield f"T={t:g}", vaekit.sample(vae, n, temperature=t, seed=seed)
    yield "aggregate", aggregate_samples(vae, x_train, n, seed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tune-seeds", default="1,2")
    ap.add_argument("--report-seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    tune = [int(s) for s in args.tune_seeds.split(",")]
    if args.report_seed in tune:
        ap.error("the report seed must not be one the choice is made on")
    busy = busy_cores()
    data = vaekit.load_dataset("digits")
    clf, accuracy = classifier(data)
    print(f"classifier accuracy on the digits test split: {accuracy:.4f}")
    rows = []
    for seed in [*tune, args.report_seed]:
        for prior in PRIORS:
            t0 = time.perf_counter()
            run = trained(prior, seed)
            elbo = -json.loads((run / "summary.json").read_text())["test/neg_elbo"]
            for name, images in samplers(run, data.split("train"), args.n, seed):
                row = {"seed": seed, "prior": prior, "sampler": name, "test_elbo": elbo, **judge(clf, images)}
                rows.append(row)
                print(f"seed {seed} {prior:6s} {name:9s} recognisable {row['recognisable']:.3f} "
                      f"classes {row['classes']:.2f}  test ELBO {elbo:.2f}", flush=True)  # fmt: skip
            print(f"  ({time.perf_counter() - t0:.0f} s)")

    def mean(prior: str, sampler: str, seeds: list[int], key: str) -> float:
        return float(
            np.mean([r[key] for r in rows if (r["prior"], r["sampler"]) == (prior, sampler) and r["seed"] in seeds])
        )

    pairs = [(p, s) for p in PRIORS for s in [f"T={t:g}" for t in TEMPERATURES] + ["aggregate"]]
    # samples must cover the digits, and the likelihood must not fall below the normal prior's
    floor = mean("normal", "T=1", tune, "test_elbo")
    candidates = [(p, "T=1") for p in PRIORS]
    eligible = [c for c in candidates if mean(*c, tune, "classes") >= 9 and mean(*c, tune, "test_elbo") >= floor]
    chosen = max(eligible or candidates, key=lambda pair: mean(*pair, tune, "recognisable"))
    print(f"chosen on seeds {tune}: prior {chosen[0]}, sampler {chosen[1]}")
    RESULTS.write_text(json.dumps({
        "date": today(), "machine": machine(), "busy_cores": busy, "classifier_accuracy": accuracy,
        "tune_seeds": tune, "report_seed": args.report_seed, "n": args.n, "rows": rows, "chosen": chosen,
    }, indent=1) + "\n")  # fmt: skip

    lines = [
        f"`python benchmarks/digits_samples.py` ({today()}; {machine()}). Which default makes the no-argument "
        f"run's samples recognisable digits: the digits preset trained with each prior, sampled at temperatures "
        f"and from a 10-component Gaussian mixture fitted to the training set's posterior means (`aggregate`), "
        f"{args.n} samples each, judged by an RBF SVM trained on the digits training split (test accuracy "
        f"{accuracy:.3f}). *recognisable*: share of samples given one class with probability >= {CONFIDENT}; "
        f"*classes*: exp(entropy) of the assigned classes (10 = all digits equally often). Chosen on training "
        f"seeds {', '.join(map(str, tune))} from samples at temperature 1, what `samples.png` shows (best "
        f"recognisable with classes >= 9 and a test ELBO not below the normal prior's): **the {chosen[0]} "
        f"prior**; reported below on seed {args.report_seed}, which the choice did not see. Lower temperatures "
        f"and the aggregate mixture are what a user can get on top of it.",
        "",
        "| prior | sampler | recognisable (tune seeds) | classes (tune seeds) | test ELBO (tune seeds) | "
        f"recognisable (seed "
        f"{args.report_seed}) | classes (seed {args.report_seed}) | test ELBO (seed {args.report_seed}) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rep = [args.report_seed]
    for pair in pairs:
        mark = " **(chosen)**" if pair == tuple(chosen) else ""
        lines.append(
            f"| {pair[0]} | {pair[1]}{mark} | {mean(*pair, tune, 'recognisable'):.3f} | "
            f"{mean(*pair, tune, 'classes'):.2f} | {mean(*pair, tune, 'test_elbo'):.2f} | "
            f"{mean(*pair, rep, 'recognisable'):.3f} | "
            f"{mean(*pair, rep, 'classes'):.2f} | {mean(*pair, rep, 'test_elbo'):.2f} |"
        )
    update_docs("Recognisable digits in the default run's samples", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
