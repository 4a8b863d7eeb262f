"""The tables family after "one shape for every kind of data": defaults in one place (the library's signatures,
which the scikit-learn estimators and the CLI follow), thin commands (one library call each, end to end in a
temp folder), no hidden side effects on the caller's model or RNG, and the shared standardisation."""

from __future__ import annotations

import copy
import csv
import inspect
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import typer.main

from tests.conftest import expect_error, one_thread
from vaekit import build_vae
from vaekit.apps import anomaly_files, imputation
from vaekit.apps.anomaly import IMAGE_DEFAULTS, Detector, anomaly_scores, fit_detector
from vaekit.apps.anomaly_files import detector_options
from vaekit.apps.imputation import fit_imputer, impute, inpaint, sample_imputations
from vaekit.cli import main
from vaekit.cli.common import app
from vaekit.sklearn import ANOMALY_KEYWORDS, IMPUTER_KEYWORDS, VAEAnomalyDetector, VAEImputer
from vaekit.utils import robust_standardisation

FAST = ["--epochs", "3", "--hidden", "8", "--k", "8"]


def _defaults(fn) -> dict:
    return {
        n: p.default for n, p in inspect.signature(fn).parameters.items() if p.default is not inspect.Parameter.empty
    }


# defaults in one place ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("estimator", "fn", "renamed"),
    [(VAEAnomalyDetector, fit_detector, ANOMALY_KEYWORDS), (VAEImputer, fit_imputer, IMPUTER_KEYWORDS)],
)
def test_estimator_defaults_are_the_library_defaults(estimator, fn, renamed):
    params = estimator().get_params()
    library = _defaults(fn)
    unshared = set()
    for name, value in params.items():
        keyword = renamed.get(name, name)
        if keyword not in library:
            unshared.add(name)
            continue
        assert value == library[keyword], f"{estimator.__name__}({name}={value!r}) but {fn.__name__}: {keyword}="
    # random_state (None: a fresh seed) stands for the library's seed; every other parameter is shared
    assert unshared == {"random_state"}


def test_table_defaults_are_the_documented_ones_and_images_differ_only_where_named():
    d = _defaults(fit_detector)
    assert (d["trim"], d["sigma"], tuple(d["hidden"]), d["contamination"], d["k"]) == (
        0.2,
        (1.0, None),
        (16,),
        0.1,
        100,
    )
    assert set(IMAGE_DEFAULTS) <= set(d)
    assert detector_options(None, {"epochs": 3}) == {"epochs": 3}
    images = detector_options((1, 8, 8), {"epochs": 3, "latent_dim": 2})
    assert images == {**IMAGE_DEFAULTS, "epochs": 3, "latent_dim": 2, "image_shape": (1, 8, 8)}
    mlp = detector_options((1, 8, 8), {"arch": "mlp"})
    assert "hidden" not in mlp and mlp["likelihood"] == "bernoulli", "conv channel widths are not an MLP's widths"


def _command(*path: str):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", [("anomaly", "fit"), ("anomaly", "score"), ("impute",), ("inpaint",)])
def test_cli_options_default_to_none_so_the_library_decides(path):
    optional = [p for p in _command(*path).params if not p.required and p.name != "help"]
    assert optional
    assert {p.name: p.default for p in optional if p.default is not None} == {}


def test_cli_passes_only_what_the_user_gave(monkeypatch, tmp_path, capsys):
    calls = []

    def fake_fit(data, out, **options):
        calls.append(options)
        detector = SimpleNamespace(score="nll", threshold=1.0)
        return SimpleNamespace(detector=detector, rows=3, epochs=1, flagged=0)

    monkeypatch.setattr(anomaly_files, "fit_detector_on", fake_fit)
    base = ["anomaly", "fit", "--data", "x.csv", "--out", str(tmp_path / "r")]
    assert main(base) == 0
    assert main([*base, "--epochs", "7", "--hidden", "4,4", "--sigma", "0", "--drop", "id"]) == 0
    assert calls == [
        {"data_dir": None, "drop": []},
        {"data_dir": None, "drop": ["id"], "epochs": 7, "hidden": (4, 4), "sigma": None},
    ]
    assert "wrote" in capsys.readouterr().out


# no hidden side effects ---------------------------------------------------------------------------------------
def test_detector_scores_in_float64_without_touching_the_callers_model(linear_model):
    w, b, noise, x, _ = linear_model
    torch.manual_seed(0)
    vae = build_vae((x.shape[1],), latent_dim=2, hidden=(8,))
    vae.train()
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    detector = Detector(vae=vae, k=16, seed=3)
    scores = detector.scores(x.double().numpy())
    assert all(p.dtype == torch.float32 for p in vae.parameters()), "the caller's model keeps its dtype"
    assert vae.training, "and its mode"
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())
    expected = anomaly_scores(copy.deepcopy(vae).double(), x.double(), k=16, seed=3)
    np.testing.assert_array_equal(scores, expected.numpy())  # what the old in-place .double() gave
    np.testing.assert_array_equal(detector.scores(x.double().numpy()), scores)
    # a float64 model is used as it is (no copy), and is not changed either
    vae64 = copy.deepcopy(vae).double()
    np.testing.assert_array_equal(Detector(vae=vae64, k=16, seed=3).scores(x.double().numpy()), scores)


def test_apps_restore_the_models_mode(linear_model):
    _, _, _, x, _ = linear_model
    vae = build_vae((x.shape[1],), latent_dim=2, hidden=(8,)).double().train()
    holes = x.double().clone()
    holes[::2, 1] = float("nan")
    anomaly_scores(vae, x.double(), k=4)
    impute(vae, holes, k=4)
    sample_imputations(vae, holes, 2, k=4)
    assert vae.training
    images = build_vae((1, 4, 4), latent_dim=2, hidden=(8,)).train()
    picture = torch.rand(2, 1, 4, 4)
    picture[..., 2:, :] = float("nan")
    inpaint(images, picture, k=4)
    assert images.training, "inpaint used to leave the model in eval mode"


def test_fitting_keeps_the_callers_rng_and_the_standardisation_is_the_shared_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)) * [1.0, 5.0, 0.0] + [0.0, 2.0, 7.0]  # the last column is constant
    state = torch.get_rng_state()
    with one_thread():
        detector, _ = fit_detector(x, epochs=2, k=4, hidden=(4,), scaling="standard")
        robust, _ = fit_detector(x, epochs=2, k=4, hidden=(4,))  # the default
        holes = x.copy()
        holes[::3, 0] = np.nan
        holes[:, 2] = rng.integers(0, 3, 60)
        holes[::5, 2] = np.nan
        imputer, _ = fit_imputer(holes, categorical_features=[2], epochs=2, k=4, hidden=(4,), n_train_samples=2)
    assert torch.equal(torch.get_rng_state(), state)
    # the numbers of the copies that utils.standardisation replaced
    np.testing.assert_array_equal(detector.center, x.mean(0))
    np.testing.assert_array_equal(detector.scale, np.where(x.std(0) > 1e-12, x.std(0), 1.0))
    center, scale = robust_standardisation(x)
    np.testing.assert_array_equal(robust.center, center)
    np.testing.assert_array_equal(robust.scale, scale)
    numeric = np.array([True, True, False])
    np.testing.assert_array_equal(imputer.center, np.where(numeric, np.nanmean(holes, axis=0), 0.0))
    std = np.where(numeric, np.nanstd(holes, axis=0), 1.0)
    np.testing.assert_array_equal(imputer.scale, np.where(std > 1e-12, std, 1.0))
    assert imputer.categories == (0, 0, 3)
    assert all(p.dtype == torch.float64 for p in imputer.vae.parameters())


def test_robust_scale_is_the_spread_of_the_bulk_and_always_finite():
    rng = np.random.default_rng(0)
    bulk = rng.normal(size=(20000, 1)) * 3.0 + 5.0
    center, scale = robust_standardisation(bulk)
    assert abs(center[0] - 5.0) < 0.1 and abs(scale[0] - 3.0) < 0.1  # IQR / 1.349 is a normal column's std
    spoiled = np.vstack([bulk, np.full((400, 1), 40.0)])  # 2% outliers inflate the std, not the IQR
    scale = robust_standardisation(spoiled)[1][0]
    assert abs(scale - 3.0) < 0.2 and scale < 0.7 * spoiled.std()
    steps = np.r_[np.zeros(900), np.ones(100)][:, None]  # an IQR of 0: a quarter of the std
    assert robust_standardisation(steps)[1][0] == 0.25 * steps.std()
    extreme = np.array([[1e308, 7.0], [-1e308, 7.0], [0.0, 7.0], [5.0, 7.0]])
    center, scale = robust_standardisation(extreme)
    assert np.isfinite(center).all() and np.isfinite(scale).all() and scale[1] == 1.0


# the commands end to end, against the library calls they make -------------------------------------------------
def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(1)
    t = rng.normal(size=(80, 1))
    x = np.hstack([t, -t, 2 * t]) + 0.1 * rng.normal(size=(80, 3))
    _write_csv(folder / "train.csv", ["id", "a", "b", "c"], [[i, *r] for i, r in enumerate(x[:60].round(4).tolist())])
    test = np.vstack([x[60:], rng.uniform(-4, 4, size=(5, 3))])
    labels = [0] * 20 + [1] * 5
    _write_csv(folder / "test.csv", ["a", "b", "c", "y"], [[*r, y] for r, y in zip(test.round(4), labels, strict=True)])
    rows = []
    for i, r in enumerate(x.round(3).tolist()):
        row = [*r, "up" if r[0] > 0 else "down"]
        row[i % 4] = "" if i % 3 == 0 else row[i % 4]
        rows.append(row)
    _write_csv(folder / "holes.csv", ["a", "b", "c", "sign"], rows)
    return folder


def test_anomaly_fit_and_score_end_to_end_match_the_library(tables, tmp_path, capsys):
    run = tmp_path / "det"
    with one_thread():
        assert (
            main(["anomaly", "fit", "--data", str(tables / "train.csv"), "--drop", "id", "--out", str(run), *FAST]) == 0
        )
        printed = capsys.readouterr().out
        fitted = anomaly_files.fit_detector_on(
            tables / "train.csv", tmp_path / "lib", drop=["id"], epochs=3, hidden=(8,), k=8
        )
    assert f"{fitted.rows} rows, {fitted.epochs} epochs, nll threshold {fitted.detector.threshold:.4g}" in printed
    assert fitted.detector.columns == ["a", "b", "c"] and fitted.detector.extra["trim"] == 0.2
    out = tmp_path / "scores.csv"
    assert (
        main(["anomaly", "score", str(run), "--data", str(tables / "test.csv"), "--labels", "y", "-o", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    scored = anomaly_files.score_file(tmp_path / "lib", tables / "test.csv", tmp_path / "lib.csv", labels="y")
    written = anomaly_files.scores_csv(scored.scores, scored.flags)
    assert out.read_text() == (tmp_path / "lib.csv").read_text() == written
    assert f"25 rows, {scored.flagged} flagged" in printed
    assert f"ROC-AUC {scored.metrics['roc_auc']:.4f}" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det", "lib", "lib.csv", "scores.csv"], "no temporary files"


def test_score_file_checks_the_output_before_any_work(tmp_path, capsys):
    expect_error(
        capsys,
        ["anomaly", "score", str(tmp_path / "no-run"), "--data", "x.csv", "-o", str(tmp_path / "s.txt")],
        "cannot write s.txt",
    )
    expect_error(
        capsys,
        ["anomaly", "score", str(tmp_path / "no-run"), "--data", "x.csv", "-o", str(tmp_path / "no" / "s.csv")],
        "does not exist",
    )


def test_impute_end_to_end_matches_the_library_and_reports_hidden_cells(tables, tmp_path, capsys):
    out = tmp_path / "filled.csv"
    args = ["--epochs", "3", "--k", "16", "--hidden", "8", "--remove", "0.2", "--seed", "1"]
    with one_thread():
        assert main(["impute", "--data", str(tables / "holes.csv"), "-o", str(out), *args]) == 0
        printed = capsys.readouterr().out
        done = imputation.impute_table(
            tables / "holes.csv", tmp_path / "lib.csv", remove=0.2, seed=1, epochs=3, k=16, hidden=(8,)
        )
    assert out.read_text() == (tmp_path / "lib.csv").read_text()
    assert f"{done.missing} missing cells of {done.cells} filled ({done.epochs} epochs)" in printed
    assert f"{done.hidden_numeric} hidden numeric cells: mean squared error {done.numeric_mse:.4f}" in printed
    assert f"{done.hidden_categorical} hidden categorical cells: {done.categorical_accuracy:.1%}" in printed
    assert done.hidden_numeric > 0 and done.hidden_categorical > 0 and 0 <= done.categorical_accuracy <= 1
    # the command seeds its model as the estimator does, so the two fill the same values
    from vaekit.apps.imputation import read_table_or_dataset, remove_at_random

    table = read_table_or_dataset(tables / "holes.csv")
    values = remove_at_random(table.values, 0.2, seed=1)
    estimator = VAEImputer(epochs=3, n_samples=16, hidden=(8,), categorical_features=[3], random_state=1)
    with one_thread():
        filled = estimator.fit(values).transform(values)
    from vaekit.data.table import read_table

    written = read_table(out, table.columns).values
    np.testing.assert_allclose(written[:, :3], filled[:, :3], rtol=1e-12)
    np.testing.assert_array_equal(written[:, 3], filled[:, 3])


def test_impute_checks_the_output_before_any_work(tables, tmp_path, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the output")

    monkeypatch.setattr(imputation, "fit_imputer", no_training)
    for target, pattern in [(tmp_path / "no" / "f.csv", "does not exist"), (tmp_path / "f.json", "cannot write")]:
        expect_error(capsys, ["impute", "--data", str(tables / "holes.csv"), "-o", str(target)], pattern)
        assert not target.exists()


def test_inpaint_run_takes_a_run(tmp_path, capsys):
    from vaekit.run import Run

    run = tmp_path / "run"
    with one_thread():
        assert (
            main(["train", "--out", str(run), "--epochs", "1", "--quiet", "--hidden", "16", "--latent-dim", "2"]) == 0
        )
    opened = Run.open(run)
    done = imputation.inpaint_run(opened, tmp_path / "x.npy", n=3, k=8, mask="random", seed=2)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), done.filled.numpy())
    assert done.filled.shape == (3, 1, 8, 8) and done.squared_error >= 0
    capsys.readouterr()
    assert (
        main(
            [
                "inpaint",
                str(run),
                "-n",
                "3",
                "--k",
                "8",
                "--mask",
                "random",
                "--seed",
                "2",
                "-o",
                str(tmp_path / "y.npy"),
            ]
        )
        == 0
    )
    assert f"{done.squared_error:.4f}" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), done.filled.numpy())
    with pytest.raises(Exception, match="unknown mask"):
        imputation.inpaint_run(opened, tmp_path / "z.png", mask="stripes")
    assert not (tmp_path / "z.png").exists()
