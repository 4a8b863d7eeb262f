"""The protocol of a kind of data: what the CLI, training, evaluation and the report ask, and nothing else."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.config import ModelConfig
from vaekit.data.dataset import Dataset
from vaekit.errors import DataError, VaekitError

# what a command writes: "samples", "reconstructions", "codes" (encode), "interpolation", "traversal", "map"
OUTPUT_KINDS = ("samples", "reconstructions", "codes", "interpolation", "traversal", "map")
_WHAT = {  # how an error names each kind of output, and its verb
    "samples": ("samples", "are"),
    "reconstructions": ("reconstructions", "are"),
    "codes": ("latent codes", "are"),
    "interpolation": ("an interpolation", "is"),
    "traversal": ("a traversal", "is"),
    "map": ("a latent map", "is"),
    "variations": ("variations", "are"),
}


class Modality:
    """A kind of data (images, tables, melodies, ...): one object answers every question that depends on it.

    Subclass it, override what differs, and :func:`vaekit.modalities.register_modality` an instance. The
    defaults suit real-valued arrays: examples ``(N, *x_shape)`` float32, decoded to E[x|z].

    - recognising: :meth:`recognises` a loaded data set; :meth:`recognises_model` an older run folder that did
      not record its modality;
    - training: :meth:`preset` (config values laid under the user's), :meth:`check_input`;
    - generation: :meth:`sample`, :meth:`decode`, :meth:`reconstruct`, :meth:`read_file` (one input file);
    - output: :attr:`outputs` (suffixes per kind of output), :meth:`write`, :meth:`write_pictures`;
    - figures: :meth:`metrics` and :meth:`metric_rows` for ``vaekit evaluate``, :meth:`report_sections`;
    - the live explorer (``vaekit explore``): :meth:`view_script` (how its page draws an example),
      :meth:`view_context` (what that drawing needs to know once) and :meth:`view_json` (examples as JSON).
    """

    name: str = ""
    outputs: Mapping[str, frozenset[str]] = {
        "samples": frozenset({".npy", ".csv"}),
        "reconstructions": frozenset({".npy", ".csv"}),
        "codes": frozenset({".npy", ".csv"}),
        "interpolation": frozenset({".npy"}),
        "traversal": frozenset({".npy"}),
        "map": frozenset({".png", ".npz"}),
    }
    interpolation_method: str = "lerp"

    # recognising ----------------------------------------------------------------------------------------
    def recognises(self, dataset: Dataset) -> bool:
        """Whether ``dataset`` is of this kind (a loader that names ``dataset.modality`` decides first)."""
        return dataset.modality == self.name

    def recognises_model(self, model: ModelConfig, x_shape: tuple[int, ...]) -> bool:
        """Whether a run folder written before modalities were recorded holds a model of this kind."""
        return False

    # training -------------------------------------------------------------------------------------------
    def preset(self) -> dict[str, Any]:
        """Config values (``{"model": {...}, ...}``) that suit this kind of data; the user's values win."""
        return {}

    def check_input(self, model: Any, x: torch.Tensor, what: str) -> None:
        """Refuse examples the model cannot take: a different shape, or values outside its likelihood's support."""
        if tuple(x.shape[1:]) != tuple(model.x_shape):
            raise DataError(
                f"{what} has examples of shape {tuple(x.shape[1:])}, the model expects {tuple(model.x_shape)}",
                "use data of the shape the model was built for",
            )
        likelihood = (getattr(model, "config", None) or {}).get("model", {}).get("likelihood")
        if likelihood == "bernoulli" and len(x) and (x.min() < 0 or x.max() > 1):
            raise DataError(
                f"{what} has values in [{float(x.min()):.3g}, {float(x.max()):.3g}], a Bernoulli likelihood needs "
                "[0, 1]",
                "use --likelihood gaussian, or scale the data",
            )

    # generation -----------------------------------------------------------------------------------------
    def show(
        self,
        px: Any,
        *,
        temperature: float = 1.0,
        greedy: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """What a decoded distribution p(x|z) shows: E[x|z] here; a modality of discrete data draws or picks."""
        return px.mean

    def decode(self, model: Any, z: torch.Tensor, y: torch.Tensor | None = None, **show: Any) -> torch.Tensor:
        """:meth:`show` of p(x|z) (p(x|z, y) for a conditional model) for codes ``z (N, d)``."""
        return self.show(model.decode(z) if y is None else model.decode(z, y), **show)

    def sample(
        self,
        model: Any,
        n: int,
        *,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        y: torch.Tensor | None = None,
    ) -> np.ndarray:
        """``n`` new examples: z ~ N(0, T^2 I) (the prior at temperature T), shown as E[x|z]."""
        if greedy:
            raise VaekitError(f"--greedy applies to melodies, not {self.name}", "drop --greedy")
        z = model.prior.sample(n, temperature=temperature, generator=generator)
        return self.decode(model, z, y).cpu().numpy()

    def reconstruct(self, model: Any, x: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
        """E[x | z = E[z|x]] for each example (``x`` already on the model's device)."""
        qz = model.encode(x) if y is None else model.encode(x, y)
        return self.decode(model, qz.mean, y).cpu().numpy()

    def reads_file(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` is one input file of this kind (a tune, say) rather than a data set."""
        return False

    def read_file(self, path: str | os.PathLike, model: Any) -> np.ndarray:
        """The examples in one input file, cut to fit ``model`` (a tune as consecutive windows, say)."""
        raise VaekitError(f"a model of {self.name} does not read single input files like {Path(path).name}")

    def reconstruct_file(self, model: Any, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """``(reconstruction, input)`` of one input file, each as rows for :meth:`write`."""
        raise VaekitError(f"a model of {self.name} does not read single input files like {Path(path).name}")

    def variations_of_file(
        self, model: Any, path: str | os.PathLike, n: int, *, spread: float, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(variations, input)`` of one input file (a tune, say): ``n`` points around its code E[z|x],
        decoded, each as rows for :meth:`write`. A modality that offers it lists ``"variations"`` in
        :attr:`outputs`."""
        raise VaekitError(f"a model of {self.name} makes no variations of single input files like {Path(path).name}")

    def shown(self, kind: str, path: str | os.PathLike) -> int | None:
        """How many examples a command shows by default in ``path`` (None: all of them)."""
        return None

    # output ---------------------------------------------------------------------------------------------
    def check_output(self, path: str | os.PathLike, kind: str) -> Path:
        """Refuse, before any work, an output file this modality cannot write for ``kind``."""
        path = Path(path)
        allowed = self.outputs[kind]
        folder = "" in allowed and (path.suffix == "" or path.is_dir())
        if not folder and path.suffix.lower() not in allowed:
            shown = sorted(s for s in allowed if s) + (["a folder"] if "" in allowed else [])
            noun, verb = _WHAT.get(kind, (kind, "is"))
            hint = f"{noun} of {self.name} {verb} written as {', '.join(shown)}"
            raise VaekitError(f"cannot write {path.name}", hint)
        if not folder and not path.parent.exists():
            raise VaekitError(f"folder {path.parent} does not exist", "create it first")
        return path

    def write(
        self,
        kind: str,
        rows: np.ndarray,
        path: str | os.PathLike,
        *,
        reference: np.ndarray | None = None,
        titles: Sequence[str] | None = None,
        per_row: int | None = None,
    ) -> None:
        """Write ``rows`` (examples, or a path of them) of ``kind`` to ``path`` by its suffix."""
        from vaekit.apps.generation import write_array

        write_array(rows, path, column_prefix="z" if kind == "codes" else "x")

    def write_pictures(
        self,
        model: Any,
        folder: Path,
        held_out: torch.Tensor | None,
        *,
        labels: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        """A run folder's ``samples.png`` and ``reconstructions.png``."""

    def picture_note(self, name: str, conditional: bool) -> str:
        """A line under the run folder's picture ``name`` in the report (what the reader sees in it)."""
        return ""

    def write_interpolation(self, result: Any, path: str | os.PathLike, *, names: Sequence[str] = ()) -> None:
        """Write an :class:`~vaekit.apps.latent.Interpolation` (``names``: of the two ends, where they are files)."""
        self.write("interpolation", result.decoded, path)

    # figures --------------------------------------------------------------------------------------------
    def metrics(self, model: Any, x: torch.Tensor, *, seed: int = 0) -> dict[str, Any]:
        """Figures beyond likelihood that ``vaekit evaluate`` reports for held-out examples ``x``."""
        return {}

    def metric_rows(self, figures: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The rows those figures add to ``vaekit evaluate``'s table: ``(name, formatted value)``."""
        return []

    def report_sections(
        self, model: Any, x: torch.Tensor, y: torch.Tensor | None, *, seed: int = 0
    ) -> list[tuple[str, str, str]]:
        """Sections this modality adds to the run report: ``(title, html body, note)``."""
        return []

    # the live explorer ----------------------------------------------------------------------------------
    def view_script(self) -> str:
        """JavaScript that draws one example of this kind in the explorer's page (``vaekit explore``).

        It calls ``vaekit.registerView({draw(el, x, opts)})``: ``x`` is one example as :meth:`view_json` gives
        it, ``el`` an empty element to fill, ``opts`` holds ``context`` (:meth:`view_context`), ``reference``
        (the input ``x`` came from, where there is one), ``size`` (``"large"`` or ``"small"``) and ``title``.
        The default draws a row of values as bars (see ``modalities/static/values.js``)."""
        return static_text("vaekit.modalities", "values.js")

    def view_context(self, x: np.ndarray, names: Sequence[str] | None = None) -> dict[str, Any]:
        """What the view needs once, from the examples ``x (N, *x_shape)`` the page shows (as they are shown):
        here each value's name (``names``, else ``x0 .. x{F-1}``) and its 1st and 99th percentile, which
        scale the bars."""
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        n = flat.shape[1]
        low, high = np.percentile(flat, [1, 99], axis=0) if len(flat) else (np.zeros(n), np.ones(n))
        names = list(names) if names is not None and len(names) == n else [f"x{j}" for j in range(n)]
        return {"names": names, "low": json_floats(low), "high": json_floats(high)}

    def view_json(self, rows: np.ndarray) -> list[Any]:
        """Examples ``(N, *x_shape)`` as JSON values for the view: here each a flat list of numbers (7 digits)."""
        return [json_floats(row.reshape(-1)) for row in np.asarray(rows, dtype=np.float64)]


def json_floats(values: np.ndarray, digits: int = 7) -> list[float]:
    """Floats with ``digits`` significant digits, as JSON numbers (JSON has no NaN: callers check finiteness)."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def static_text(package: str, name: str) -> str:
    """A file shipped in ``package``'s ``static`` folder (package data)."""
    from importlib.resources import files

    return files(package).joinpath("static", name).read_text(encoding="utf-8")
