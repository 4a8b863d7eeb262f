"""User data files: ``.npy``, ``.npz``, ``.csv`` (header row, numbers) and folders of images."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from vaekit.data.dataset import Dataset, as_examples, as_labels
from vaekit.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
X_KEYS = ("x", "X", "data", "images", "x_train")
Y_KEYS = ("y", "Y", "labels", "targets", "y_train")


def load_file(path: str | Path) -> Dataset:
    """Read a data file or image folder into a one-split :class:`Dataset` named after it."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}", "give a data set name or an existing path")
    if path.is_dir():
        x, y = _read_image_folder(path)
    else:
        reader = {".npy": _read_npy, ".npz": _read_npz, ".csv": _read_csv}.get(path.suffix.lower())
        if reader is None:
            raise DataError(f"cannot read {path.name}: unknown file type", "use .npy, .npz, .csv or a folder of images")
        x, y = reader(path)
    splits = {"train": as_examples(x, str(path))}
    labels = {} if y is None else {"train": as_labels(y)}
    if y is not None and len(labels["train"]) != len(splits["train"]):
        raise DataError(f"{path} has {len(labels['train'])} labels for {len(splits['train'])} rows", "fix the labels")
    return Dataset(name=path.stem, splits=splits, labels=labels)


def _read_npy(path: Path) -> tuple[np.ndarray, None]:
    try:
        return np.load(path, allow_pickle=False), None
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"cannot read {path} as .npy ({err})", "is the file complete?") from None


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            x_key = next((k for k in X_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if x_key is None:
                raise DataError(f"{path} holds arrays {keys}", f"name the data array one of {', '.join(X_KEYS)}")
            y_key = next((k for k in Y_KEYS if k in keys), None)
            return archive[x_key], (archive[y_key] if y_key else None)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"cannot read {path} as .npz ({err})", "is the file complete?") from None


def _read_csv(path: Path) -> tuple[np.ndarray, None]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text", "give a CSV text file") from None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows", "a CSV needs a header row and at least one row of numbers")
    header, body = rows[0], rows[1:]
    values = np.empty((len(body), len(header)), dtype=np.float64)
    for i, row in enumerate(body):
        line = i + 2
        if len(row) != len(header):
            raise DataError(
                f"{path} line {line} has {len(row)} cells, the header has {len(header)}",
                "every row needs one cell per column",
            )
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise DataError(
                    f"{path} line {line}, column {header[j]!r}: {cell!r} is not a number",
                    "the CSV must hold numbers only",
                ) from None
    return values, None


def _read_image_folder(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images directly in ``path``, or one sub-folder per class (labels are the sorted sub-folder index)."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    labels: list[int] | None = None
    if not files:
        classes = sorted(d for d in path.iterdir() if d.is_dir())
        labels = []
        for k, d in enumerate(classes):
            found = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            files += found
            labels += [k] * len(found)
    if not files:
        raise DataError(f"{path} holds no images", f"put {', '.join(sorted(IMAGE_SUFFIXES))} files in it")
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                images.append(im.convert("RGB") if im.mode not in ("L", "1", "P") else im.convert("L"))
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"cannot read image {f} ({err.__class__.__name__})", "remove it or replace it") from None
    sizes = {im.size for im in images}
    if len(sizes) > 1:
        raise DataError(f"images in {path} have different sizes {sorted(sizes)[:3]}...", "resize them to one size")
    mode = "RGB" if any(im.mode == "RGB" for im in images) else "L"
    array = np.stack([np.asarray(im.convert(mode), dtype=np.uint8) for im in images])
    return array, (None if labels is None else np.asarray(labels))
