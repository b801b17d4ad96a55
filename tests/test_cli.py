"""The exam-pipeline command as a user runs it: outputs, defaults, and every bad-input case."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

import exam_pipeline
from exam_pipeline.core.report import read_report
from exam_pipeline.core.sinks import read_runs
from support.processes import free_port

REPORT_KEYS = {
    "difference",
    "confidence",
    "ci_low",
    "ci_high",
    "hedges_g",
    "engine",
    "test",
    "alpha",
    "t",
    "df",
    "p",
    "significant",
    "rows_read",
    "rows_dropped",
    "groups",
}
GROUP_KEYS = {"n", "mean", "std", "median", "min", "max"}
GOOD = "Class,Score\nA,65\nA,70\nA,68\nB,78\nB,82\nB,80\n"


def test_default_run_on_lesson_data(run_cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("run", "--out", out)
    assert code == 0, stderr
    report = read_report(out / "report.json")
    assert set(report) == REPORT_KEYS
    assert set(report["groups"]) == {"A", "B"}
    assert all(set(g) == GROUP_KEYS for g in report["groups"].values())
    assert (report["engine"], report["test"], report["alpha"]) == ("pandas", "welch", 0.05)
    assert report["groups"]["A"]["mean"] == pytest.approx(68.2)
    assert round(report["t"], 2) == -8.07 and report["significant"] is True
    assert (report["rows_read"], report["rows_dropped"]) == (10, 0)
    md = (out / "report.md").read_text()
    assert "p < 0.001" in md and "Welch" in md and "statistically significant" in md
    assert (out / "scores_boxplot.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "rejected.csv").read_text() == "line,group,score,reason\n"
    runs = read_runs(f"sqlite:///{out / 'results.db'}")
    assert len(runs) == 1 and runs[0]["engine"] == "pandas" and runs[0]["n_a"] == 5
    assert "Wrote" in stdout and "Conclusion" in stdout


def test_student_test_and_custom_columns(run_cli, write_csv, tmp_path):
    path = write_csv("Section;Mark\nX;1,5\nX;2,5\nX;3\nY;7\nY;8,5\nY;9\n")
    out = tmp_path / "o"
    code, _, err = run_cli(
        "run",
        "--input",
        path,
        "--out",
        out,
        "--test",
        "student",
        "--group-col",
        "Section",
        "--value-col",
        "Mark",
        "--db",
        "none",
        "--alpha",
        "0.01",
    )
    assert code == 0, err
    report = read_report(out / "report.json")
    assert report["df"] == 4 and report["groups"]["X"]["mean"] == pytest.approx(7 / 3)
    assert not (out / "results.db").exists()


def test_messy_rows_are_quarantined(run_cli, write_csv, tmp_path):
    path = write_csv(GOOD + "A,absent\nB,\n")
    code, _, _ = run_cli("run", "--input", path, "--out", tmp_path / "o")
    assert code == 0
    report = read_report(tmp_path / "o" / "report.json")
    assert (report["rows_read"], report["rows_dropped"]) == (8, 2)
    rejected = (tmp_path / "o" / "rejected.csv").read_text().splitlines()
    assert rejected[1:] == ["8,A,absent,non-numeric score", "9,B,,missing score"]


@pytest.mark.parametrize("engine", ["pandas", "stream", "steps", "luigi", "dask"])
def test_database_that_does_not_answer_is_one_line(engine, run_cli, tmp_path):
    """A PostgreSQL URL is handed to SQLAlchemy; with no server there, the driver's two-line
    "connection refused" becomes one line on stderr, exit status 2, and no file in --out."""
    url = f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/none"
    out = tmp_path / "o"
    code, _, err = run_cli("run", "--engine", engine, "--out", out, "--db", url)
    assert code == 2, err
    assert err.startswith(f"exam-pipeline: error: --db {url}: could not save the run")
    assert err.count("\n") == 1 and "Connection refused" in err
    assert not out.exists(), f"--out was left behind: {sorted(p.name for p in out.iterdir())}"


def test_one_line_joins_the_lines_of_a_message():
    from exam_pipeline.cli import one_line

    assert one_line("failed: refused\n\tIs the server running?\n") == (
        "failed: refused; Is the server running?"
    )
    assert one_line("one line") == "one line"


BAD_INPUTS = {
    "missing file": (None, "no such file"),
    "empty file": ("", "the file is empty"),
    "header only": ("Class,Score\n", "has a header but no data rows"),
    "missing column": (
        "Group,Points\nA,1\n",
        "missing columns 'Class', 'Score'; the columns found are 'Group', 'Points'",
    ),
    "missing one column": (
        "Class,Points\nA,1\n",
        "missing column 'Score'; the columns found are 'Class', 'Points'",
    ),
    "one group": ("Class,Score\nA,1\nA,2\n", "exactly 2 groups to compare, found 1: 'A'"),
    "three groups": ("Class,Score\nA,1\nA,2\nB,3\nB,4\nC,5\nC,6\n", "found 3: 'A', 'B', 'C'"),
    "too few scores": (
        "Class,Score\nA,1\nA,2\nB,3\nB,x\n",
        "at least 2 valid 'Score' values; 'B' has 1",
    ),
    "all junk in one group": ("Class,Score\nA,1\nA,2\nB,x\nB,y\n", "'B' has 0"),
    "no numeric score": ("Class,Score\nA,x\nB,y\n", "has no numeric value at all"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
    "not utf-8": (b"Class,Score\nA,1\n" + "Ä,2\n".encode("latin-1"), "is not UTF-8 text"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_clear_line_and_writes_nothing(case, run_cli, write_csv, tmp_path):
    content, expected = BAD_INPUTS[case]
    path = tmp_path / "absent.csv" if content is None else write_csv(content)
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", "--input", path, "--out", out)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("exam-pipeline: error: ")
    assert expected in err
    assert str(path) in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--alpha", "0"], "--alpha must be between 0 and 1"),
        (["--alpha", "1.5"], "--alpha must be between 0 and 1"),
        (["--engine", "ray"], "--engine 'ray' is not available; choose one of: pandas"),
        (["--test", "paired"], "--test must be 'welch' or 'student'"),
    ],
)
def test_bad_options(args, expected, run_cli, tmp_path):
    code, _, err = run_cli("run", "--out", tmp_path / "o", *args)
    assert code == 2 and expected in err
    assert not (tmp_path / "o").exists()


def test_directory_as_input_and_file_as_out(run_cli, tmp_path):
    code, _, err = run_cli("run", "--input", tmp_path, "--out", tmp_path / "o")
    assert code == 2 and "is a directory, expected a CSV file" in err
    existing = tmp_path / "taken.txt"
    existing.write_text("x")
    code, _, err = run_cli("run", "--out", existing)
    assert code == 2 and "is an existing file, expected a folder" in err
    assert existing.read_text() == "x"


def test_python_dash_m_has_no_traceback(tmp_path):
    """``python -m exam_pipeline``, as a student types it where the script is not on PATH."""
    proc = subprocess.run(
        [sys.executable, "-m", "exam_pipeline", "run", "--input", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no such file" in proc.stderr


def test_version_is_the_installed_one():
    """The console script prints the version pip installed (pyproject reads __version__)."""
    script = Path(sys.executable).with_name("exam-pipeline")
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"exam-pipeline {importlib.metadata.version('exam-pipeline')}\n"
    assert proc.stdout == f"exam-pipeline {exam_pipeline.__version__}\n"


def test_help_lists_engines(capsys):
    from exam_pipeline.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "pandas" in capsys.readouterr().out


def test_an_engine_whose_library_is_missing_says_what_to_install(run_cli, monkeypatch, capsys):
    import importlib.util

    from exam_pipeline import engines

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "luigi" else real(name, *a)
    )
    assert "luigi" not in engines.available() and "pandas" in engines.available()
    code, _, err = run_cli("run", "--engine", "luigi", "--db", "none")
    assert code == 2 and "needs luigi" in err and "pip install luigi" in err
    with pytest.raises(SystemExit):
        run_cli("run", "--help")
    assert "not installed here:\n  luigi" in capsys.readouterr().out
