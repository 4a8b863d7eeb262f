"""Anomaly detection, imputation and inpainting from the command line and inside scikit-learn pipelines;
every bad input ends in one ``error:`` line, exit code 2, and no output file."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest  # noqa: F401  (scikit-learn is a dependency anyway)
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.conftest import expect_error as _expect_error
from vaekit.cli import main
from vaekit.sklearn import VAEAnomalyDetector, VAEImputer

FAST_FIT = ["--epochs", "15", "--hidden", "16", "--k", "20"]


def _blobs(seed: int = 0, n: int = 300, outliers: int = 15):
    """Normal rows near a 1-D curve in 4-D, and far-off outliers."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, 1))
    normal = np.hstack([t, 2 * t, -t, 0.5 * t]) + 0.1 * rng.normal(size=(n, 4))
    odd = rng.uniform(-4, 4, size=(outliers, 4))
    return normal, odd


def _read(path, reader):
    with open(path, newline="") as f:
        return list(reader(f))


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    folder = tmp_path_factory.mktemp("anomaly")
    normal, odd = _blobs()
    _write_csv(folder / "train.csv", ["a", "b", "c", "d"], normal[:250].round(5).tolist())
    test = np.vstack([normal[250:], odd])
    labels = [0] * 50 + [1] * len(odd)
    _write_csv(
        folder / "test.csv",
        ["a", "b", "c", "d", "label"],
        [[*r, y] for r, y in zip(test.round(5).tolist(), labels, strict=True)],
    )
    np.save(folder / "labels.npy", np.array(labels))
    np.save(folder / "test.npy", test.round(5))
    run = folder / "det"
    assert main(["anomaly", "fit", "--data", str(folder / "train.csv"), "--out", str(run), *FAST_FIT]) == 0
    return folder, run


def test_anomaly_fit_and_score_with_a_label_column(detector, capsys):
    folder, run = detector
    assert (run / "anomaly.json").is_file() and (run / "model.safetensors").is_file()
    capsys.readouterr()
    out = folder / "scores.csv"
    assert (
        main(["anomaly", "score", str(run), "--data", str(folder / "test.csv"), "--labels", "label", "-o", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    rows = _read(out, csv.DictReader)
    assert list(rows[0]) == ["anomaly_score", "is_anomaly"] and len(rows) == 65
    scores = np.array([float(r["anomaly_score"]) for r in rows])
    flags = np.array([int(r["is_anomaly"]) for r in rows])
    assert scores[50:].min() > np.median(scores[:50]), "outliers score higher than normal rows"
    assert flags[50:].mean() > 0.8 and flags[:50].mean() < 0.5
    auc = float(printed.split("ROC-AUC ")[1].split()[0])
    assert auc > 0.95, printed
    # a labels file gives the same figures, and a .npy data file works too
    out2 = folder / "scores2.csv"
    assert (
        main(
            [
                "anomaly",
                "score",
                str(run),
                "--data",
                str(folder / "test.npy"),
                "--labels",
                str(folder / "labels.npy"),
                "-o",
                str(out2),
            ]
        )
        == 0
    )
    assert f"ROC-AUC {auc:.4f}" in capsys.readouterr().out
    # the CSV's numbers are decimal text: the scores agree to the last digits (standardised scores lie near 0)
    np.testing.assert_allclose(np.loadtxt(out2, delimiter=",", skiprows=1)[:, 0], scores, rtol=1e-7, atol=1e-6)


@pytest.mark.parametrize(
    ("data", "extra", "pattern"),
    [
        ("a,b,c,d\n1,2,x,4\n", [], "'x' is not a number"),
        ("a,b,c\n1,2,3\n", [], "the detector was trained on"),  # wrong columns
        ("a,b,c,d\n1,2,inf,4\n", [], "not finite"),
        ("", [], "is empty"),
        ("a,b,c,d\n1,2,,4\n", [], "is empty"),
        ("a,b,c,d\n1,2,3,4\n0,0,0,0\n", ["--labels", "nolabel"], "no labels file"),
    ],
)
def test_anomaly_score_rejects_bad_input(detector, tmp_path, capsys, data, extra, pattern):
    _, run = detector
    (tmp_path / "x.csv").write_text(data)
    out = tmp_path / "s.csv"
    if pattern == "no labels file":
        np.save(tmp_path / "x.npy", np.zeros((2, 4)))
        _expect_error(
            capsys, ["anomaly", "score", str(run), "--data", str(tmp_path / "x.npy"), "-o", str(out), *extra], pattern
        )
    else:
        _expect_error(
            capsys, ["anomaly", "score", str(run), "--data", str(tmp_path / "x.csv"), "-o", str(out), *extra], pattern
        )
    assert not out.exists()


def test_anomaly_labels_of_the_wrong_length_or_kind(detector, tmp_path, capsys):
    folder, run = detector
    out = tmp_path / "s.csv"
    np.save(tmp_path / "short.npy", np.zeros(3))
    _expect_error(
        capsys,
        [
            "anomaly",
            "score",
            str(run),
            "--data",
            str(folder / "test.npy"),
            "--labels",
            str(tmp_path / "short.npy"),
            "-o",
            str(out),
        ],
        "3 labels for 65 rows",
    )
    np.save(tmp_path / "one.npy", np.zeros(65))
    _expect_error(
        capsys,
        [
            "anomaly",
            "score",
            str(run),
            "--data",
            str(folder / "test.npy"),
            "--labels",
            str(tmp_path / "one.npy"),
            "-o",
            str(out),
        ],
        "only one class",
    )
    np.save(tmp_path / "wide.npy", np.zeros((65, 5)))
    _expect_error(
        capsys,
        ["anomaly", "score", str(run), "--data", str(tmp_path / "wide.npy"), "-o", str(out)],
        "5 features, the detector was trained on 4",
    )
    _expect_error(
        capsys,
        ["anomaly", "score", str(folder), "--data", str(folder / "test.csv"), "-o", str(out)],
        "not an anomaly detector",
    )
    assert not out.exists()


def test_anomaly_fit_rejects_bad_options_and_keeps_nothing(tmp_path, capsys):
    normal, _ = _blobs()
    np.save(tmp_path / "x.npy", normal)
    for flags, pattern in [
        (["--score", "magic"], "unknown anomaly score"),
        (["--contamination", "0.9"], "contamination"),
        (["--scaling", "log"], "unknown scaling 'log'"),
    ]:
        _expect_error(
            capsys, ["anomaly", "fit", "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "r"), *flags], pattern
        )
        assert not (tmp_path / "r").exists()
    (tmp_path / "nan.csv").write_text("a,b\n1,2\nnan,3\n")
    _expect_error(
        capsys, ["anomaly", "fit", "--data", str(tmp_path / "nan.csv"), "--out", str(tmp_path / "r")], "is empty"
    )


def _mixed_table(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        level = ["red", "green", "blue"][i % 3]
        size = (i % 3) * 2.0 + 0.1 * rng.normal()
        count = int(i % 3 * 10 + rng.integers(0, 3))
        row = [f"{size:.3f}", level, str(count), f"{-size:.3f}"]
        for j in range(4):
            if rng.random() < 0.2:
                row[j] = "" if rng.random() < 0.5 else "NaN"
        if all(c in ("", "NaN") for c in row):
            row[0] = "0.0"
        rows.append(row)
    _write_csv(path, ["size", "colour", "count", "neg"], rows)
    return rows


def test_impute_keeps_names_order_and_types(tmp_path, capsys):
    rows = _mixed_table(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    assert main(["impute", "--data", str(tmp_path / "in.csv"), "-o", str(out), "--epochs", "30", "--k", "50"]) == 0
    assert "missing cells" in capsys.readouterr().out
    result = _read(out, csv.reader)
    assert result[0] == ["size", "colour", "count", "neg"] and len(result) == len(rows) + 1
    for given, filled in zip(rows, result[1:], strict=True):
        assert all(c not in ("", "NaN") for c in filled)
        assert filled[1] in {"red", "green", "blue"}
        assert filled[2].lstrip("-").isdigit(), "an integer column stays integer"
        float(filled[0]), float(filled[3])
        for g, f in zip(given, filled, strict=True):
            if g not in ("", "NaN"):
                assert g == f or float(g) == float(f), "observed cells are kept"


def test_impute_writes_multiple_imputations_in_long_format(tmp_path):
    rows = _mixed_table(tmp_path / "in.csv", n=60)
    out = tmp_path / "draws.csv"
    assert (
        main(
            [
                "impute",
                "--data",
                str(tmp_path / "in.csv"),
                "-o",
                str(out),
                "--epochs",
                "5",
                "--k",
                "20",
                "--n-imputations",
                "3",
            ]
        )
        == 0
    )
    result = _read(out, csv.reader)
    assert result[0] == ["imputation", "row", "size", "colour", "count", "neg"]
    assert len(result) == 3 * len(rows) + 1
    assert [r[0] for r in result[1::60]] == ["1", "2", "3"] and result[61][1] == "0"


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("a,b\n1,\n,\n2,3\n", "row 1 of"),
        ("a,b\n1,\n2,\n", "column 'b'"),
        ("a,b\n1,2\n2,inf\n", "not finite"),
        ("", "is empty"),
        ("a,b\n1,2\n3\n", "line 3 has 1 fields"),
    ],
)
def test_impute_rejects_bad_input(tmp_path, capsys, content, pattern):
    (tmp_path / "in.csv").write_text(content)
    out = tmp_path / "out.csv"
    _expect_error(capsys, ["impute", "--data", str(tmp_path / "in.csv"), "-o", str(out), "--epochs", "2"], pattern)
    assert not out.exists()


def test_inpaint_writes_a_picture_and_an_array(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "3", "--quiet", "--hidden", "32", "--latent-dim", "3"]) == 0
    for mask in ("half", "random"):
        out = tmp_path / f"{mask}.png"
        assert main(["inpaint", str(run), "--mask", mask, "-n", "8", "--k", "32", "-o", str(out)]) == 0
        assert out.stat().st_size > 0
    assert main(["inpaint", str(run), "-n", "4", "--k", "16", "-o", str(tmp_path / "x.npy")]) == 0
    filled = np.load(tmp_path / "x.npy")
    assert filled.shape == (4, 1, 8, 8) and np.isfinite(filled).all()
    capsys.readouterr()
    _expect_error(capsys, ["inpaint", str(run), "--mask", "stripes", "-o", str(tmp_path / "y.png")], "unknown mask")
    assert not (tmp_path / "y.png").exists()


def test_estimators_in_a_pipeline_and_a_grid_search():
    normal, odd = _blobs(seed=1)
    x = np.vstack([normal, odd])
    pipe = make_pipeline(StandardScaler(), VAEAnomalyDetector(epochs=10, hidden=(16,), n_samples=20, random_state=0))
    pred = pipe.fit(x).predict(x)
    assert set(np.unique(pred)) <= {-1, 1} and (pred[-len(odd) :] == -1).mean() > 0.7
    holes = normal.copy()
    rng = np.random.default_rng(0)
    removed = rng.random(holes.shape) < 0.2
    removed[removed.all(1), 0] = False
    holes[removed] = np.nan

    def neg_mse(estimator, x_holes, _y=None):
        return -float(((estimator.transform(x_holes) - normal[: len(x_holes)])[np.isnan(x_holes)] ** 2).mean())

    search = GridSearchCV(
        VAEImputer(epochs=10, hidden=(16,), n_samples=20, n_train_samples=4, random_state=0),
        {"latent_dim": [1, 2]},
        scoring=neg_mse,
        cv=[(np.arange(150, 300), np.arange(0, 150))],
    )
    search.fit(holes)
    assert search.best_params_["latent_dim"] in (1, 2)
    assert np.isfinite(search.best_estimator_.transform(holes)).all()


def test_estimators_raise_sklearn_errors():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VAEImputer().transform(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        VAEAnomalyDetector().predict(np.zeros((2, 2)))
    x = np.random.default_rng(0).normal(size=(30, 3))
    x[:, 1] = np.nan
    with pytest.raises(ValueError, match="feature 1 has no observed value"):
        VAEImputer(epochs=1).fit(x)
    x[:, 1] = 0
    x[3] = np.nan
    with pytest.raises(ValueError, match="row 3 of X has no observed value"):
        VAEImputer(epochs=1).fit(x)
    with pytest.raises(ValueError, match="contamination"):
        VAEAnomalyDetector(contamination=0.7, epochs=1).fit(np.zeros((10, 2)))


def test_image_detector_flags_noise_among_digits():
    from sklearn.datasets import load_digits

    x = load_digits().data / 16.0  # rows of 64 flattened pixels in [0, 1]
    noise = np.random.default_rng(0).random((20, 64))
    detector = VAEAnomalyDetector(
        image_shape=(1, 8, 8),
        arch="conv",
        likelihood="bernoulli",
        hidden=(8, 16),
        epochs=5,
        n_samples=16,
        random_state=0,
    ).fit(x[:500])
    normality = detector.score_samples(np.vstack([x[1000:1100], noise]))
    assert normality.shape == (120,)
    assert normality[100:].max() < np.median(normality[:100]), "noise images are less normal than held-out digits"
