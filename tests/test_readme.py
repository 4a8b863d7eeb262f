"""The README never lies: its Python example and its commands run as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared_data_dir

README = (ROOT / "README.md").read_text()
NEEDS_DATA = {"mnist", "fashion-mnist", "binarized-mnist"}


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def _commands() -> list[str]:
    """Every ``vaekit ...`` command in the README's bash blocks (the part after ``&&`` for install lines)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            part = line.split("&&")[-1].split("#")[0].strip()
            if part.startswith("vaekit "):
                out.append(part)
    return out


def test_readme_has_the_two_quickstart_commands():
    quick = re.search(r"## Quickstart.*?```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(quick) == 2
    assert quick[0].startswith("pip install torch==2.13.0") and "vaekit train" in quick[0]
    assert quick[1].endswith("python -m pytest")
    assert quick[1] in (ROOT / ".ci" / "run").read_text(), ".ci/run must call the README's test command"


def test_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for block in _python_blocks():
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "runs" / "python-digits" / "model.safetensors").is_file()


def _needs_data(command: str) -> bool:
    return any(a in NEEDS_DATA for a in shlex.split(command))


def _run_in_order(commands: list[str], cwd, data) -> None:
    for command in commands:
        args = shlex.split(command)
        env_args = ["--data-dir", str(data)] if data is not None and args[1] in ("train", "evaluate") else []
        proc = subprocess.run(
            [sys.executable, "-m", "vaekit", *args[1:], *env_args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (command, proc.stderr[-2000:])


def _on_the_quickstart_run(command: str) -> bool:
    """Whether ``command`` only uses the quickstart's ``runs/digits`` (or no run at all and no training)."""
    args = shlex.split(command)
    if args[1] == "train":
        return args[1:] == ["train", "--out", "runs/digits"]
    runs = [a for a in args if a.startswith("runs/")]
    if not runs:
        return args[1] == "datasets"
    return all(a == "runs/digits" or a.startswith("runs/digits/") for a in runs)


def test_commands_run_in_order(tmp_path):
    """The quickstart's README commands on digits, in order, as a user types them (the rest: with -m slow)."""
    commands = [c for c in _commands() if not _needs_data(c) and _on_the_quickstart_run(c)]
    assert len(commands) >= 6
    _run_in_order(commands, tmp_path, shared_data_dir())
    for name in ("samples.png", "reconstructions.png", "loss.png"):
        assert (tmp_path / "runs" / "digits" / name).is_file()
    for made in ("samples.png", "reconstructions.png", "latents.csv"):
        assert (tmp_path / made).is_file()


@pytest.mark.slow
def test_the_other_commands_on_built_in_data_run_in_order(tmp_path):
    """The README's other commands on built-in data (conv, conditional, beta-TC, anomaly, imputation: each
    trains its own model, a minute and a half in all, so CI runs them with -m slow)."""
    commands = [c for c in _commands() if not _needs_data(c) and not _on_the_quickstart_run(c)]
    assert any(c.startswith("vaekit anomaly fit") for c in commands)
    _run_in_order(commands, tmp_path, shared_data_dir())


@pytest.mark.slow
def test_commands_on_real_data_sets_run_in_order(tmp_path):
    """The README's commands on MNIST and binarized MNIST (minutes of training: CI runs them with -m slow)."""
    data = shared_data_dir()
    if data is None:
        pytest.skip("the real data sets are not on this machine (set VAEKIT_DATA_DIR)")
    commands = [c for c in _commands() if _needs_data(c)]
    assert commands
    _run_in_order(commands, tmp_path, data)
