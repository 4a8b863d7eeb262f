"""Latent-space exploration: interpolation paths, traversals and the latent map, in Python and from the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from tests.conftest import one_thread
from vaekit.apps.latent import interpolate, latent_map, latent_path, traverse
from vaekit.cli import main

FAST = ["--epochs", "3", "--quiet", "--hidden", "32", "--latent-dim", "3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("latent") / "run"
    with one_thread():
        assert main(["train", "--out", str(out), *FAST]) == 0
    return out


@pytest.fixture(scope="module")
def vae_and_data(trained):
    return vaekit.load(trained), vaekit.load_dataset("digits")


def test_lerp_and_slerp_paths():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    for method in ("lerp", "slerp"):
        path = latent_path(z0, z1, 7, method)
        assert path.shape == (4, 7, 6)
        torch.testing.assert_close(path[:, 0], z0)
        torch.testing.assert_close(path[:, -1], z1)
    torch.testing.assert_close(latent_path(z0, z1, 3, "lerp")[:, 1], (z0 + z1) / 2)
    # slerp between two codes of the same norm stays on that sphere; lerp cuts inside it
    z1 = z1 / z1.norm(dim=-1, keepdim=True) * z0.norm(dim=-1, keepdim=True)
    norms = latent_path(z0, z1, 9, "slerp").norm(dim=-1)
    torch.testing.assert_close(norms, z0.norm(dim=-1, keepdim=True).expand_as(norms), rtol=1e-4, atol=1e-4)
    assert (latent_path(z0, z1, 9, "lerp").norm(dim=-1)[:, 4] < z0.norm(dim=-1) - 1e-3).all()
    torch.testing.assert_close(latent_path(z0, 2 * z0, 5, "slerp"), latent_path(z0, 2 * z0, 5, "lerp"))


def test_interpolation_ends_at_the_reconstructions(vae_and_data):
    vae, data = vae_and_data
    x = data.splits["test"]
    result = interpolate(vae, x[:3], x[3:6], steps=5)
    assert result.decoded.shape == (3, 5, 1, 8, 8) and result.z.shape == (3, 5, 3)
    np.testing.assert_allclose(result.decoded[:, 0], vaekit.reconstruct(vae, x[:3]), atol=1e-5)
    np.testing.assert_allclose(result.decoded[:, -1], vaekit.reconstruct(vae, x[3:6]), atol=1e-5)
    np.testing.assert_allclose(result.inputs[:, 0], x[:3].numpy())
    np.testing.assert_allclose(result.z[:, 0], vaekit.encode(vae, x[:3]), atol=1e-6)


def test_traversal_varies_one_dimension_per_row_in_kl_order(vae_and_data):
    vae, data = vae_and_data
    x = data.splits["test"][:200]
    result = traverse(vae, x, span=2.0, steps=5, base_index=7)
    assert result.decoded.shape == (3, 5, 1, 8, 8)
    assert sorted(result.dims) == [0, 1, 2]
    assert list(result.kl[result.dims]) == sorted(result.kl, reverse=True)
    np.testing.assert_allclose(result.base, vaekit.encode(vae, x[7:8])[0], atol=1e-6)
    for row, j in enumerate(result.dims):
        z = np.repeat(result.base[None], 5, 0)
        z[:, j] = np.linspace(-2, 2, 5)
        np.testing.assert_allclose(result.decoded[row], vaekit.decode(vae, z), atol=1e-5)
    assert traverse(vae, x, dims="2,0", steps=3).dims == [2, 0]
    with pytest.raises(vaekit.VaekitError, match="outside"):
        traverse(vae, x, dims="5")


def test_latent_map_projects_onto_principal_components(vae_and_data):
    vae, data = vae_and_data
    x, y = data.splits["test"], data.labels["test"]
    result = latent_map(vae, x, y, grid=4)
    assert result.coords.shape == (360, 2) and result.manifold.shape == (4, 4, 1, 8, 8)
    np.testing.assert_allclose(result.axes @ result.axes.T, np.eye(2), atol=1e-5)
    mu = vaekit.encode(vae, x)
    np.testing.assert_allclose(result.coords, (mu - mu.mean(0)) @ result.axes.T, atol=1e-4)
    assert 0 < result.explained.sum() <= 1 + 1e-6 and result.explained[0] >= result.explained[1]
    # a lattice point decodes the plane point plus the off-plane part of the nearest data point's mean,
    # which the plane's axes do not see: the point still projects onto its (u, v)
    u, v = result.grid_u[0], result.grid_v[0]
    nearest = np.argmin(((result.coords - [u, v]) ** 2).sum(1))
    off_plane = mu[nearest] - mu.mean(0) - result.coords[nearest] @ result.axes
    np.testing.assert_allclose(off_plane @ result.axes.T, 0, atol=1e-4)
    z = result.center + u * result.axes[0] + v * result.axes[1] + off_plane
    np.testing.assert_allclose((z - result.center) @ result.axes.T, [u, v], atol=1e-4)
    np.testing.assert_allclose(result.manifold[0, 0], vaekit.decode(vae, z[None])[0], atol=1e-4)


def test_latent_map_of_a_two_dimensional_latent_is_the_latent_itself(tmp_path):
    x = vaekit.load_dataset("digits").splits["test"][:100]
    vae = vaekit.build_vae((1, 8, 8), hidden=[16], latent_dim=2, likelihood="gaussian")
    result = latent_map(vae, x, grid=3)
    np.testing.assert_allclose(result.coords, vaekit.encode(vae, x), atol=1e-5)


def test_interpolate_traverse_latent_map_commands(trained, tmp_path, capsys):
    for args, name in (
        (["interpolate", str(trained), "--pairs", "3", "--steps", "6"], "i.png"),
        (["interpolate", str(trained), "--method", "slerp"], "i.gif"),
        (["interpolate", str(trained), "--pairs", "2", "--steps", "4"], "i.npy"),
        (["traverse", str(trained), "--dims", "all", "--range", "2", "--steps", "5"], "t.png"),
        (["traverse", str(trained), "--dims", "1,0"], "t.npy"),
        (["latent-map", str(trained)], "m.png"),
        (["latent-map", str(trained), "--grid", "5"], "m.npz"),
    ):
        assert main([*args, "-o", str(tmp_path / name)]) == 0, (args, capsys.readouterr().err)
    assert np.load(tmp_path / "i.npy").shape == (2, 4, 1, 8, 8)
    assert np.load(tmp_path / "t.npy").shape == (2, 9, 1, 8, 8)
    with Image.open(tmp_path / "i.gif") as gif:
        assert gif.n_frames == 2 * (10 + 2) - 2  # real input, path, real input, and back
    with Image.open(tmp_path / "i.png") as png:  # 3 rows of 6 + 2 tiles
        assert png.width > png.height * 2
    maps = np.load(tmp_path / "m.npz")
    assert maps["coords"].shape == (360, 2) and maps["labels"].shape == (360,) and maps["manifold"].shape[:2] == (5, 5)


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["interpolate", "{run}", "--method", "cubic", "-o", "{tmp}/i.png"], "unknown interpolation method"),
        (["interpolate", "{run}", "--steps", "1", "-o", "{tmp}/i.png"], "at least 2 steps"),
        (["interpolate", "{run}", "--pairs", "0", "-o", "{tmp}/i.png"], "--pairs"),
        (["interpolate", "{run}", "-o", "{tmp}/i.jpg"], "cannot write"),
        (["traverse", "{run}", "--dims", "x,y", "-o", "{tmp}/t.png"], "--dims"),
        (["traverse", "{run}", "--dims", "7", "-o", "{tmp}/t.png"], "outside 0..2"),
        (["traverse", "{run}", "--range", "0", "-o", "{tmp}/t.png"], "--range"),
        (["traverse", "{run}", "--index", "9999", "-o", "{tmp}/t.png"], "--index"),
        (["latent-map", "{run}", "-o", "{tmp}/m.gif"], "cannot write"),
        (["latent-map", "{tmp}/nothing", "-o", "{tmp}/m.png"], "nothing"),
    ],
)
def test_latent_commands_reject_bad_input(trained, tmp_path, capsys, argv, pattern):
    argv = [a.format(run=trained, tmp=tmp_path) for a in argv]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and pattern in err[0], err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.tmp")), "nothing half-written"


def test_interpolate_takes_tensors_as_they_are_and_any_summary_of_p_x_given_z():
    """What a sequence model needs: integer inputs reach its encoder untouched, and the decoded summary is chosen."""

    class Tokens(torch.nn.Module):  # a stand-in for a melody VAE: token ids in, a categorical per step out
        x_shape, latent_dim, n_classes, device = (5,), 2, 0, torch.device("cpu")  # the LatentModel surface

        def __init__(self):
            super().__init__()
            self.embed, self.out = torch.nn.Embedding(7, 2), torch.nn.Linear(2, 5 * 7)

        def encode(self, x, y=None):
            assert x.dtype == torch.long
            loc = self.embed(x).mean(1)
            return torch.distributions.Independent(torch.distributions.Normal(loc, torch.ones_like(loc)), 1)

        def decode(self, z, y=None):
            logits = self.out(z).view(*z.shape[:-1], 5, 7)
            return torch.distributions.Independent(torch.distributions.Categorical(logits=logits), 1)

    model = Tokens()
    x = torch.randint(0, 7, (3, 5))
    result = interpolate(model, x, x.flip(0), steps=4, summary=lambda px: px.base_dist.probs.argmax(-1))
    assert result.decoded.shape == (3, 4, 5) and result.decoded.dtype == np.int64
