"""Named data sets, resolved through one registry, and files by path.

``digits`` ships inside scikit-learn and needs no data directory. The others read the layout below from
``--data-dir``, else ``$VAEKIT_DATA_DIR``, else the user cache folder, verify the sha256 of each file's
decompressed content (so a faithful copy gzipped by other tools or at another level is accepted), and download
missing files from public mirrors::

    mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    binarized_mnist/binarized_mnist_{train,valid,test}.amat.gz
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.amat import parse_amat
from vaekit.data.dataset import Dataset, as_examples, as_labels
from vaekit.data.download import FileSpec, fetch, resolve_data_dir
from vaekit.data.files import load_file
from vaekit.data.idx import parse_idx
from vaekit.data.shapes import Shapes
from vaekit.errors import DataError

Loader = Callable[..., Dataset]


@dataclass(frozen=True)
class _Entry:
    loader: Loader
    options: frozenset[str]  # keyword options the loader takes (e.g. ``bars`` for melodies)


REGISTRY: dict[str, _Entry] = {}
# file loaders that plug-ins add (the music package: melody files): (claims the path?, loader(path, **options), options)
FILE_LOADERS: list[tuple[Callable[[Path], bool], Loader, frozenset[str]]] = []

# Settings that suit a data set better than the global defaults; explicit options always win over them.
# digits: 1,437 training images of 8x8 grey levels. A Bernoulli likelihood on so few, so smooth images lets
# the posterior collapse (about 3-5 nats of KL, blurry samples); a Gaussian with a learned per-pixel scale
# uses about 16 nats. With the standard normal prior about a quarter of its samples are recognisable digits;
# a learned mixture prior (10 components) doubles that at a test ELBO within the seeds' spread (+1.5 nats on
# the seeds it was chosen on, -2.6 on seed 0); the VampPrior's samples look better still but cost 3-5 nats.
# Measured by benchmarks/digits_samples.py (docs/benchmarks.md).
PRESETS: dict[str, dict] = {
    "digits": {
        "model": {"likelihood": "gaussian", "latent_dim": 8, "prior": "mog"},
        "train": {"epochs": 300, "batch_size": 64, "patience": 30},
    },
}

_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
_BINARIZED_MIRRORS = ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",)

_IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_specs(folder: str, mirrors: tuple[str, ...], digests: tuple[str, ...]) -> dict[str, FileSpec]:
    return {
        name: FileSpec(f"{folder}/{name}.gz", digest, tuple(m + f"{name}.gz" for m in mirrors))
        for name, digest in zip(_IDX_NAMES, digests, strict=True)
    }


# sha256 of the decompressed files (the IDX and .amat bytes), not of the .gz bytes the mirrors serve
FILES: dict[str, dict[str, FileSpec]] = {
    "mnist": _idx_specs(
        "mnist",
        _MNIST_MIRRORS,
        (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
    "fashion-mnist": _idx_specs(
        "fashion_mnist",
        _FASHION_MIRRORS,
        (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    ),
    "binarized-mnist": {
        split: FileSpec(
            f"binarized_mnist/binarized_mnist_{split}.amat.gz",
            digest,
            tuple(m + f"binarized_mnist_{split}.amat" for m in _BINARIZED_MIRRORS),
            gzip_after_download=True,
        )
        for split, digest in (
            ("train", "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
            ("valid", "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
            ("test", "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
        )
    },
}


def register(name: str, *, options: tuple[str, ...] = ()) -> Callable[[Loader], Loader]:
    """Decorator adding a loader ``(root, **options) -> Dataset`` under ``name``; ``options`` are the keyword
    options it accepts (any other option given for it is an error)."""

    def deco(fn: Loader) -> Loader:
        REGISTRY[name] = _Entry(fn, frozenset(options))
        return fn

    return deco


def register_file_loader(claims: Callable[[Path], bool], loader: Loader, *, options: tuple[str, ...] = ()) -> None:
    """Let a plug-in read files it ``claims`` (by suffix, say) with ``loader(path, **options)``."""
    FILE_LOADERS.append((claims, loader, frozenset(options)))


def preset(name: str) -> dict:
    """Recommended config values for a registered data set (empty for most)."""
    return PRESETS.get(name, {})


def dataset_names() -> list[str]:
    return sorted(REGISTRY)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, **options: Any) -> Dataset:
    """A registered data set by name, or a file/folder by path (``.npy``, ``.npz``, ``.csv``, images, and what
    plug-ins read, such as melodies).

    ``options`` go to loaders that take them (``bars``: the window length of melody data); an option that is
    not ``None`` for a loader that does not take it is an error.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if name in REGISTRY:
        entry = REGISTRY[name]
        _check_options(name, options, entry.options)
        return entry.loader(resolve_data_dir(data_dir), **options)
    path = Path(name).expanduser()
    for claims, loader, accepted in FILE_LOADERS:
        if claims(path):
            _check_options(name, options, accepted)
            return loader(path, **options)
    if path.exists() or path.suffix or os.sep in name:
        _check_options(name, options, frozenset())
        return load_file(path)
    raise DataError(f"unknown data set {name!r}", f"choose one of {', '.join(dataset_names())}, or give a file path")


def _check_options(name: str, options: dict[str, Any], accepted: frozenset[str]) -> None:
    extra = sorted(set(options) - accepted)
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise DataError(f"{flags} does not apply to data {name!r}", f"drop {flags}")


@register("digits")
def _digits(root: Path) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, grey levels 0-16 scaled to [0, 1]).

    No standard split exists; a fixed permutation (seed 0) puts 20% (360 images) in ``test``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None] / 16.0
    y = bunch.target
    perm = np.random.default_rng(0).permutation(len(x))
    test, train = perm[:360], perm[360:]
    return Dataset(
        "digits",
        splits={"train": as_examples(x[train], "digits"), "test": as_examples(x[test], "digits")},
        labels={"train": as_labels(y[train]), "test": as_labels(y[test])},
    )


def _idx_dataset(name: str, root: Path) -> Dataset:
    specs = FILES[name]
    arrays = {
        key: parse_idx(fetch(spec, root), ndim=3 if "images" in key else 1, what=spec.path)
        for key, spec in specs.items()
    }
    for split, prefix in (("train", "train"), ("test", "t10k")):
        n_x, n_y = len(arrays[f"{prefix}-images-idx3-ubyte"]), len(arrays[f"{prefix}-labels-idx1-ubyte"])
        if n_x != n_y:
            raise DataError(
                f"{name} {split}: {n_x} images but {n_y} labels", "delete the files so they are fetched again"
            )
    return Dataset(
        name,
        splits={
            s: as_examples(arrays[f"{p}-images-idx3-ubyte"], name) for s, p in (("train", "train"), ("test", "t10k"))
        },
        labels={s: as_labels(arrays[f"{p}-labels-idx1-ubyte"]) for s, p in (("train", "train"), ("test", "t10k"))},
    )


@register("mnist")
def _mnist(root: Path) -> Dataset:
    """MNIST (LeCun et al. 1998): 60,000 train and 10,000 test grey-level 28x28 images in [0, 1]."""
    return _idx_dataset("mnist", root)


@register("fashion-mnist")
def _fashion_mnist(root: Path) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747): same format and sizes as MNIST."""
    return _idx_dataset("fashion-mnist", root)


@register("binarized-mnist")
def _binarized_mnist(root: Path) -> Dataset:
    """The fixed binarization of MNIST (Larochelle & Murray 2011): 50,000 / 10,000 / 10,000 binary images."""
    splits = {}
    for split, spec in FILES["binarized-mnist"].items():
        rows = parse_amat(fetch(spec, root), what=spec.path)
        splits["val" if split == "valid" else split] = as_examples(
            rows.reshape(-1, 1, 28, 28).astype(np.float32), spec.path
        )
    return Dataset("binarized-mnist", splits=splits)


SHAPES_TRAIN, SHAPES_TEST = 10_000, 2_000


@register("shapes")
def _shapes(root: Path) -> Dataset:
    """A fixed random subset (seed 0) of the 737,280 ``shapes`` images: 10,000 train and 2,000 test.

    Generated by code (:mod:`vaekit.data.shapes`), nothing read from disk; labels are the shape (3 classes),
    ``factors`` all five factor indices. Use :class:`~vaekit.data.shapes.Shapes` for other subsets.
    """
    shapes = Shapes()
    index = shapes.subset(SHAPES_TRAIN + SHAPES_TEST, seed=0)
    parts = {"train": index[:SHAPES_TRAIN], "test": index[SHAPES_TRAIN:]}
    factors = {k: torch.from_numpy(shapes.factors_of(v)) for k, v in parts.items()}
    return Dataset(
        "shapes",
        splits={k: shapes.images(v) for k, v in parts.items()},
        labels={k: f[:, 0].clone() for k, f in factors.items()},
        factors=factors,
        factor_names=shapes.factor_names,
    )
