"""torch.compile of the model's trunks: what is compiled, that nothing about the model's state changes, and
(slow: compiling takes seconds per graph) that compiled and eager training give the same losses."""

from __future__ import annotations

import pytest
import torch

import vaekit
from vaekit.model import compile_trunks, should_compile


def test_compile_trunks_names_the_tensor_parts_and_keeps_the_state():
    vae = vaekit.build_vae((1, 8, 8), hidden=(16,), latent_dim=3)
    keys = list(vae.state_dict())
    assert compile_trunks(vae) == ["encoder.trunk", "decoder.trunk"]
    assert list(vae.state_dict()) == keys
    assert compile_trunks(vae) == []  # compiling twice changes nothing

    ladder = vaekit.build_vae((6,), hidden=(8,), ladder=(4,), latent_dim=2)
    names = compile_trunks(ladder)
    assert {"up.0", "up.1", "posterior.0", "posterior.1", "down.0", "decoder.trunk"} <= set(names)
    assert not any(n.startswith("prior") for n in names)  # distributions and priors stay eager


def test_compile_is_on_by_default_only_on_cuda():
    assert should_compile(None, torch.device("cuda"))
    assert not should_compile(None, torch.device("cpu"))
    assert should_compile(True, torch.device("cpu")) and not should_compile(False, torch.device("cuda"))


@pytest.mark.slow
def test_compiled_and_eager_training_give_the_same_losses():
    torch.manual_seed(0)
    x = (torch.rand(96, 1, 8, 8) < 0.4).float()

    def losses(compiled: bool) -> list[float]:
        torch.manual_seed(1)
        vae = vaekit.build_vae((1, 8, 8), hidden=(32,), latent_dim=4)
        if compiled:
            assert compile_trunks(vae)
        trainer = vaekit.Trainer(
            vae, lambda m, b, step: vaekit.elbo(m, b), epochs=3, batch_size=32, seed=2, threads=1, patience=None
        )
        trainer.fit(x)
        return [r["train/loss"] for r in trainer.history] + [trainer.evaluate(x)["loss"]]

    eager, compiled = losses(False), losses(True)
    # the same draws and updates; only the order of floating-point operations inside fused kernels differs
    assert compiled == pytest.approx(eager, rel=1e-4)
    assert eager[0] != pytest.approx(eager[-1], rel=1e-3)  # training moved the loss: the comparison has teeth


@pytest.mark.slow
def test_compiled_and_eager_evaluation_give_the_same_estimate():
    torch.manual_seed(0)
    x = (torch.rand(10, 1, 8, 8) < 0.4).float()
    vae = vaekit.build_vae((1, 8, 8), hidden=(32,), latent_dim=4).eval()
    eager = vaekit.evaluate_model(vae, x, k=300, max_draws=1024, seed=0)
    compile_trunks(vae)
    compiled = vaekit.evaluate_model(vae, x, k=300, max_draws=1024, seed=0)
    assert compiled.nll == pytest.approx(eager.nll, rel=1e-5)
