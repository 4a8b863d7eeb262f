"""The table detector's two models (fixed and learned Gaussian scale): how their scores combine, and the folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import one_thread
from vaekit.apps.anomaly import fit_detector, load_detector
from vaekit.errors import OptionError, RunFolderError

FAST = {"epochs": 3, "hidden": (8,), "k": 8, "patience": None}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    x[:, 4] = x[:, 0] + 0.1 * rng.normal(size=300)
    out = tmp_path_factory.mktemp("det") / "run"
    with one_thread():
        detector, _ = fit_detector(x, out=out, **FAST)
    return detector, x, out


def test_the_score_is_the_mean_of_each_models_standardised_score(fitted):
    detector, x, _ = fitted
    assert (
        len(detector.models) == 2 and not detector.vae.decoder.head.learned and detector.members[0].decoder.head.learned
    )
    per_model = detector.model_scores(x)
    norms = [[np.median(s), np.subtract(*np.quantile(s, [0.75, 0.25]))] for s in per_model]
    np.testing.assert_allclose(detector.score_norms, norms, rtol=1e-10)
    expected = np.mean([(s - m) / iqr for s, (m, iqr) in zip(per_model, norms, strict=True)], 0)
    scores = detector.scores(x)
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
    assert np.median(scores) == pytest.approx(np.median(expected))
    assert detector.is_anomaly(scores).mean() == pytest.approx(detector.contamination, abs=0.01)
    # a row's score does not depend on the rows scored with it
    np.testing.assert_allclose(detector.scores(x[7:8]), scores[7:8], rtol=1e-10)


def test_the_run_folder_holds_both_models_and_loads_to_the_same_scores(fitted):
    detector, x, out = fitted
    assert (out / "members" / "1" / "model.safetensors").is_file() and not (
        out / "members" / "1" / "report.html"
    ).exists()
    loaded = load_detector(out)
    np.testing.assert_array_equal(loaded.scores(x[:20]), detector.scores(x[:20]))
    record = json.loads((out / "anomaly.json").read_text())
    assert record["members"] == ["members/1"]
    for folders in (["../run"], ["members/2"], "members/1"):
        damaged = out.parent / f"damaged-{len(str(folders))}"
        damaged.mkdir()
        for f in out.iterdir():
            if f.is_file():
                (damaged / f.name).write_bytes(f.read_bytes())
        (damaged / "anomaly.json").write_text(json.dumps({**record, "members": folders}))
        with pytest.raises(RunFolderError, match="damaged"):
            load_detector(damaged)


def test_one_scale_fits_one_model_in_nats_and_bad_scales_are_refused():
    x = np.random.default_rng(1).normal(size=(120, 3))
    with one_thread():
        single, _ = fit_detector(x, sigma=None, **FAST)
    assert single.members == [] and single.score_norms is None
    np.testing.assert_array_equal(single.scores(x), single.model_scores(x)[0])
    for bad in ((), (1.0, -1.0), (float("nan"),), 0.0):
        with pytest.raises(OptionError, match="sigma"):
            fit_detector(x, sigma=bad, **FAST)
