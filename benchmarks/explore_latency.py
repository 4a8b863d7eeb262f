"""Live explorer latency: how fast ``vaekit explore`` answers ``POST /decode`` for one latent point.

    python benchmarks/explore_latency.py [--data-dir DIR] [--mnist] [--requests 4000] [--clients 8]

1. Trains (once; ``runs/explore-latency/digits`` is reused) the default digits run, ``vaekit train`` with no
   options (an MLP with 8 latent dimensions); with ``--mnist`` also the MLP 784-400-20 on MNIST for 2 epochs
   (``runs/explore-latency/mnist``).
2. Starts the real server, ``vaekit explore RUN --port 0``, in a process of its own, and records how many cores
   other processes kept busy just before.
3. Sends decode requests for random codes z ~ N(0, I) from keep-alive HTTP connections: first 1,000 from one
   client (one request at a time, what one page does), then ``--requests`` from ``--clients`` concurrent
   clients (threads of this process). Prints p50/p95/p99 latency (send to answer parsed) and throughput, and the
   model's own share (the server's ``Server-Timing`` header).

Target (issue 19): one point decoded and returned in < 30 ms at p95 on 2 CPU cores. Results go to
``benchmarks/results/explore_latency.json`` and the section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, busy_cores, default_data_dir, machine, today, update_docs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "explore_latency.json"
RUNS = ROOT / "runs" / "explore-latency"
TRAIN = {
    "digits": [],
    "mnist": ["--data", "mnist", "--model", "mlp", "--hidden", "400", "--latent-dim", "20", "--epochs", "2"],
}
TARGET_P95_MS = 30.0
SEQUENTIAL = 1000
WARM_UP = 100


def env(data_dir: str | None) -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", **({"VAEKIT_DATA_DIR": data_dir} if data_dir else {})}


def train(name: str, data_dir: str | None) -> Path:
    run = RUNS / name
    if not (run / "summary.json").exists():
        run.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "vaekit", "train", *TRAIN[name], "--out", str(run), "--quiet", "--no-report"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env(data_dir))
        print(f"trained {run} in {time.perf_counter() - t0:.0f} s", flush=True)
    return run


class Client:
    """One keep-alive HTTP connection sending decode requests; keeps each round trip's and the model's ms."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.latencies: list[float] = []
        self.model: list[float] = []

    def decode(self, z: np.ndarray) -> None:
        body = json.dumps({"z": [z.tolist()]})
        t0 = time.perf_counter()
        self.connection.request("POST", "/decode", body, {"Content-Type": "application/json"})
        answer = self.connection.getresponse()
        data = answer.read()
        json.loads(data)
        self.latencies.append((time.perf_counter() - t0) * 1000)
        if answer.status != 200:
            raise RuntimeError(f"the server answered {answer.status}: {data[:200]!r}")
        timing = re.search(r"dur=([0-9.]+)", answer.getheader("Server-Timing") or "")
        self.model.append(float(timing.group(1)) if timing else float("nan"))


def _decode_all(client: Client, codes: np.ndarray) -> None:
    for z in codes:
        client.decode(z)


def figures(latencies: list[float], seconds: float, model: list[float]) -> dict:
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {
        "requests": len(latencies),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(max(latencies)),
        "per_second": len(latencies) / seconds,
        "model_p50_ms": float(np.nanpercentile(model, 50)),
    }


def measure(run: Path, data_dir: str | None, requests: int, clients: int) -> dict:
    """Serve ``run`` in a fresh ``vaekit explore`` process and time decode requests against it."""
    load = busy_cores()
    server = subprocess.Popen(
        [sys.executable, "-m", "vaekit", "explore", str(run), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(data_dir),
    )
    try:
        line = server.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not found:
            raise RuntimeError(f"the server did not start: {line}{server.stderr.read()}")
        port = int(found.group(1))
        info = json.loads(_get(port, "/info"))
        d = info["latent_dim"]
        rng = np.random.default_rng(0)
        one = Client(port)
        for z in rng.standard_normal((WARM_UP, d)):
            one.decode(z)
        one.latencies.clear()
        one.model.clear()
        t0 = time.perf_counter()
        for z in rng.standard_normal((SEQUENTIAL, d)):
            one.decode(z)
        sequential = figures(one.latencies, time.perf_counter() - t0, one.model)
        pool = [Client(port) for _ in range(clients)]
        codes = rng.standard_normal((clients, requests // clients, d))
        threads = [threading.Thread(target=_decode_all, args=(c, zs)) for c, zs in zip(pool, codes, strict=True)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        concurrent = figures([v for c in pool for v in c.latencies], wall, [v for c in pool for v in c.model])
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "run": str(run.relative_to(ROOT)),
        "x_shape": info["x_shape"],
        "latent_dim": d,
        "sequential": sequential,
        "concurrent": {**concurrent, "clients": clients},
        "busy_cores_before": load,
    }


def _get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    return connection.getresponse().read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--mnist", action="store_true", help="also the MNIST MLP (needs the MNIST files)")
    ap.add_argument("--requests", type=int, default=4000, help="decode requests from the concurrent clients")
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    results: dict = {}
    for name in ["digits"] + (["mnist"] if args.mnist else []):
        r = measure(train(name, args.data_dir), args.data_dir, args.requests, args.clients)
        results[name] = r
        s, c = r["sequential"], r["concurrent"]
        print(
            f"{name}: one client p50 {s['p50_ms']:.2f} ms, p95 {s['p95_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms "
            f"({s['per_second']:.0f}/s); {c['clients']} clients p50 {c['p50_ms']:.2f} ms, p95 {c['p95_ms']:.2f} ms, "
            f"p99 {c['p99_ms']:.2f} ms, {c['per_second']:.0f} requests/s; model {s['model_p50_ms']:.2f} ms; "
            f"busy cores before {r['busy_cores_before']:.2f}",
            flush=True,
        )
    met = all(r["sequential"]["p95_ms"] < TARGET_P95_MS for r in results.values())
    results["summary"] = {"met": met, "target_p95_ms": TARGET_P95_MS, "machine": machine(), "date": today()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rows = []
    for name, r in results.items():
        if name == "summary":
            continue
        for label, f in (("1 client", r["sequential"]), (f"{r['concurrent']['clients']} clients", r["concurrent"])):
            rows.append(
                f"| {name} ({'x'.join(map(str, r['x_shape']))}, {r['latent_dim']} latent) | {label} | "
                f"{f['requests']:,} | {f['p50_ms']:.1f} | **{f['p95_ms']:.1f}** | {f['p99_ms']:.1f} | "
                f"{f['per_second']:.0f} | {f['model_p50_ms']:.2f} |"
            )
    busiest = max(r["busy_cores_before"] for k, r in results.items() if k != "summary")
    busy_note = (
        f"\nOther processes kept up to {busiest:.1f} cores busy: provisional figures, to be measured again on a "
        "quiet machine."
        if busiest > 0.5
        else ""
    )
    loads = ", ".join(f"{r['busy_cores_before']:.2f}" for k, r in results.items() if k != "summary")
    update_docs(
        "Live explorer latency (issue 19)",
        f"""Command: `python benchmarks/explore_latency.py{" --mnist" if args.mnist else ""}`. The real server
(`vaekit explore RUN --port 0`, in its own process) answers `POST /decode` for one random code z ~ N(0, I) per
request, over keep-alive HTTP connections from this script: {SEQUENTIAL:,} requests from one client, one at a
time (what one page does: it keeps one request in flight), then {args.requests:,} from {args.clients} concurrent
clients (threads). Latency runs from sending a request to its answer parsed, in ms; "model" is the server's own
time for the decoding and its JSON values, without the wait for the worker (its `Server-Timing` header),
median. Target: p95 < {TARGET_P95_MS:.0f} ms for one point.

| run | clients | requests | p50 | p95 | p99 | requests/s | model |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The server decodes on one worker thread, one request at a time; with {args.clients} clients each request also
waits for the ones ahead of it. Cores busy just before each run: {loads}.{busy_note}
Machine: {machine()}, measured {today()}.""",
    )
    print(f"target p95 < {TARGET_P95_MS:.0f} ms for one client: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
