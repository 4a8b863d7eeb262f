from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """The real data sets, from $VAEKIT_DATA_DIR or ../shared/data; None when neither exists."""
    for candidate in (os.environ.get("VAEKIT_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def data_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data sets not present (set VAEKIT_DATA_DIR)")
    return d


@pytest.fixture
def linear_model():
    """A linear-Gaussian model with known exact log-likelihood: ``(w, b, noise, x, exact)``."""
    from linear_gaussian import linear_model_data

    return linear_model_data()


# under pytest-xdist each worker process gets one torch thread (two workers share the two cores)
TEST_THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2


@pytest.fixture(autouse=True)
def _small_threads():
    torch.set_num_threads(TEST_THREADS)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m vaekit ARGS`` in a real process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vaekit", *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300
    )


@contextlib.contextmanager
def one_thread():
    """Tiny models train faster on one thread, and much faster on a shared CPU (measured 5 s against 35 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def expect_error(capsys, argv: list[str], pattern: str) -> None:
    """``vaekit ARGV`` (in process) fails with exit code 2 and one ``error:`` line containing ``pattern``."""
    from vaekit.cli import main

    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert pattern in err[0], err[0]
