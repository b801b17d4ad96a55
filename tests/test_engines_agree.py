"""Every engine writes the same report.json figures as ``--engine pandas`` on the same input.

Parametrized over every registered engine, so an engine added later joins automatically; one
whose library (or, for Spark, Java runtime) is not installed here skips, saying what to install.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from exam_pipeline import engines
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import dataset_path, generate_scores
from exam_pipeline.core.report import read_report
from exam_pipeline.engines.base import install_hint

REL = 1e-9
#: Spark's cases take about a minute on 2 cores (the JVM, a job per pass): marked ``landscape``,
#: they run in ``make test-landscape``, not ``make test`` (see the Makefile's test target).
SLOW_HERE = {"spark"}
ENGINES = [
    pytest.param(
        name,
        marks=[
            pytest.mark.skipif(
                name not in engines.available(),
                reason=f"--engine {name} needs {', '.join(engines.missing(name)) or 'its module'}:"
                f" {install_hint(engines.ENGINES[name])}",
            ),
            *([pytest.mark.landscape] if name in SLOW_HERE else []),
        ],
    )
    for name in engines.ENGINES
]


def _messy(path: Path) -> Path:
    """30 k generated rows (about 1 % junk words, 1 % blanks) plus hand-made oddities."""
    generate_scores(path, rows=30_000, seed=7, effect=1.5)
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(
            "\n"  # a blank line
            "90001, B , 71 \n"  # spaces around both fields
            "90002,,80\n"  # missing group
            "90003,NA,80\n"  # a pandas NA token as the group
            "90004,A,nan\n"  # "nan" is not a number for pandas
            "90005,B,1_000\n"  # float() accepts this; pandas does not
            "90006,A,64.5\n"  # a decimal score
            "90007,B\n"  # a short row
            '90008,A,"66"\n'  # a quoted score
        )
    return path


def _semicolon(path: Path, source: Path) -> Path:
    """The messy file as a European spreadsheet saves it: ``;`` separators, decimal commas."""
    lines = source.read_text(encoding="utf-8").splitlines()
    out = [line.replace(",", ";") for line in lines]
    out += ["99001;A;71,5", "99002;B;80,25", "99003;B;7,5,1"]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("agree")
    messy = _messy(folder / "messy.csv")
    return {
        "messy-30k": (messy, "welch"),
        "semicolon-decimal-comma": (_semicolon(folder / "semicolon.csv", messy), "welch"),
        "real-valued-20k": (
            generate_scores(folder / "real.csv", rows=20_000, seed=8, effect=1.0, decimals=6),
            "welch",
        ),
        "lesson-student": (dataset_path(), "student"),
        "lesson-welch": (dataset_path(), "welch"),
    }


@pytest.fixture(scope="module")
def pandas_reports(inputs, tmp_path_factory) -> dict[str, dict]:
    """The reference: ``--engine pandas`` on each input, computed once."""
    out = tmp_path_factory.mktemp("pandas")
    return {
        name: engines.run(
            RunConfig(input=path, out=out / name, engine="pandas", test=test, db="none")
        )
        for name, (path, test) in inputs.items()
    }


def assert_same_figures(got: dict, want: dict) -> None:
    """Every figure to 1e-9: the median, quartiles, min and max are exact in every engine."""
    for key in ("t", "df", "p", "difference", "ci_low", "ci_high", "hedges_g", "confidence"):
        assert math.isclose(got[key], want[key], rel_tol=REL), (key, got[key], want[key])
    for key in ("test", "alpha", "significant", "rows_read", "rows_dropped"):
        assert got[key] == want[key], (key, got[key], want[key])
    assert list(got["groups"]) == list(want["groups"])
    for label, group in want["groups"].items():
        assert got["groups"][label]["n"] == group["n"], label
        for key in ("mean", "std", "median", "min", "max"):
            mine, ref = got["groups"][label][key], group[key]
            assert math.isclose(mine, ref, rel_tol=REL), (label, key, mine, ref)


def test_the_reference_engines_are_installed():
    assert {"pandas", "stream"} <= set(engines.available())


@pytest.mark.parametrize(
    "data",
    ["messy-30k", "semicolon-decimal-comma", "real-valued-20k", "lesson-student", "lesson-welch"],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_matches_pandas(engine, data, inputs, pandas_reports, tmp_path):
    path, test = inputs[data]
    config = RunConfig(input=path, out=tmp_path / "out", engine=engine, test=test, db="none")
    returned = engines.run(config)
    written = read_report(tmp_path / "out" / "report.json")
    assert written == json.loads(json.dumps(returned)), (
        "report.json differs from the returned report"
    )
    assert written["engine"] == engine
    assert_same_figures(written, pandas_reports[data])


def test_the_messy_input_really_is_messy(pandas_reports):
    """Guard against a fixture that silently stopped exercising the cleaning rules."""
    report = pandas_reports["messy-30k"]
    assert report["rows_read"] == 30_008
    assert 400 < report["rows_dropped"] < 900
    semicolon = pandas_reports["semicolon-decimal-comma"]
    assert semicolon["rows_read"] == 30_011
    assert semicolon["rows_dropped"] == report["rows_dropped"] + 1  # "7,5,1" is junk
