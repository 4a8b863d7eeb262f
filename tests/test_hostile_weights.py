"""Hostile files: weights and trainer state with flipped bytes are refused (unless --no-verify), old run folders
without digests still load, a kill between the two writes of a weight file leaves a folder that verifies, and
data sets are checked on their decompressed content (a recompressed copy is the same data, a changed byte is not).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
import vaekit.data.registry as reg
from tests.conftest import expect_error, one_thread, shared_data_dir
from tests.test_data import http_root  # noqa: F401  (the local mirror fixture)
from vaekit.apps.anomaly import fit_detector
from vaekit.cli import main
from vaekit.data import load_dataset
from vaekit.data.download import FileSpec
from vaekit.data.idx import write_idx
from vaekit.errors import DataError, RunFolderError
from vaekit.train import checkpoint
from vaekit.train.checkpoint import RunFolder

TINY = ["--epochs", "1", "--quiet", "--hidden", "16", "--latent-dim", "2", "--no-report"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    with one_thread():
        assert main(["train", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture
def run_copy(trained, tmp_path):
    """A copy of the trained run that a test may damage."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def flip_safetensors(path: Path) -> None:
    """Flip high mantissa bits of a few float32 weights: still finite, plausible-looking, wrong."""
    data = bytearray(path.read_bytes())
    start = 8 + struct.unpack("<Q", data[:8])[0]
    for k in range(start + 64, min(len(data), start + 64 + 4 * 32), 4):
        data[k + 2] ^= 0x7F
    path.write_bytes(bytes(data))


def flip_zip_tensor(path: Path) -> None:
    """Flip bytes inside the first stored tensor of a ``torch.save`` file (torch.load does not notice)."""
    data = bytearray(path.read_bytes())
    info = next(i for i in zipfile.ZipFile(path).infolist() if "/data/" in i.filename and i.file_size >= 256)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    for k in range(start, start + 256, 4):
        data[k + 2] ^= 0x7F
    path.write_bytes(bytes(data))


def test_flipped_weights_are_refused_with_one_line_and_nothing_written(run_copy, tmp_path, capsys):
    flip_safetensors(run_copy / "model.safetensors")
    out = tmp_path / "x.png"
    expect_error(capsys, ["sample", str(run_copy), "-o", str(out)], "model.safetensors")
    assert not out.exists()
    code = main(["sample", str(run_copy), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (
        f"error: model.safetensors in {run_copy} does not match its recorded sha256 (the file was changed or "
        "damaged; retrain, or pass --no-verify to load it anyway)"
    )
    with pytest.raises(RunFolderError, match="does not match its recorded sha256"):
        vaekit.load(run_copy)
    with pytest.raises(RunFolderError, match="does not match its recorded sha256"):
        vaekit.Run.open(run_copy).model()


def test_no_verify_loads_changed_weights(run_copy, tmp_path, capsys):
    flip_safetensors(run_copy / "model.safetensors")
    out = tmp_path / "x.npy"
    assert main(["sample", str(run_copy), "-n", "4", "--no-verify", "-o", str(out)]) == 0
    assert np.load(out).shape == (4, 1, 8, 8)
    changed = vaekit.load(run_copy, verify=False)
    same_file = vaekit.Run.open(run_copy, verify=False).model()
    for a, b in zip(changed.state_dict().values(), same_file.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_commands_that_open_a_run_take_no_verify(run_copy, tmp_path, capsys):
    flip_safetensors(run_copy / "model.safetensors")
    expect_error(capsys, ["encode", str(run_copy), "-o", str(tmp_path / "z.npy")], "recorded sha256")
    args = ["evaluate", str(run_copy), "--k", "2", "--limit", "5", "--json", str(tmp_path / "e.json")]
    expect_error(capsys, args, "recorded sha256")
    assert not (tmp_path / "e.json").exists()
    assert main([*args, "--no-verify"]) == 0
    assert main(["encode", str(run_copy), "--no-verify", "-o", str(tmp_path / "z.npy")]) == 0


def test_run_folders_record_digests_and_old_ones_still_load(run_copy, tmp_path, caplog, capsys):
    record = json.loads((run_copy / "checksums.json").read_text())
    assert set(record) == {"model.safetensors", "trainer_state.pt"}
    assert all(len(v) == 1 for v in record.values())  # once written, only the current digest is accepted
    saved = vaekit.save(vaekit.load(run_copy), tmp_path / "saved")
    assert json.loads((saved / "checksums.json").read_text())["model.safetensors"] == record["model.safetensors"]

    (run_copy / "checksums.json").unlink()  # as written before digests existed
    with caplog.at_level(logging.INFO, logger="vaekit.train.checkpoint"):
        vaekit.load(run_copy)
    assert any("not verified" in r.getMessage() for r in caplog.records)
    assert main(["sample", str(run_copy), "-n", "4", "-o", str(tmp_path / "x.npy")]) == 0


def test_damaged_digest_record_is_a_clear_error(run_copy, tmp_path, capsys):
    (run_copy / "checksums.json").write_text("{not json")
    expect_error(capsys, ["sample", str(run_copy), "-o", str(tmp_path / "x.png")], "checksums.json")
    assert main(["sample", str(run_copy), "--no-verify", "-o", str(tmp_path / "x.png")]) == 0


def test_tampered_trainer_state_refuses_resume(run_copy, capsys):
    flip_zip_tensor(run_copy / "trainer_state.pt")
    before = {p.name: p.read_bytes() for p in run_copy.iterdir()}
    argv = ["train", "--out", str(run_copy), "--resume", "--epochs", "2", "--quiet"]
    expect_error(capsys, argv, "trainer_state.pt")
    assert {p.name: p.read_bytes() for p in run_copy.iterdir()} == before, "nothing in the folder changed"
    with one_thread():
        assert main([*argv, "--no-verify"]) == 0


def test_anomaly_score_verifies_the_detector(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(60, 3))
    fit_detector(x, epochs=1, hidden=(8,), k=2, trim=0.0, seed=0, out=tmp_path / "det")
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b,c", comments="")
    flip_safetensors(tmp_path / "det" / "model.safetensors")
    argv = ["anomaly", "score", str(tmp_path / "det"), "--data", str(tmp_path / "x.csv"), "-o", str(tmp_path / "s.csv")]
    expect_error(capsys, argv, "model.safetensors")
    assert not (tmp_path / "s.csv").exists()
    assert main([*argv, "--no-verify"]) == 0


@pytest.mark.parametrize("kill_after", [1, 2])
def test_a_kill_between_writes_leaves_a_folder_that_verifies(tmp_path, monkeypatch, kill_after):
    """Replacing a weight file is three atomic writes (digests [old, new], the file, digests [new]): killed
    after the first or the second, the folder holds the old or the new weights and verifies either way."""
    folder = RunFolder(tmp_path)
    old, new = {"w": torch.zeros(3)}, {"w": torch.ones(3)}
    folder.save_model(old)
    writes = []

    real_write_bytes = checkpoint.atomic_write_bytes
    real_write_text = checkpoint.atomic_write_text

    def counted(real):
        def write(*args):
            if len(writes) == kill_after:
                raise KeyboardInterrupt  # the process dies here
            writes.append(args[0])
            real(*args)

        return write

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", counted(real_write_bytes))
    monkeypatch.setattr(checkpoint, "atomic_write_text", counted(real_write_text))
    with pytest.raises(KeyboardInterrupt):
        folder.save_model(new)
    monkeypatch.undo()
    expected = old if kill_after == 1 else new
    assert torch.equal(RunFolder(tmp_path).load_model_state()["w"], expected["w"])
    folder.save_model(new)  # the next save ends with only the new digest
    assert len(folder.read_checksums()["model.safetensors"]) == 1
    (tmp_path / "model.safetensors").write_bytes(checkpoint.st_save(old))  # old bytes, put back
    with pytest.raises(RunFolderError, match="recorded sha256"):
        folder.load_model_state()


# data sets: checksums over the decompressed content ------------------------------------------------------------
IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
REAL = {"mnist": "mnist", "fashion-mnist": "fashion_mnist"}


def _real_files(name: str) -> Path:
    root = shared_data_dir()
    if root is None or not all((root / REAL[name] / f"{f}.gz").is_file() for f in IDX):
        pytest.skip(f"the {name} files are not in $VAEKIT_DATA_DIR (see ../shared/data/SOURCES.md)")
    return root


@pytest.mark.parametrize("name", list(REAL))
def test_a_recompressed_copy_is_the_same_data_and_a_changed_byte_is_not(name, tmp_path, capsys):
    root = _real_files(name)
    original = load_dataset(name, root)
    assert [len(original.splits[s]) for s in ("train", "test")] == [60000, 10000]
    counts = torch.bincount(original.labels["train"]).tolist()
    assert len(counts) == 10 and counts[0] == {"mnist": 5923, "fashion-mnist": 6000}[name]  # zeros / T-shirts

    copy = tmp_path / "recompressed" / REAL[name]
    copy.mkdir(parents=True)
    for f in IDX:  # other gzip bytes (level 1, another name and time in the header), the same content
        content = gzip.decompress((root / REAL[name] / f"{f}.gz").read_bytes())
        blob = gzip.compress(content, compresslevel=1, mtime=12345)
        assert blob != (root / REAL[name] / f"{f}.gz").read_bytes()
        (copy / f"{f}.gz").write_bytes(blob)
    again = load_dataset(name, copy.parent)
    for split in ("train", "test"):
        assert torch.equal(again.splits[split], original.splits[split])
        assert torch.equal(again.labels[split], original.labels[split])

    bad = tmp_path / "corrupt" / REAL[name]
    shutil.copytree(copy, bad)
    content = bytearray(gzip.decompress((bad / "t10k-images-idx3-ubyte.gz").read_bytes()))
    content[16 + 28 * 14 + 14] ^= 0x01  # one pixel of the first test image, in a valid gzip
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(content), compresslevel=1))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset(name, bad.parent)
    out = tmp_path / "run"
    argv = ["train", "--data", name, "--data-dir", str(bad.parent), "--out", str(out), *TINY]
    expect_error(capsys, argv, f"{REAL[name]}/t10k-images-idx3-ubyte.gz: sha256 of its decompressed content")
    assert not out.exists()


def test_a_mirror_serving_another_gzip_of_the_same_content_is_accepted(tmp_path, monkeypatch, http_root):  # noqa: F811
    """Downloads verify the decompressed content: a mirror's recompressed file is kept, a wrong one is not."""
    served, url = http_root
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 2, dtype=np.uint8),
    }
    specs = {}
    (served / "bad").mkdir()
    for f, array in arrays.items():
        content = write_idx(array)
        (served / f"{f}.gz").write_bytes(gzip.compress(content, compresslevel=1, mtime=1))
        (served / "bad" / f"{f}.gz").write_bytes(gzip.compress(content[:-1] + bytes([content[-1] ^ 1])))
        digest = hashlib.sha256(content).hexdigest()
        specs[f] = FileSpec(f"fashion_mnist/{f}.gz", digest, (f"{url}bad/{f}.gz", f"{url}{f}.gz"))
    monkeypatch.setitem(reg.FILES, "fashion-mnist", specs)
    ds = load_dataset("fashion-mnist", tmp_path / "cache")  # the first mirror's files are wrong, the second's fit
    assert torch.equal(ds.labels["train"], torch.from_numpy(arrays["train-labels-idx1-ubyte"]).long())
    for f in arrays:
        assert (tmp_path / "cache" / "fashion_mnist" / f"{f}.gz").read_bytes() == (served / f"{f}.gz").read_bytes()
