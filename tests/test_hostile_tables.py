"""Tables that used to lie (issue 14): missing-value spellings, `;` and decimal commas, byte-order marks, text
in numeric columns, values near 1e308 and cells that overflow. Each bad table ends in one ``error:`` line
naming the cells, or in a result whose every number is finite; what the reader decided is logged."""

from __future__ import annotations

import csv
import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import expect_error, one_thread
from vaekit.cli import main

FIT = ["--epochs", "2", "--hidden", "8", "--k", "8"]
IMPUTE = ["--epochs", "2", "--hidden", "8", "--k", "8"]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def _numbers(n: int = 60, seed: int = 0) -> np.ndarray:
    """Three correlated columns, rounded to 4 decimals."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    return np.c_[t, 2 * t + 0.1 * rng.normal(size=n), -t + 0.1 * rng.normal(size=n)].round(4)


def _write(path, rows, *, header=("a", "b", "c"), sep=",", decimal=".", bom=False):
    """Rows of numbers or text cells, written with ``sep`` and ``decimal`` (and a UTF-8 byte-order mark)."""

    def cell(value):
        return value if isinstance(value, str) else repr(float(value)).replace(".", decimal)

    lines = [sep.join(header)] + [sep.join(cell(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def _csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _floats(path) -> np.ndarray:
    """Every cell of a CSV written by vaekit as a float (ValueError for text), header skipped."""
    return np.array([[float(c) for c in row] for row in _csv(path)[1:]])


def _strict_json(path):
    """JSON without the Infinity/NaN extensions Python writes by default."""

    def refuse(name):
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    train = _write(folder / "train.csv", _numbers())
    run = folder / "det"
    with one_thread():
        assert main(["anomaly", "fit", "--data", str(train), "--out", str(run), *FIT]) == 0
    return folder, run


# 4. missing-value spellings, separators, decimal commas, text in numeric columns --------------------------------
SPELLINGS = ["NA", "?", "N/A", "null", "None", "", "#N/A", "<NA>", "NULL", "nan", "n/a", "-NaN"]


def test_impute_reads_the_common_missing_spellings_and_says_which(tmp_path, capsys, caplog):
    rows = _numbers().tolist()
    for i, spelling in enumerate(SPELLINGS):
        rows[4 * i + 1][1] = spelling
    _write(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    caplog.set_level(logging.INFO)
    assert main(["impute", "--data", str(tmp_path / "in.csv"), "-o", str(out), *IMPUTE]) == 0
    assert f"{len(SPELLINGS)} missing cells" in capsys.readouterr().out
    filled = _floats(out)  # column b stayed numeric: every cell is a number
    assert filled.shape == (60, 3) and np.isfinite(filled).all()
    said = [r.getMessage() for r in caplog.records if "read as missing" in r.getMessage()]
    assert len(said) == 1 and f"{len(SPELLINGS)} cells read as missing" in said[0], said
    assert all(repr(s) in said[0] for s in SPELLINGS if s) and "empty x1" in said[0]


def test_anomaly_fit_names_a_missing_cell_and_its_spelling(tmp_path, capsys):
    rows = _numbers().tolist()
    rows[6][2] = "NA"
    _write(tmp_path / "na.csv", rows)
    expect_error(
        capsys,
        ["anomaly", "fit", "--data", str(tmp_path / "na.csv"), "--out", str(tmp_path / "r"), *FIT],
        "line 8, column 'c' is empty ('NA' reads as missing)",
    )
    assert not (tmp_path / "r").exists()


def test_semicolons_and_decimal_commas_read_as_the_plain_file(detector, tmp_path, capsys, caplog):
    _, run = detector
    x = _numbers()
    plain = _write(tmp_path / "plain.csv", x)
    european = _write(tmp_path / "eu.csv", x, sep=";", decimal=",")
    semicolons = _write(tmp_path / "semi.csv", x, sep=";")
    caplog.set_level(logging.INFO)
    # anomaly score: detected, and given with --sep/--decimal, the scores are those of the plain file
    scores = []
    for i, (data, extra) in enumerate(
        [(plain, []), (european, []), (european, ["--sep", ";", "--decimal", ","]), (semicolons, [])]
    ):
        out = tmp_path / f"scores-{i}.csv"
        assert main(["anomaly", "score", str(run), "--data", str(data), "-o", str(out), *extra]) == 0
        scores.append(out.read_text())
    assert scores[1:] == scores[:1] * 3
    assert any("separator ';' and a decimal comma" in r.getMessage() for r in caplog.records)
    # impute: the same numbers in, the same table out (a plain CSV)
    outputs = []
    for data in (plain, european, semicolons):
        out = tmp_path / f"filled-{data.stem}.csv"
        assert main(["impute", "--data", str(data), "-o", str(out), "--remove", "0.2", *IMPUTE]) == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] == outputs[2] and outputs[0].startswith("a,b,c\n")
    # a separator that does not fit says so
    capsys.readouterr()
    expect_error(
        capsys, ["impute", "--data", str(plain), "-o", str(tmp_path / "x.csv"), "--sep", ";", *IMPUTE], "one column"
    )
    expect_error(
        capsys,
        ["anomaly", "score", str(run), "--data", str(plain), "-o", str(tmp_path / "x.csv"), "--decimal", ";"],
        "decimal mark",
    )
    assert not (tmp_path / "x.csv").exists()


def test_a_mostly_numeric_column_with_text_is_an_error_naming_the_cells(tmp_path, capsys):
    rows = _numbers().tolist()
    rows[4][0], rows[7][0], rows[30][0] = "abc", "1.2.3", "12 kg"
    _write(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    for argv in (
        ["impute", "--data", str(tmp_path / "in.csv"), "-o", str(out), *IMPUTE],
        ["anomaly", "fit", "--data", str(tmp_path / "in.csv"), "--out", str(tmp_path / "r"), *FIT],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0], err
        assert "3 of its cells are not" in err[0] and "line 6 'abc', line 9 '1.2.3', line 32 '12 kg'" in err[0], err
    assert not out.exists() and not (tmp_path / "r").exists()
    # quoted decimal commas in a file separated by commas are not guessed at either (nor made text levels)
    x = _numbers()
    lines = ["a,b,c"] + [f'"{str(r[0]).replace(".", ",")}",{r[1]!r},{r[2]!r}' for r in x.tolist()]
    (tmp_path / "commas.csv").write_text("\n".join(lines) + "\n")
    expect_error(capsys, ["impute", "--data", str(tmp_path / "commas.csv"), "-o", str(out), *IMPUTE], "line 2 '")
    assert not out.exists()


# 5. extreme values ------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow on the way
def test_anomaly_fit_standardises_near_1e308_and_flags_those_rows(tmp_path, capsys):
    rows = _numbers().tolist()
    rows[5][2], rows[9][2] = 1e308, -1.5e308  # their mean is finite, their variance is not
    train = _write(tmp_path / "big.csv", rows)
    run = tmp_path / "det"
    assert main(["anomaly", "fit", "--data", str(train), "--out", str(run), *FIT]) == 0
    record = _strict_json(run / "anomaly.json")
    assert all(np.isfinite(record["scale"])) and all(np.isfinite(record["center"]))
    assert 0 < record["scale"][2] < 1.8e308
    out = tmp_path / "scores.csv"
    assert main(["anomaly", "score", str(run), "--data", str(train), "-o", str(out)]) == 0
    scores = _floats(out)
    assert np.isfinite(scores).all()
    assert set(np.argsort(scores[:, 0])[-2:]) == {5, 9} and scores[[5, 9], 1].tolist() == [1, 1]


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow on the way
def test_anomaly_score_gives_rows_far_outside_training_finite_top_scores(detector, tmp_path, capsys, caplog):
    _, run = detector
    rows = _numbers(seed=1).tolist()
    rows[3][2], rows[11] = 1e308, [-1.7e308, 1.7e308, 5.0]
    data = _write(tmp_path / "far.csv", rows)
    out = tmp_path / "scores.csv"
    caplog.set_level(logging.INFO)
    assert main(["anomaly", "score", str(run), "--data", str(data), "-o", str(out)]) == 0
    scores = _floats(out)
    assert np.isfinite(scores).all()
    assert set(np.argsort(scores[:, 0])[-2:]) == {3, 11} and scores[[3, 11], 1].tolist() == [1, 1]
    assert any("standard deviations outside the training data" in r.getMessage() for r in caplog.records)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow on the way
def test_impute_with_a_value_near_1e308_writes_finite_numbers(tmp_path, capsys):
    rows = _numbers().tolist()
    rows[5][2] = 1e308
    rows[10][2] = rows[20][2] = ""
    _write(tmp_path / "in.csv", rows)
    for extra in ([], ["--n-imputations", "3"]):  # the draws used to come out as inf
        out = tmp_path / "out.csv"
        assert main(["impute", "--data", str(tmp_path / "in.csv"), "-o", str(out), *IMPUTE, *extra]) == 0
        filled = _floats(out)
        assert filled.shape == ((180, 5) if extra else (60, 3)) and np.isfinite(filled).all()


@pytest.mark.parametrize("cell", ["1e999", "-inf", "Infinity"])
def test_infinite_or_overflowing_cells_are_errors_naming_the_cell(detector, tmp_path, capsys, cell):
    _, run = detector
    rows = _numbers().tolist()
    rows[2][1] = cell
    data = _write(tmp_path / "in.csv", rows)
    pattern = f"line 4, column 'b': {cell!r} is not finite"
    expect_error(capsys, ["impute", "--data", str(data), "-o", str(tmp_path / "o.csv"), *IMPUTE], pattern)
    expect_error(capsys, ["anomaly", "fit", "--data", str(data), "--out", str(tmp_path / "r"), *FIT], pattern)
    expect_error(capsys, ["anomaly", "score", str(run), "--data", str(data), "-o", str(tmp_path / "s.csv")], pattern)
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "r").exists() and not (tmp_path / "s.csv").exists()


# 6. byte-order mark -----------------------------------------------------------------------------------------------
def test_a_byte_order_mark_is_not_part_of_the_first_name(detector, tmp_path, capsys):
    _, run = detector
    x = _numbers(seed=2)
    plain = _write(tmp_path / "plain.csv", x)
    marked = _write(tmp_path / "bom.csv", x, bom=True)
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    for data in (plain, marked):
        assert (
            main(["anomaly", "score", str(run), "--data", str(data), "-o", str(tmp_path / f"{data.stem}-s.csv")]) == 0
        )
    assert (tmp_path / "plain-s.csv").read_text() == (tmp_path / "bom-s.csv").read_text()
    # a detector fitted on the marked file scores the plain one, and impute keeps the plain name
    assert main(["anomaly", "fit", "--data", str(marked), "--out", str(tmp_path / "det"), *FIT]) == 0
    assert _strict_json(tmp_path / "det" / "anomaly.json")["columns"] == ["a", "b", "c"]
    assert main(["anomaly", "score", str(tmp_path / "det"), "--data", str(plain), "-o", str(tmp_path / "p.csv")]) == 0
    assert main(["impute", "--data", str(marked), "-o", str(tmp_path / "out.csv"), "--remove", "0.1", *IMPUTE]) == 0
    assert _csv(tmp_path / "out.csv")[0] == ["a", "b", "c"]


# registered data sets and progress ----------------------------------------------------------------------------------
def test_impute_on_a_registered_data_set_says_which_split_and_takes_another(tmp_path, capsys, caplog):
    from vaekit.data.registry import load_dataset

    caplog.set_level(logging.INFO)
    out = tmp_path / "digits.csv"
    argv = ["impute", "--data", "digits", "--split", "test", "--remove", "0.05", "-o", str(out)]
    assert main([*argv, "--epochs", "1", "--hidden", "8", "--k", "4"]) == 0
    assert len(_csv(out)) - 1 == len(load_dataset("digits").split("test"))
    assert any("digits: using its test split" in r.getMessage() for r in caplog.records)


def test_training_shows_a_progress_bar_on_a_terminal_and_stays_quiet_otherwise(tmp_path, capsys, monkeypatch):
    from vaekit.apps import anomaly_files
    from vaekit.apps import imputation as imputation_apps
    from vaekit.cli import tables as tables_cli

    train = _write(tmp_path / "t.csv", _numbers())
    seen: list = []

    def spy(real):
        def call(*args, **options):
            seen.append(list(options.get("callbacks", ())))
            return real(*args, **options)

        return call

    monkeypatch.setattr(anomaly_files, "fit_detector_on", spy(anomaly_files.fit_detector_on))
    monkeypatch.setattr(imputation_apps, "impute_table", spy(imputation_apps.impute_table))
    fit = ["anomaly", "fit", "--data", str(train), "--out", str(tmp_path / "r1"), *FIT]
    impute = ["impute", "--data", str(train), "--remove", "0.1", "-o", str(tmp_path / "o.csv"), *IMPUTE]
    # not a terminal: no bar, nothing on stderr, one line on stdout
    assert main(fit) == 0 and main(impute) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.splitlines()) == 3, captured
    assert seen == [[], []]
    # a terminal: a bar over the epochs of each training run
    monkeypatch.setattr(tables_cli, "sys", SimpleNamespace(stderr=SimpleNamespace(isatty=lambda: True)))
    fit[fit.index(str(tmp_path / "r1"))] = str(tmp_path / "r2")
    assert main(fit) == 0 and main(impute) == 0
    bars = [callbacks[0] for callbacks in seen[2:]]
    assert len(bars) == 2 and all(hasattr(bar, "on_epoch_end") for bar in bars)
    assert bars[0].runs == 4, "anomaly fit trains two models twice each (trim) and shows every run"
    assert all(bar.progress.tasks[0].completed == 2 for bar in bars)
