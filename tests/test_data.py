"""Data: IDX and amat parsing, checksums, downloads, file formats, and every bad-input case."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.data import load_dataset, resolve_data_dir
from vaekit.data import registry as reg
from vaekit.data.amat import parse_amat
from vaekit.data.download import FileSpec, fetch
from vaekit.data.idx import parse_idx, write_idx
from vaekit.errors import DataError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# IDX and amat -----------------------------------------------------------------------------------------------
def test_idx_round_trip_and_validation():
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    raw = write_idx(images)
    assert np.array_equal(parse_idx(raw, ndim=3, what="t"), images)
    with pytest.raises(DataError, match="truncated"):
        parse_idx(raw[:-7], ndim=3, what="t")
    with pytest.raises(DataError, match="bad magic"):
        parse_idx(b"\x01" + raw[1:], ndim=3, what="t")
    with pytest.raises(DataError, match="dimensions"):
        parse_idx(raw, ndim=1, what="t")
    with pytest.raises(DataError, match="longer"):
        parse_idx(raw + b"\0", ndim=3, what="t")


def test_amat_parsing():
    rows = np.array([[0, 1, 1], [1, 0, 0]], dtype=np.uint8)
    text = "".join(" ".join(map(str, r)) + "\n" for r in rows).encode()
    assert np.array_equal(parse_amat(text, n_cols=3), rows)
    with pytest.raises(DataError):
        parse_amat(text.replace(b"1 0 0", b"1 2 0"), n_cols=3)
    with pytest.raises(DataError):
        parse_amat(text[:-1], n_cols=3)


# a fake MNIST in a temporary data directory ----------------------------------------------------------------
def _fake_mnist(folder: Path, n_train: int = 12, n_test: int = 4) -> dict[str, FileSpec]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    specs = {}
    (folder / "mnist").mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        content = write_idx(array)
        (folder / "mnist" / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
        # the checksum covers the decompressed content, as for the real files
        specs[name] = FileSpec(f"mnist/{name}.gz", sha(content), (f"http://127.0.0.1:9/{name}.gz",))
    return specs


def test_registry_reads_a_verified_mnist_layout(tmp_path, monkeypatch):
    monkeypatch.setitem(reg.FILES, "mnist", _fake_mnist(tmp_path))
    ds = load_dataset("mnist", tmp_path)
    assert ds.splits["train"].shape == (12, 1, 28, 28) and ds.splits["test"].shape == (4, 1, 28, 28)
    assert ds.splits["train"].dtype == torch.float32 and 0 <= ds.splits["train"].min() <= ds.splits["train"].max() <= 1
    assert ds.labels["train"].shape == (12,)


def test_checksum_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    specs = _fake_mnist(tmp_path)
    monkeypatch.setitem(reg.FILES, "mnist", specs)
    path = tmp_path / specs["train-images-idx3-ubyte"].path
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[-1] ^= 0xFF  # a valid gzip of other content
    path.write_bytes(gzip.compress(bytes(content), mtime=0))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("mnist", tmp_path)


def test_corrupt_gzip_is_a_clear_error(tmp_path, monkeypatch):
    specs = _fake_mnist(tmp_path)
    path = tmp_path / specs["train-images-idx3-ubyte"].path
    blob = b"\x1f\x8b\x08\x00garbage-not-deflate-data" * 3
    path.write_bytes(blob)  # a corrupt archive whose checksum is "right": the gzip layer must catch it
    specs["train-images-idx3-ubyte"] = FileSpec(specs["train-images-idx3-ubyte"].path, sha(blob), ())
    monkeypatch.setitem(reg.FILES, "mnist", specs)
    with pytest.raises(DataError, match="not a valid gzip file"):
        load_dataset("mnist", tmp_path)


def test_truncated_idx_inside_a_valid_gzip_is_a_clear_error(tmp_path, monkeypatch):
    specs = _fake_mnist(tmp_path)
    path = tmp_path / specs["train-images-idx3-ubyte"].path
    content = gzip.decompress(path.read_bytes())[:-100]
    path.write_bytes(gzip.compress(content, mtime=0))
    specs["train-images-idx3-ubyte"] = FileSpec(specs["train-images-idx3-ubyte"].path, sha(content), ())
    monkeypatch.setitem(reg.FILES, "mnist", specs)
    with pytest.raises(DataError, match="truncated"):
        load_dataset("mnist", tmp_path)


def test_missing_file_without_network_says_where_to_put_it(tmp_path, monkeypatch):
    specs = _fake_mnist(tmp_path / "elsewhere")
    monkeypatch.setitem(reg.FILES, "mnist", specs)  # urls point at a closed port on 127.0.0.1
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path / "empty")
    msg = str(err.value)
    assert "could not be downloaded" in msg and str(tmp_path / "empty" / "mnist") in msg
    assert not any((tmp_path / "empty" / "mnist").glob("*")), "no partial file may be left behind"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server on 127.0.0.1 serving a folder the test fills."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_missing_files_are_downloaded_and_verified(tmp_path, monkeypatch, http_root):
    served, url = http_root
    built = _fake_mnist(served / "build")
    specs = {}
    for name, spec in built.items():
        (served / f"{name}.gz").write_bytes((served / "build" / spec.path).read_bytes())
        # first mirror is missing the file: the loader must fall through to the second
        specs[name] = FileSpec(spec.path, spec.sha256, (url + "nope/" + f"{name}.gz", url + f"{name}.gz"))
    monkeypatch.setitem(reg.FILES, "mnist", specs)
    data_dir = tmp_path / "cache"
    ds = load_dataset("mnist", data_dir)
    assert ds.splits["train"].shape == (12, 1, 28, 28)
    assert (data_dir / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_download_with_wrong_checksum_is_rejected_and_not_kept(tmp_path, http_root):
    served, url = http_root
    (served / "f.bin").write_bytes(b"hello")
    spec = FileSpec("x/f.bin", sha(b"other"), (url + "f.bin",))
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(spec, tmp_path)
    assert not (tmp_path / "x" / "f.bin").exists()
    assert list((tmp_path / "x").iterdir()) == []


def test_raw_download_is_stored_gzipped_and_verified_on_content(tmp_path, http_root):
    served, url = http_root
    text = b"0 1\n1 1\n"
    (served / "t.amat").write_bytes(text)
    spec = FileSpec("b/t.amat.gz", sha(text), (url + "t.amat",), gzip_after_download=True)
    assert fetch(spec, tmp_path) == text
    path = tmp_path / spec.path
    assert gzip.decompress(path.read_bytes()) == text
    (served / "t.amat").unlink()
    assert fetch(spec, tmp_path) == text  # read and verified again from disk, not downloaded again


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("VAEKIT_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("VAEKIT_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "cache" / "vaekit"


def test_unknown_name():
    with pytest.raises(DataError, match="unknown data set 'mnsit'"):
        load_dataset("mnsit")


# files -------------------------------------------------------------------------------------------------------
def test_digits_is_embedded():
    ds = load_dataset("digits")
    assert ds.x_shape == (1, 8, 8) and len(ds.splits["train"]) == 1437 and len(ds.splits["test"]) == 360
    assert float(ds.splits["train"].max()) == 1.0


def test_npy_npz_csv_and_image_folder(tmp_path):
    from PIL import Image

    a = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    np.save(tmp_path / "t.npy", a)
    assert torch.equal(load_dataset(str(tmp_path / "t.npy")).splits["train"], torch.from_numpy(a))
    imgs = np.random.default_rng(0).integers(0, 256, (6, 5, 7), dtype=np.uint8)
    np.savez(tmp_path / "i.npz", x=imgs, y=np.arange(6))
    ds = load_dataset(str(tmp_path / "i.npz"))
    assert ds.x_shape == (1, 5, 7) and ds.labels["train"].tolist() == list(range(6))
    torch.testing.assert_close(ds.splits["train"][:, 0] * 255, torch.from_numpy(imgs).float())
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3.5,-4e-1\n")
    torch.testing.assert_close(
        load_dataset(str(tmp_path / "t.csv")).splits["train"], torch.tensor([[1.0, 2.0], [3.5, -0.4]])
    )
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(imgs[i]).save(folder / f"{i}.png")
    ds = load_dataset(str(folder))
    assert ds.x_shape == (1, 5, 7)
    torch.testing.assert_close(ds.splits["train"][:, 0] * 255, torch.from_numpy(imgs[:3]).float())


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("text.csv", "a,b\n1,2\n3,hello\n", "line 3, column 'b': 'hello' is not a number"),
        ("ragged.csv", "a,b\n1,2\n3\n", "line 3 has 1 cells, the header has 2"),
        ("empty.csv", "", "no data rows"),
        ("nan.csv", "a,b\n1,nan\n", "NaN or inf"),
        ("inf.csv", "a,b\n1,2\ninf,3\n", "NaN or inf .first in row 1"),
    ],
)
def test_bad_csv(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        load_dataset(str(tmp_path / name))


def test_bad_files(tmp_path):
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_dataset(str(tmp_path / "broken.npy"))
    np.save(tmp_path / "one_d.npy", np.zeros(5))
    with pytest.raises(DataError, match="shape"):
        load_dataset(str(tmp_path / "one_d.npy"))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "missing.npy"))
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match="unknown file type"):
        load_dataset(str(tmp_path / "x.txt"))


# the real data sets (skipped when absent) -------------------------------------------------------------------
def test_real_mnist(data_dir):
    ds = load_dataset("mnist", data_dir)
    assert ds.splits["train"].shape == (60000, 1, 28, 28) and ds.splits["test"].shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.labels["train"]).tolist()[0] == 5923


def test_real_binarized_mnist(data_dir):
    ds = load_dataset("binarized-mnist", data_dir)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 50000, "val": 10000, "test": 10000}
    assert set(torch.unique(ds.splits["test"]).tolist()) == {0.0, 1.0}
