"""A run opened for live exploring: its model, the held-out examples on the map, and the page's questions.

A :class:`Session` does the work of every endpoint of the explorer on plain arrays, with no HTTP in sight, so it
is tested (and usable) on its own. It asks the run's modality how examples look (``view_json``) and never
tests the kind of data itself. Examples are shown as the user knows them: for an anomaly detector (a run with
``anomaly.json``) in the units of its training table, not the standardised units its model works in.

Shapes: ``z (n, latent_dim)``; the plane of the map is ``z = center + u * axes[0] + v * axes[1]`` (see
:func:`vaekit.apps.latent.latent_plane`), and a code's coordinates are ``(z - center) @ axes.T``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.apps.anomaly import DETECTOR_FILE, Detector, load_detector
from vaekit.apps.anomaly_files import load_rows
from vaekit.apps.generation import encode, model_input, model_labels
from vaekit.apps.latent import latent_kl, latent_plane, latent_statistic
from vaekit.data.registry import dataset_names
from vaekit.errors import DataError, VaekitError
from vaekit.evaluate import active_units
from vaekit.run import Run
from vaekit.utils import latent_path_at, make_generator

log = logging.getLogger(__name__)

MAX_ROWS = 512  # examples or codes in one request: an interpolation strip or a batch of samples, not a data set
MAX_ABS_Z = 1e3  # the prior's scale is 1: a code farther out is a mistake, and the decoder's arithmetic overflows
MAP_LIMIT = 5000  # held-out examples on the map (evenly spaced), enough to see its shape, quick to draw


class RequestError(VaekitError):
    """A request the explorer cannot answer as asked (the server answers 400 with this message)."""


@dataclass(frozen=True)
class Held:
    """The held-out examples on the map: ``x (N, *x_shape)`` as the model takes them, ``shown (N, *x_shape)``
    as the page shows them, ``rows (N,)`` their row numbers in the split, ``labels (N,)`` and ``y (N,)`` (a
    conditional model's labels) or None, and ``names``: the features' names where the data has them."""

    x: torch.Tensor
    shown: np.ndarray
    rows: np.ndarray
    labels: np.ndarray | None
    y: torch.Tensor | None
    names: list[str] | None


def _spread(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced row numbers out of ``n`` (held-out sets may be sorted by class)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


class Session:
    """The explorer's state for one run: model (eval mode, on the CPU, where an MLP decodes one point in about
    0.3 ms: benchmarks/explore_latency.py), held-out examples, their codes, the map's plane, each latent
    dimension's KL and activity, and an anomaly detector where the run is one.

    Methods answer the endpoints: :meth:`info`, :meth:`map`, :meth:`decode`, :meth:`example`, :meth:`encode`,
    :meth:`sample`, :meth:`interpolate`. They are not thread-safe: the server calls them from one thread.
    """

    def __init__(
        self,
        run: Run,
        *,
        data: str | None = None,
        data_dir: str | os.PathLike | None = None,
        split: str = "test",
        limit: int = MAP_LIMIT,
    ):
        if limit < 2:
            raise VaekitError(f"--limit must be at least 2, got {limit}")
        self.run, self.split = run, split
        self.modality = run.modality
        self.vae = run.model("cpu")
        self.detector: Detector | None = None
        if (run.path / DETECTOR_FILE).is_file():
            self.detector = load_detector(run.path, verify=run.folder.verify)
        self.held = self._held_out(data, data_dir, split, limit)
        name = data or run.config.data.name
        registered = name in dataset_names()
        # a file is one split (every split name answers all its rows): name the file, not a split
        self.source = {"name": name if registered else Path(name).name, "split": split if registered else None}
        if len(self.held.x) < 2:
            raise DataError(f"the {split} split has {len(self.held.x)} example; the map needs at least 2")
        with torch.inference_mode():
            mu = torch.from_numpy(encode(self.vae, self.held.x, y=self.held.y)).double()
            self.kl = latent_kl(self.vae, self.held.x, self.held.y)
        self.z = mu.float().numpy()
        self.active = active_units(mu).numpy()
        center, axes, self.explained = latent_plane(mu)
        self.center, self.axes = center.float().numpy(), axes.float().numpy()
        self.coords = self.project(self.z)
        self.scores: np.ndarray | None = None
        if self.detector is not None:
            self.scores = self.detector.scores(self.held.shown.reshape(len(self.held.shown), -1), "the data")
        self.context = self.modality.view_context(self.held.shown, self.held.names)
        log.info("exploring %s: %d %s examples, %d latent dimensions", run.path, len(self.z), split, self.latent_dim)

    # loading ----------------------------------------------------------------------------------------------
    def _held_out(self, data: str | None, data_dir: str | os.PathLike | None, split: str, limit: int) -> Held:
        if self.detector is None:
            examples = self.run.data(split, data=data, data_dir=data_dir)
            rows = _spread(len(examples), limit)
            chosen = examples.rows(torch.from_numpy(rows))
            labels = None if chosen.labels is None else chosen.labels.numpy()
            return Held(chosen.x, chosen.x.numpy(), rows, labels, chosen.y, None)
        if data is None:
            raise DataError(
                f"{self.run.path} is an anomaly detector and keeps no data of its own", "give the rows with --data"
            )
        table = load_rows(data, data_dir=data_dir, split=split)
        rows = _spread(len(table.x), limit)
        raw = table.x[rows]
        x = self.detector.prepare(raw, str(data)).float().reshape(len(rows), *self.vae.x_shape)
        labels = None if table.labels is None else np.asarray(table.labels)[rows]
        return Held(x, raw.reshape(len(rows), *self.vae.x_shape), rows, labels, None, self.detector.features)

    # what the page asks -----------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.vae.latent_dim)

    def project(self, z: np.ndarray) -> np.ndarray:
        """Plane coordinates ``(n, 2)`` of codes ``z (n, d)``."""
        return (np.asarray(z, dtype=np.float32) - self.center) @ self.axes.T

    def info(self) -> dict[str, Any]:
        """What the page needs first: the run, the latent dimensions (largest KL first), the plane, the view."""
        order = np.argsort(-self.kl, kind="stable")
        pca = self.latent_dim > 2
        detector = self.detector
        return {
            "run": self.run.path.name,
            "modality": self.modality.name,
            "x_shape": list(self.vae.x_shape),
            "latent_dim": self.latent_dim,
            "n_classes": int(self.vae.n_classes),
            "source": self.source,
            "n_examples": len(self.z),
            "dims": [{"dim": int(j), "kl": _float(self.kl[j]), "active": bool(self.active[j])} for j in order.tolist()],
            "dim_statistic": latent_statistic(self.vae),  # what "kl" holds: KL in nats, or the means' variance
            "plane": {
                "center": _floats(self.center),
                "axes": [_floats(a) for a in self.axes],
                "explained": _floats(self.explained),
                "names": ["PC 1", "PC 2"] if pca else ["z0", "z1" if self.latent_dim == 2 else ""],
            },
            "anomaly": None
            if detector is None
            else {"score": detector.score, "threshold": _float(detector.threshold), "k": detector.k},
            "context": self.context,
            "limits": {"max_rows": MAX_ROWS, "max_abs_z": MAX_ABS_Z},
        }

    def map(self) -> dict[str, Any]:
        """The scatter: plane coordinates of the held-out examples and what colours them: their labels, else for
        an anomaly detector whether each is flagged."""
        labels, names = self.held.labels, None
        if labels is None and self.scores is not None:
            labels, names = self.detector.is_anomaly(self.scores), ["normal", "flagged"]
        return {
            "coords": [_floats(c, 5) for c in self.coords],
            "labels": None if labels is None else [int(v) if float(v).is_integer() else _float(v) for v in labels],
            "label_names": names,
        }

    @torch.inference_mode()
    def decode(self, z: Any, y: Any = None) -> dict[str, Any]:
        """E[x|z] (the modality's view of p(x|z)) for codes ``z (n, d)``: ``{"x": [...]}``."""
        codes = self.codes(z)
        return {"x": self._decoded(codes, model_labels(self.vae, y, len(codes), "y"))}

    @torch.inference_mode()
    def example(self, index: int) -> dict[str, Any]:
        """Held-out example ``index`` of the map: the input, its code E[z|x] and reconstruction, its anomaly
        score where the run is a detector."""
        if not 0 <= index < len(self.z):
            raise RequestError(f"no example {index} on the map", f"give 0..{len(self.z) - 1}")
        z = self.z[index : index + 1]
        y = None if self.held.y is None else int(self.held.y[index])
        out = {
            "index": index,
            "row": int(self.held.rows[index]),
            "label": None if self.held.labels is None else _label(self.held.labels[index]),
            "y": y,
            "x": self.modality.view_json(self.held.shown[index : index + 1])[0],
            "z": _floats(z[0]),
            "coords": _floats(self.coords[index]),
            "reconstruction": self._decoded(z, model_labels(self.vae, y, 1))[0],
        }
        if self.scores is not None:
            out["score"] = _float(self.scores[index])
            out["flagged"] = bool(self.detector.is_anomaly(self.scores[index : index + 1])[0])
        return out

    @torch.inference_mode()
    def encode(self, x: Any, y: Any = None) -> dict[str, Any]:
        """Codes E[z|x], plane coordinates and reconstructions of examples ``x`` given as the page shows them
        (and their anomaly scores where the run is a detector)."""
        rows = _array(x, "x")
        if self.detector is not None:
            inputs = self.detector.prepare(rows.reshape(len(rows), -1), "x").float()
        else:
            inputs = model_input(self.vae, rows, "x")
        inputs = inputs.reshape(len(inputs), *self.vae.x_shape)
        self.modality.check_input(self.vae, inputs, "x")
        labels = model_labels(self.vae, y, len(inputs), "y")
        qz = self.vae.encode(inputs, labels)
        z = qz.mean.float().numpy()
        out = {
            "z": [_floats(r) for r in z],
            "coords": [_floats(c) for c in self.project(z)],
            "reconstruction": self._decoded(z, labels),
        }
        if self.detector is not None:
            scores = self.detector.scores(rows.reshape(len(rows), -1), "x")
            out["score"] = _floats(scores)
            out["flagged"] = [bool(f) for f in self.detector.is_anomaly(scores)]
        return out

    @torch.inference_mode()
    def sample(self, n: int = 1, temperature: float = 1.0, seed: int | None = None, y: Any = None) -> dict[str, Any]:
        """``n`` draws z ~ p(z) at temperature T (each component scaled by T: N(0, T^2 I) for the normal prior) and
        what they decode to."""
        if not 1 <= n <= MAX_ROWS:
            raise RequestError(f"cannot draw {n} samples in one request", f"ask for 1 to {MAX_ROWS}")
        if not 0 < temperature <= 10:
            raise RequestError(f"temperature {temperature} is outside (0, 10]", "1 is the prior itself")
        labels = model_labels(self.vae, y, n, "y")
        z = self.vae.prior.sample(n, temperature=temperature, generator=make_generator(seed)).float().numpy()
        x = self._decoded(z, labels)
        return {"z": [_floats(r) for r in z], "coords": [_floats(c) for c in self.project(z)], "x": x}

    @torch.inference_mode()
    def interpolate(
        self, z0: Any, z1: Any, *, t: Any = None, steps: int | None = None, method: str = "lerp", y: Any = None
    ) -> dict[str, Any]:
        """The codes at ``t`` (values in [0, 1]; or ``steps`` evenly spaced, ends included) on the lerp or slerp
        path from ``z0`` to ``z1`` (see :func:`vaekit.utils.latent_path_at`), and what they decode to."""
        a, b = self.codes([z0])[0], self.codes([z1])[0]
        if (t is None) == (steps is None):
            raise RequestError("give either t (points on the path) or steps", "e.g. steps 9, or t [0.5]")
        if steps is not None:
            if not 2 <= steps <= MAX_ROWS:
                raise RequestError(f"steps {steps} is outside 2..{MAX_ROWS}")
            t = np.linspace(0, 1, steps)
        ts = np.asarray(t, dtype=np.float64).reshape(-1)
        if not 1 <= len(ts) <= MAX_ROWS or not ((ts >= 0) & (ts <= 1)).all():
            raise RequestError(f"t must hold 1 to {MAX_ROWS} values in [0, 1]")
        path = latent_path_at(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(ts), method).numpy()
        labels = model_labels(self.vae, y, len(path), "y")
        return {
            "t": _floats(ts),
            "z": [_floats(r) for r in path],
            "coords": [_floats(c) for c in self.project(path)],
            "x": self._decoded(path, labels),
        }

    # checks and conversions -------------------------------------------------------------------------------
    def codes(self, z: Any) -> np.ndarray:
        """Validate latent codes: ``(n, latent_dim)``, 1 to :data:`MAX_ROWS` rows, finite, within ±:data:`MAX_ABS_Z`."""
        codes = _array(z, "z")
        if codes.ndim != 2 or codes.shape[1] != self.latent_dim:
            shape = "x".join(map(str, codes.shape))
            raise RequestError(
                f"z has shape {shape}, the model's latent has {self.latent_dim} dimensions",
                f"give a list of codes of length {self.latent_dim}",
            )
        if np.abs(codes).max() > MAX_ABS_Z:
            raise RequestError(f"z has values beyond ±{MAX_ABS_Z:g}", "the prior's scale is 1")
        return codes.astype(np.float32)

    def _decoded(self, z: np.ndarray, labels: torch.Tensor | None) -> list[Any]:
        """What codes ``z (n, d)`` decode to, shown as the page shows examples (checked finite)."""
        with torch.inference_mode():
            rows = self.modality.decode(self.vae, torch.from_numpy(np.asarray(z, dtype=np.float32)), labels)
        shown = rows.double().numpy()
        if self.detector is not None and self.detector.center is not None:
            flat = shown.reshape(len(shown), -1) * np.asarray(self.detector.scale) + np.asarray(self.detector.center)
            shown = flat.reshape(shown.shape)
        if not np.isfinite(shown).all():
            raise RequestError("the model decodes these codes to values that are not finite", "move closer to 0")
        return self.modality.view_json(shown)


def _array(values: Any, what: str) -> np.ndarray:
    """A request's nested lists as a float64 array: 1 to MAX_ROWS rows, rectangular, finite."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise RequestError(f"{what} is not a rectangular array of numbers") from None
    if array.ndim < 2 or not 1 <= len(array) <= MAX_ROWS:
        raise RequestError(f"{what} must be a list of 1 to {MAX_ROWS} rows")
    if not np.isfinite(array).all():
        raise RequestError(f"{what} holds NaN or infinite values", "send finite numbers")
    return array


def _float(v: float, digits: int = 7) -> float | None:
    v = float(v)
    return float(f"{v:.{digits}g}") if math.isfinite(v) else None


def _floats(values: Any, digits: int = 7) -> list[float | None]:
    return [_float(v, digits) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def _label(v: Any) -> int | float:
    v = float(v)
    return int(v) if v.is_integer() else v
