"""The live explorer (``vaekit explore``): its JSON API against the library it serves, every bad request a 4xx
answer with the server still serving, its assets a fixed set, and the command's pre-flight errors.

The runs are untrained models saved beside the embedded ``digits`` data (and a tiny anomaly detector): the
explorer's contracts do not depend on what a model has learned, and saving takes no time. The browser checks
are in ``test_explore_browser.py`` (slow).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import warnings

import numpy as np
import pytest
import torch

import vaekit
from tests.conftest import expect_error
from vaekit.apps.anomaly import Detector
from vaekit.server import Session
from vaekit.server.app import create_app
from vaekit.server.session import MAX_ROWS
from vaekit.utils import latent_path


def _save(path, **model):
    return vaekit.save(vaekit.build_vae(**model), path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    torch.manual_seed(0)
    tokens = np.random.default_rng(0).integers(0, 90, size=(40, 16)).astype(np.float32)
    np.save(root / "tokens.npy", tokens)
    rng = np.random.default_rng(0)
    table = rng.normal(size=(120, 3)) * [1.0, 10.0, 100.0] + [0.0, 50.0, 1000.0]
    header = "height,weight,income"
    np.savetxt(root / "table.csv", table, delimiter=",", header=header, comments="", fmt="%.6g")
    # a detector's run folder as `vaekit anomaly fit` leaves it: the model and anomaly.json (untrained here)
    vae = vaekit.build_vae((3,), hidden=[8], latent_dim=2, likelihood="gaussian", sigma=1.0).double()
    center, scale = table.mean(0), table.std(0)
    detector = Detector(vae, k=8, center=center.tolist(), scale=scale.tolist(), columns=header.split(","))
    detector.threshold = float(np.quantile(detector.scores(table), 0.9))
    vaekit.save(vae, root / "detector")
    detector.save(root / "detector")
    image = dict(x_shape=(1, 8, 8), arch="mlp", hidden=[16], latent_dim=3, likelihood="gaussian")
    return {
        "images": _save(root / "images", **image),
        "plane": _save(root / "plane", **{**image, "latent_dim": 2}),
        "conditional": _save(root / "conditional", **image, classes=10),
        "melodies": _save(root / "melodies", x_shape=(16,), arch="melody", latent_dim=3, hidden=(8, 8)),
        "tokens": root / "tokens.npy",
        "detector": root / "detector",
        "table": root / "table.csv",
    }


def _client(session):
    with warnings.catch_warnings():  # Starlette >= 1 prefers httpx2 (Python >= 3.11) to httpx, and says so
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
        from starlette.testclient import TestClient

    return TestClient(create_app(session), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def images(runs):
    return Session(vaekit.Run.open(runs["images"]), limit=200)


@pytest.fixture(scope="module")
def client(images):
    with _client(images) as c:
        yield c


# the API against the library -------------------------------------------------------------------------------
def test_decode_is_the_models_mean_for_any_code(images, client):
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1)).numpy()
    answer = client.post("/decode", json={"z": z.tolist()})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    x = np.asarray(answer.json()["x"])
    assert x.shape == (5, 1, 8, 8)
    np.testing.assert_allclose(x, vaekit.decode(images.vae, z), atol=6e-4)  # shown to 3 decimals


def test_an_example_of_the_map_is_its_input_code_and_reconstruction(images, client):
    held = vaekit.Run.open(images.run.path).data("test")
    answer = client.post("/encode", json={"index": 7}).json()
    row = answer["row"]
    assert answer["label"] == int(held.labels[row]) and answer["y"] is None
    np.testing.assert_allclose(answer["x"], held.x[row].numpy(), atol=6e-4)
    z = vaekit.encode(images.vae, held.x[row : row + 1])[0]
    np.testing.assert_allclose(answer["z"], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        answer["reconstruction"], vaekit.reconstruct(images.vae, held.x[row : row + 1])[0], atol=6e-4
    )
    np.testing.assert_allclose(answer["coords"], images.project(z[None])[0], atol=1e-5)
    # examples given as the page shows them encode to the same code
    again = client.post("/encode", json={"x": [answer["x"]]}).json()
    np.testing.assert_allclose(again["z"][0], z, atol=1e-3)


def test_info_orders_dimensions_by_kl_and_marks_inactive_ones(images, client):
    info = client.get("/info").json()
    kl = [d["kl"] for d in info["dims"]]
    assert sorted(d["dim"] for d in info["dims"]) == [0, 1, 2] and kl == sorted(kl, reverse=True)
    assert info["dim_statistic"] == "KL"  # a standard normal prior: KL per dimension in nats
    means = torch.from_numpy(images.z).double()
    assert [d["active"] for d in info["dims"]] == [bool(means[:, d["dim"]].var() > 1e-2) for d in info["dims"]]
    assert info["latent_dim"] == 3 and info["n_classes"] == 0 and info["modality"] == "images"
    assert info["source"] == {"name": "digits", "split": "test"} and info["anomaly"] is None
    assert info["plane"]["names"] == ["PC 1", "PC 2"] and info["limits"]["max_rows"] == MAX_ROWS
    axes = np.asarray(info["plane"]["axes"])
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-5)  # principal directions: orthonormal
    scatter = client.get("/map").json()
    assert len(scatter["coords"]) == len(scatter["labels"]) == info["n_examples"] == 200
    np.testing.assert_allclose(scatter["coords"], images.coords, atol=1e-4)


def test_a_two_dimensional_latent_is_its_own_plane(runs):
    session = Session(vaekit.Run.open(runs["plane"]), limit=50)
    np.testing.assert_allclose(session.coords, session.z, atol=1e-6)
    assert session.info()["plane"]["names"] == ["z0", "z1"]


def test_interpolation_walks_the_lerp_and_slerp_paths(client):
    z0, z1 = [1.0, -0.5, 0.2], [-0.3, 0.8, 1.5]
    ends = client.post("/interpolate", json={"z0": z0, "z1": z1, "t": [0, 1]}).json()
    np.testing.assert_allclose(ends["z"], [z0, z1], atol=1e-6)
    for method in ("lerp", "slerp"):
        path = client.post("/interpolate", json={"z0": z0, "z1": z1, "steps": 5, "method": method}).json()
        expected = latent_path(torch.tensor(z0), torch.tensor(z1), 5, method).numpy()
        np.testing.assert_allclose(path["z"], expected, atol=1e-5)
        assert path["t"] == [0, 0.25, 0.5, 0.75, 1] and len(path["x"]) == 5
        decoded = client.post("/decode", json={"z": path["z"][1:2]}).json()["x"]
        np.testing.assert_allclose(path["x"][1], decoded[0], atol=1e-3)


def test_samples_come_from_the_prior_at_a_temperature_and_repeat_with_a_seed(client):
    a = client.post("/sample", json={"n": 400, "temperature": 0.5, "seed": 3}).json()
    b = client.post("/sample", json={"n": 400, "temperature": 0.5, "seed": 3}).json()
    assert a == b and len(a["x"]) == 400
    assert abs(np.asarray(a["z"]).std() - 0.5) < 0.05


def test_a_conditional_model_decodes_the_label_it_is_given(runs):
    session = Session(vaekit.Run.open(runs["conditional"]), limit=60)
    with _client(session) as c:
        z = [[0.3, -0.2, 0.1]]
        x3, x7 = (np.asarray(c.post("/decode", json={"z": z, "y": y}).json()["x"]) for y in (3, 7))
        np.testing.assert_allclose(x3, vaekit.decode(session.vae, np.asarray(z), y=3), atol=6e-4)
        assert not np.allclose(x3, x7)
        assert c.get("/info").json()["n_classes"] == 10
        example = c.post("/encode", json={"index": 0}).json()
        assert example["y"] == example["label"]
        for body in ({"z": z}, {"z": z, "y": 10}, {"z": z, "y": [1, 2]}, {"z": z, "y": True}):
            answer = c.post("/decode", json=body)
            assert answer.status_code == 400, body
        assert "conditional" in c.post("/sample", json={"n": 1}).json()["error"]
        assert c.post("/sample", json={"n": 2, "y": 4}).status_code == 200


def test_an_anomaly_detector_shows_rows_in_their_units_and_scores_them(runs):
    from vaekit.apps.anomaly import load_detector

    session = Session(vaekit.Run.open(runs["detector"]), data=str(runs["table"]))
    detector = load_detector(runs["detector"])
    rows = np.loadtxt(runs["table"], delimiter=",", skiprows=1)
    with _client(session) as c:
        info = c.get("/info").json()
        assert info["anomaly"]["threshold"] == pytest.approx(detector.threshold)
        assert info["context"]["names"] == ["height", "weight", "income"]
        assert info["source"] == {"name": "table.csv", "split": None}
        scatter = c.get("/map").json()
        assert scatter["label_names"] == ["normal", "flagged"] and set(scatter["labels"]) <= {0, 1}
        example = c.post("/encode", json={"index": 4}).json()
        np.testing.assert_allclose(example["x"], rows[example["row"]], rtol=1e-6)
        assert example["score"] == pytest.approx(float(detector.scores(rows[example["row"] : example["row"] + 1])[0]))
        assert example["flagged"] == (example["score"] > detector.threshold)
        # the reconstruction is back in the table's units: about the size of the inputs, not standardised
        assert 500 < example["reconstruction"][2] < 1500
        scored = c.post("/encode", json={"x": [rows[4].tolist()]}).json()
        assert scored["score"][0] == pytest.approx(float(detector.scores(rows[4:5])[0]))
        assert c.post("/encode", json={"x": [[1.0, 2.0]]}).status_code == 400


def test_melodies_decode_to_tokens_and_get_their_own_view(runs):
    session = Session(vaekit.Run.open(runs["melodies"]), data=str(runs["tokens"]))
    with _client(session) as c:
        x = c.post("/decode", json={"z": [[0.0, 0.0, 0.0], [1.0, -1.0, 0.5]]}).json()["x"]
        assert np.asarray(x).shape == (2, 16) and all(isinstance(t, int) and 0 <= t < 90 for t in x[0] + x[1])
        assert "registerView" in c.get("/view.js").text and "AudioContext" in c.get("/view.js").text
        assert c.get("/info").json()["context"]["steps_per_bar"] == 16
        assert c.post("/encode", json={"x": [[95] * 16]}).status_code == 400  # not a token


# bad requests ------------------------------------------------------------------------------------------------
BAD = [
    ("/decode", {"z": [[0.0, 0.0]]}, "3 dimensions"),
    ("/decode", {"z": [[0.0, 0.0, 0.0, 0.0]]}, "3 dimensions"),
    ("/decode", {"z": [[1e9, 0.0, 0.0]]}, "beyond"),
    ("/decode", {"z": [[0.0, 0.0, 0.0]] * (MAX_ROWS + 1)}, "at most"),
    ("/decode", {"z": []}, "at least"),
    ("/decode", {"z": "0,0,0"}, "list"),
    ("/decode", {"z": [[0, "a", 0]]}, "number"),
    ("/decode", {"z": [[0, 0, 0]], "extra": 1}, "extra"),
    ("/decode", {"z": [[0, 0, 0]], "y": 1}, "not conditional"),
    ("/decode", [[0, 0, 0]], "JSON object"),
    ("/encode", {"index": 10_000}, "no example"),
    ("/encode", {"index": 1, "x": [[0]]}, "either"),
    ("/encode", {"x": [[[[0.0] * 7] * 8]]}, "shape"),
    ("/encode", {"x": [[0, [1]]]}, "rectangular"),
    ("/sample", {"n": 0}, "cannot draw"),
    ("/sample", {"n": MAX_ROWS + 1}, "cannot draw"),
    ("/sample", {"temperature": 0}, "temperature"),
    ("/sample", {"n": 1.5}, "integer"),
    ("/interpolate", {"z0": [0, 0, 0], "z1": [1, 1, 1]}, "either"),
    ("/interpolate", {"z0": [0, 0, 0], "z1": [1, 1, 1], "t": [1.5]}, "[0, 1]"),
    ("/interpolate", {"z0": [0, 0, 0], "z1": [1, 1], "steps": 3}, "3 dimensions"),
    ("/interpolate", {"z0": [0, 0, 0], "z1": [1, 1, 1], "steps": 1}, "steps"),
    ("/interpolate", {"z0": [0, 0, 0], "z1": [1, 1, 1], "steps": 3, "method": "cubic"}, "lerp"),
]


@pytest.mark.parametrize(("path", "body", "says"), BAD, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(BAD)])
def test_a_bad_request_is_a_400_with_a_reason_and_the_server_goes_on(client, path, body, says):
    answer = client.post(path, json=body)
    assert answer.status_code == 400 and says in answer.json()["error"], answer.text
    assert client.post("/decode", json={"z": [[0.1, 0.2, 0.3]]}).status_code == 200


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_refused(client, literal):
    answer = client.post("/decode", content=b'{"z": [[0, ' + literal + b", 0]]}", headers=JSON)
    assert answer.status_code == 400 and "finite" in answer.json()["error"]
    answer = client.post("/encode", content=b'{"x": [[[' + literal + b"]]]}", headers=JSON)
    assert answer.status_code == 400


JSON = {"content-type": "application/json"}


def test_bodies_that_are_not_json_too_large_or_of_another_type_are_refused(client):
    assert client.post("/decode", content=b'{"z": [[0, 0', headers=JSON).status_code == 400
    assert client.post("/decode", content=b"\xff\xfe", headers=JSON).status_code == 400
    assert (
        client.post("/decode", content=b'{"z": [[0, 0, 0]]}', headers={"content-type": "text/plain"}).status_code == 415
    )
    huge = b'{"z": [[0, 0, 0]], "pad": "' + b" " * (9 * 2**20) + b'"}'
    answer = client.post("/decode", content=huge, headers=JSON)
    assert answer.status_code == 413 and "MiB" in answer.json()["error"]
    assert client.get("/decode").status_code == 405
    assert client.post("/decode", json={"z": [[0.1, 0.2, 0.3]]}).status_code == 200


def test_only_the_pages_own_assets_are_served(client):
    for path, kind in [
        ("/", "text/html"),
        ("/app.js", "javascript"),
        ("/style.css", "text/css"),
        ("/view.js", "javascript"),
    ]:
        answer = client.get(path)
        assert answer.status_code == 200 and kind in answer.headers["content-type"], path
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert not re.search(r"https?://", answer.text), f"{path} must fetch nothing from elsewhere"
    page = client.get("/").text
    assert sorted(re.findall(r'(?:src|href)="([^"]*)"', page)) == ["/app.js", "/style.css", "/view.js", "data:,"]
    for path in ["/static/app.js", "/../pyproject.toml", "/%2e%2e/etc/passwd", "/app.js/x", "/index.html", "/x.js"]:
        answer = client.get(path)
        assert answer.status_code == 404 and answer.json() == {"error": "Not Found"}, path


def test_a_request_for_another_host_name_is_refused(client):
    """A web page that points a name of its own at 127.0.0.1 (DNS rebinding) gets nothing."""
    assert client.get("/info", headers={"host": "attacker.example:8765"}).status_code == 400
    assert client.get("/info", headers={"host": "localhost:8765"}).status_code == 200
    assert client.get("/info", headers={"host": "[::1]:8765"}).status_code == 200


# serving from Python and from the command line --------------------------------------------------------------
def _get(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def test_explore_serves_in_the_background_until_stopped(runs):
    with vaekit.explore(runs["plane"], limit=40) as explorer:
        assert explorer.running and re.fullmatch(r"http://127\.0\.0\.1:\d+/", explorer.url)
        assert b"vaekit explore" in _get(explorer.url)
        assert len(json.loads(_get(explorer.url + "decode", {"z": [[0, 0]]}))["x"]) == 1
        port = explorer.port
    assert not explorer.running
    with pytest.raises(OSError):
        _get(explorer.url)
    with socket.create_server(("127.0.0.1", port)):  # the port is free again
        pass


def test_cli_refuses_a_port_in_use_an_unreadable_run_and_bad_options(runs, tmp_path, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        expect_error(
            capsys, ["explore", str(runs["images"]), "--port", str(port)], f"port {port} on 127.0.0.1 is in use"
        )
    expect_error(capsys, ["explore", str(tmp_path / "missing")], "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    expect_error(capsys, ["explore", str(broken)], "config.json")
    expect_error(capsys, ["explore", str(runs["images"]), "--port", "70000"], "outside 0..65535")
    expect_error(capsys, ["explore", str(runs["images"]), "--host", "no.such.host.invalid"], "cannot serve on host")
    expect_error(capsys, ["explore", str(runs["detector"]), "--port", "0"], "give the rows with --data")


def test_cli_warns_when_exposed_and_stops_on_ctrl_c(runs, capsys, monkeypatch):
    """The command serves, prints its URL, warns on an address other than the loopback, and Ctrl-C (here raised
    where it waits) stops it with exit code 0."""
    from vaekit.cli import main
    from vaekit.server.serve import Explorer

    seen = []

    def interrupted(explorer):
        seen.append(json.loads(_get(explorer.url + "info"))["latent_dim"])
        raise KeyboardInterrupt

    monkeypatch.setattr(Explorer, "wait", interrupted)
    assert main(["explore", str(runs["plane"]), "--host", "0.0.0.0", "--port", "0"]) == 0
    out, err = capsys.readouterr()
    assert seen == [2]
    assert re.fullmatch(r"exploring \S+ at http://127\.0\.0\.1:\d+/ \(Ctrl-C stops\)\nstopped\n", out), out
    assert (
        err.startswith("warning: serving on 0.0.0.0: anyone who can reach this machine") and len(err.splitlines()) == 1
    )
    assert main(["explore", str(runs["plane"]), "--port", "0"]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.slow
def test_the_real_command_stops_cleanly_on_sigint(runs):
    """In a process of its own, as a user runs it: the warning, the URL, a page that answers, SIGINT, exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaekit", "explore", str(runs["plane"]), "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+/", line)
        assert url, (line, proc.stderr.read() if proc.poll() is not None else "")
        assert json.loads(_get(url.group(0) + "info"))["latent_dim"] == 2
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().endswith("stopped")
    warning = [e for e in err.splitlines() if e.startswith("warning:")]
    assert len(warning) == 1 and "0.0.0.0" in warning[0] and "Traceback" not in err
