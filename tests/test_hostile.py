"""Hostile use, case by case (issue 14's catalogue): interrupts, dead-end run folders, two writers, the file
system, broken files and bad values. Each case ends in exit 0 with the right result, one ``error:`` line with
exit code 2, or (Ctrl-C) exit code 130 with a message that says how to go on; never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch

from conftest import expect_error, one_thread
from vaekit.cli import main
from vaekit.train.checkpoint import RunFolder

FAST = ["--epochs", "2", "--quiet", "--hidden", "32", "--latent-dim", "3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small finished run on the embedded digits."""
    out = tmp_path_factory.mktemp("hostile") / "run"
    with one_thread():
        assert main(["train", "--out", str(out), *FAST]) == 0
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_error(err: str) -> str:
    """The single ``error:`` line of a failed command's stderr (log lines above it are allowed)."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


# a real process, to send it signals -------------------------------------------------------------------------
def start(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "vaekit", *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended early: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.05)


def epochs_done(folder: Path) -> int:
    file = folder / RunFolder.METRICS
    return len(file.read_text().splitlines()) if file.is_file() else 0


# 1. Ctrl-C ---------------------------------------------------------------------------------------------------
@pytest.mark.slow  # real processes and signals: CI runs it with -m slow
def test_ctrl_c_during_training_exits_130_says_the_epoch_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    proc = start("train", "--out", str(out), "--epochs", "300", "--hidden", "32", cwd=tmp_path)
    wait_for(lambda: epochs_done(out) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    line = one_error(err)
    done = epochs_done(out)
    assert f"interrupted after epoch {done} of 300" in line and f"--resume --out {out}" in line, line
    assert not (out / ".lock").exists(), "the lock goes with the process"
    with one_thread():
        assert main(["train", "--resume", "--out", str(out), "--epochs", str(done + 1), "--quiet"]) == 0
    assert epochs_done(out) == done + 1


@pytest.mark.slow  # real processes and signals: CI runs it with -m slow
def test_ctrl_c_during_evaluate_exits_130_and_writes_nothing(run, tmp_path):
    figures = tmp_path / "figures.json"
    proc = start("evaluate", str(run), "--k", "200000", "--json", str(figures), cwd=tmp_path)
    err = interrupt_when_logged(proc, "evaluating")
    assert proc.returncode == 130, err
    assert "interrupted" in one_error(err)
    assert not figures.exists()


def interrupt_when_logged(proc: subprocess.Popen, text: str) -> str:
    """Send Ctrl-C once ``text`` appears on the process's stderr; returns the rest of its stderr."""
    seen: list[str] = []

    def logged() -> bool:
        seen.append(proc.stderr.readline())
        return text in seen[-1]

    watchdog = threading.Timer(120, proc.kill)  # readline blocks: a message that never comes must not hang
    watchdog.start()
    try:
        wait_for(logged, proc)
    finally:
        watchdog.cancel()
    time.sleep(0.5)  # into the training itself
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)[1]


@pytest.mark.slow  # real processes and signals: CI runs it with -m slow
def test_ctrl_c_during_anomaly_fit_exits_130_and_the_same_command_then_works(tmp_path):
    out = tmp_path / "detector"
    command = ["anomaly", "fit", "--data", "digits", "--out", str(out), "--k", "5", "--hidden", "16"]
    proc = start(*command, "--epochs", "100000", "--patience", "100000", cwd=tmp_path)
    err = interrupt_when_logged(proc, "training on")
    assert proc.returncode == 130, err
    assert "interrupted while fitting the detector" in one_error(err)
    assert not out.exists(), "a half-fitted detector is not kept"
    with one_thread():
        assert main([*command, "--epochs", "2"]) == 0


@pytest.mark.slow  # real processes and signals: CI runs it with -m slow
def test_ctrl_c_during_impute_exits_130_and_writes_nothing(tmp_path):
    output = tmp_path / "filled.csv"
    proc = start("impute", "--data", "digits", "--remove", "0.1", "-o", str(output), "--epochs", "100000", cwd=tmp_path)
    err = interrupt_when_logged(proc, "digits")
    assert proc.returncode == 130, err
    line = one_error(err)
    assert line.startswith("error: interrupted") and "nothing was written" in line, line
    assert not output.exists()


class InterruptAt:
    """A trainer callback that presses Ctrl-C when epoch ``epoch`` starts."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_start(self, trainer, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupted_training_says_how_far_it_got_and_resumes(tmp_path):
    import vaekit
    from vaekit.errors import Interrupted

    out, config = tmp_path / "run", {"train": {"epochs": 3, "report": False}, "model": {"hidden": [16]}}
    with one_thread(), pytest.raises(Interrupted, match=r"after epoch 1 of 3 \(continue with vaekit train --resume"):
        vaekit.train(config, out=out, callbacks=[InterruptAt(2)])
    assert epochs_done(out) == 1 and not (out / ".lock").exists()
    with one_thread():
        assert vaekit.train(out=out, resume=True).summary["epochs_run"] == 3


def test_ctrl_c_inside_any_command_exits_130_with_one_line(monkeypatch, tmp_path, capsys):
    import vaekit
    from vaekit.apps import anomaly_files

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vaekit, "train", interrupted)
    monkeypatch.setattr(anomaly_files, "fit_detector_on", interrupted)
    for argv in (
        ["train", "--out", str(tmp_path / "r")],
        ["anomaly", "fit", "--data", "digits", "--out", str(tmp_path / "d")],
    ):
        assert main(argv) == 130
        assert one_error(capsys.readouterr().err).startswith("error: interrupted")


@pytest.fixture
def sigint_handler():
    """Set SIGINT's handler for a test (a test runner's worker process may ignore SIGINT) and restore it."""
    before = signal.getsignal(signal.SIGINT)
    yield lambda handler: signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGINT, before)


def test_an_interrupt_between_files_of_a_checkpoint_waits_for_the_last_one(sigint_handler):
    from vaekit.utils import interrupts_deferred

    sigint_handler(signal.default_int_handler)  # Python's own: Ctrl-C raises KeyboardInterrupt
    written = []
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        written.append("after the signal")
    assert written == ["after the signal"]


def test_a_process_that_ignores_interrupts_still_ignores_them_after_a_deferred_block(sigint_handler):
    from vaekit.utils import interrupts_deferred

    sigint_handler(signal.SIG_IGN)  # e.g. started in the background by a shell, or a pytest-xdist worker
    with interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


# 2. dead-end run folders -------------------------------------------------------------------------------------
def test_divergence_in_the_first_epoch_claims_no_checkpoint_and_resume_starts_again(tmp_path, capsys, caplog):
    out, config = tmp_path / "run", tmp_path / "diverge.toml"
    config.write_text("[train]\nmax_bad_steps = 2\n")
    with one_thread():
        expect_error(
            capsys,
            ["train", "--out", str(out), "--lr", "1e12", "--config", str(config), *FAST],
            "no epoch completed, so there is no checkpoint",
        )
        assert main(["train", "--resume", "--out", str(out), "--lr", "1e-3", *FAST]) == 0
    assert "starting it again from the beginning" in caplog.text
    assert json.loads((out / "config.json").read_text())["run"]["train"]["lr"] == 1e-3
    assert epochs_done(out) == 2


def test_a_run_killed_in_its_first_epoch_is_restarted_by_resume(run, tmp_path, capsys):
    out = tmp_path / "killed"
    out.mkdir()
    shutil.copy(run / "config.json", out)  # what kill -9 leaves before the first checkpoint
    expect_error(capsys, ["train", "--out", str(out), *FAST], "already exists (use --resume")
    with one_thread():
        assert main(["train", "--resume", "--out", str(out), *FAST]) == 0
    assert epochs_done(out) == 2 and (out / "model.safetensors").is_file()


def test_resume_of_a_folder_that_is_no_run_still_refuses(tmp_path, capsys):
    expect_error(capsys, ["train", "--resume", "--out", str(tmp_path / "absent")], "does not exist")


# 3. two writers ----------------------------------------------------------------------------------------------
@pytest.mark.slow  # real processes and signals: CI runs it with -m slow
def test_a_second_writer_is_refused_while_the_first_runs_and_a_dead_holder_leaves_no_lock(tmp_path, capsys):
    out = tmp_path / "run"
    first = start("train", "--out", str(out), "--epochs", "300", "--hidden", "32", cwd=tmp_path)
    try:
        wait_for(lambda: epochs_done(out) >= 1, first)
        config = (out / "config.json").read_bytes()
        for argv in (["train", "--out", str(out), *FAST], ["train", "--resume", "--out", str(out), "--quiet"]):
            expect_error(capsys, argv, f"run folder {out} is in use by process {first.pid}")
        assert (out / "config.json").read_bytes() == config
    finally:
        first.kill()  # kill -9: the lock file stays, but no process holds its lock
        first.communicate()
    assert (out / ".lock").read_text().strip() == str(first.pid)
    done = epochs_done(out)
    with one_thread():
        assert main(["train", "--resume", "--out", str(out), "--epochs", str(done + 1), "--quiet"]) == 0


def test_the_lock_refuses_a_second_holder_in_the_same_process(tmp_path):
    from vaekit.errors import RunFolderError
    from vaekit.train.lock import FolderLock

    with FolderLock(tmp_path), pytest.raises(RunFolderError, match=f"in use by process {os.getpid()}"):
        FolderLock(tmp_path).acquire()
    with FolderLock(tmp_path):  # released, so free again
        pass
    assert not (tmp_path / ".lock").exists()


# the file system ---------------------------------------------------------------------------------------------
def test_out_that_is_a_file_and_output_that_is_a_folder(run, tmp_path, capsys):
    file, folder = tmp_path / "taken", tmp_path / "samples.png"
    file.write_text("mine")
    folder.mkdir()
    expect_error(capsys, ["train", "--out", str(file), *FAST], "is a file, not a folder")
    assert file.read_text() == "mine"
    expect_error(capsys, ["sample", str(run), "-o", str(folder)], "give a file name, not a folder")
    assert folder.is_dir() and not list(folder.iterdir())


@contextlib.contextmanager
def mounted_tmpfs(where: Path, options: str):
    """A tmpfs at ``where`` (root only); skips where it cannot be mounted."""
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextlib.contextmanager
def read_only_folder(tmp_path: Path):
    """A folder no one can write to: a read-only tmpfs as root (root ignores permission bits), else mode 0555."""
    if os.geteuid() == 0:
        with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as where:
            yield where
        return
    where = tmp_path / "ro"
    where.mkdir(mode=0o555)
    try:
        yield where
    finally:
        where.chmod(0o755)


def test_a_read_only_folder_gives_one_error_line_for_every_command_that_writes(run, tmp_path, capsys):
    with read_only_folder(tmp_path) as ro, one_thread():
        for argv in (
            ["train", "--out", str(ro / "run"), *FAST],
            ["sample", str(run), "-o", str(ro / "samples.png")],
            ["evaluate", str(run), "--k", "5", "--limit", "20", "--json", str(ro / "figures.json")],
            ["report", str(run), "-o", str(ro / "report.html")],
            [
                "anomaly",
                "fit",
                "--data",
                "digits",
                "--out",
                str(ro / "detector"),
                "--epochs",
                "1",
                "--k",
                "2",
                "--hidden",
                "8",
            ],
            [
                "impute",
                "--data",
                "digits",
                "--remove",
                "0.1",
                "-o",
                str(ro / "filled.csv"),
                "--epochs",
                "1",
                "--hidden",
                "8",
                "--k",
                "2",
            ],
        ):
            code = main(argv)
            line = one_error(capsys.readouterr().err)
            assert code == 2 and str(ro) in line, (argv, line)
            assert "read-only" in line or "permission" in line.lower(), line
        assert not list(ro.iterdir())


def test_a_full_disk_fails_cleanly_and_the_run_restarts_once_there_is_room(tmp_path, capsys):
    with mounted_tmpfs(tmp_path / "disk", "size=48k") as disk, one_thread():
        out = disk / "run"
        code = main(["train", "--out", str(out), *FAST])
        line = one_error(capsys.readouterr().err)
        assert code == 2 and "No space left on device" in line and "--resume" in line, line
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "no temporary file is left"
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        assert main(["train", "--resume", "--out", str(out), *FAST]) == 0
        assert epochs_done(out) == 2


def test_written_files_keep_the_mode_of_the_file_they_replace_else_the_umask(run, tmp_path):
    fresh, kept = tmp_path / "fresh.png", tmp_path / "kept.png"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    umask = os.umask(0o022)
    try:
        assert main(["sample", str(run), "-o", str(fresh)]) == 0
        assert main(["sample", str(run), "-o", str(kept)]) == 0
    finally:
        os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o644
    assert kept.stat().st_mode & 0o777 == 0o640


# broken files and bad values ---------------------------------------------------------------------------------
def test_nan_weights_are_refused_at_sample_and_evaluate(run, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    folder = RunFolder(broken)
    state = folder.load_model_state()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = torch.full_like(state[name], float("nan"))
    folder.save_model(state)
    for argv in (["sample", str(broken), "-o", str(tmp_path / "x.png")], ["evaluate", str(broken), "--k", "5"]):
        expect_error(capsys, argv, "hold NaN or inf values")
    assert not (tmp_path / "x.png").exists()


def test_a_broken_line_in_metrics_is_skipped_with_a_warning(run, tmp_path, caplog):
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    lines = (damaged / "metrics.jsonl").read_text().splitlines()
    (damaged / "metrics.jsonl").write_text("\n".join([lines[0], '{"epoch": 2, "train/lo', *lines[1:]]) + "\n")
    assert main(["report", str(damaged), "-o", str(tmp_path / "report.html")]) == 0
    assert "skipped line 2 of" in caplog.text
    assert (tmp_path / "report.html").stat().st_size > 0


@pytest.mark.parametrize("flag", ["--lr", "--beta", "--weight-decay"])
def test_infinite_and_nan_option_values_are_refused(tmp_path, capsys, flag):
    for value in ("inf", "nan"):
        expect_error(capsys, ["train", "--out", str(tmp_path / "run"), flag, value], "finite number")
    assert not (tmp_path / "run").exists()


# what a user notices -----------------------------------------------------------------------------------------
def test_train_help_names_the_presets_and_a_run_prints_its_settings(tmp_path, caplog):
    from typer.testing import CliRunner

    from vaekit.cli.common import app

    help_text = " ".join(CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output.split())
    assert "digits: --likelihood gaussian, --latent-dim 8, --prior mog, --epochs 300" in help_text
    assert "[default: 100; digits: 300; melodies data: 50]" in help_text
    caplog.set_level(logging.INFO)
    with one_thread():
        assert main(["train", "--out", str(tmp_path / "run"), "--epochs", "1", "--hidden", "32"]) == 0
    err = caplog.text
    assert "settings (* from the preset of digits" in err
    assert "latent_dim=8*" in err and "epochs=1 " in err


def test_the_progress_bar_follows_the_run_and_reads_the_loss_without_a_warning(tmp_path):
    import vaekit
    from vaekit.cli.common import ProgressBar

    bar = ProgressBar(every=1)
    bar.console.file = open(os.devnull, "w")  # noqa: SIM115
    with warnings.catch_warnings(), one_thread():
        warnings.simplefilter("error")
        vaekit.train({"train": {"epochs": 2, "report": False}, "model": {"hidden": [16]}}, callbacks=[bar])
    run_task = bar.progress.tasks[0]
    assert run_task.completed == 2 and run_task.total == 2 and "best" in run_task.fields["note"]


def test_evaluate_limit_takes_a_seeded_random_subset_and_lists_it(run, tmp_path, capsys):
    figures = [tmp_path / "a.json", tmp_path / "b.json"]
    for file in figures:
        assert main(["evaluate", str(run), "--k", "5", "--limit", "30", "--json", str(file)]) == 0
    a, b = (json.loads(f.read_text()) for f in figures)
    assert a["subset"] == b["subset"] and a["nll"] == b["nll"]
    index = a["subset"]["index"]
    assert len(index) == 30 == a["n_examples"] and index == sorted(index) and index != list(range(30))
    out = capsys.readouterr().out
    assert "a density: negative where p(x) > 1" in out  # digits train with a Gaussian likelihood
