"""The engine registry: what each engine needs, and a base install without the engine libraries."""

from __future__ import annotations

import importlib.util

import pytest

from exam_pipeline import engines
from exam_pipeline.engines.base import Engine

OPTIONAL = {
    "luigi": ("luigi",),
    "prefect": ("prefect",),
    "dask": ("dask", "distributed"),
    "dagster": ("dagster",),
    "spark": ("pyspark",),  # and Java, which the fixture pretends is there
}


def test_every_engine_satisfies_the_protocol():
    for name, engine in engines.ENGINES.items():
        assert isinstance(engine, Engine), name
        assert engine.name == name and "lesson" in engine.lesson


@pytest.fixture
def without_engine_libraries(monkeypatch):
    """As after a base ``pip install .``: no engine library can be found (Java can)."""
    monkeypatch.setenv("JAVA_HOME", "/usr/lib/jvm/pretend")
    hidden = {lib for libs in OPTIONAL.values() for lib in libs}
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.split(".")[0] in hidden else real(name, *a),
    )


def test_a_base_install_offers_pandas_stream_and_steps(without_engine_libraries):
    assert engines.available() == ["pandas", "stream", "steps"]


@pytest.mark.parametrize("engine", sorted(OPTIONAL))
def test_the_cli_says_what_to_install(engine, without_engine_libraries, run_cli, capsys, tmp_path):
    code, _, err = run_cli("run", "--engine", engine, "--out", tmp_path / "o", "--db", "none")
    assert code == 2 and err.count("\n") == 1
    assert f"pip install {' '.join(OPTIONAL[engine])}" in err
    assert f"pip install 'exam-pipeline[{engine}]'" in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        run_cli("run", "--help")
    help_text = capsys.readouterr().out
    assert f"  {engine:<8} needs {', '.join(OPTIONAL[engine])}: " in help_text
    assert f"'exam-pipeline[{engine}]'" in help_text


def test_a_base_install_runs_the_base_engines(without_engine_libraries, run_cli, tmp_path):
    for engine in ("pandas", "stream", "steps"):
        code, _, err = run_cli("run", "--engine", engine, "--out", tmp_path / engine)
        assert code == 0, err


BLOCKER = """
import importlib.abc, importlib.util, sys
HIDDEN = {"luigi", "prefect", "dask", "distributed", "dagster", "pyspark"}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Hide())
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in HIDDEN else real(name, *a)
from exam_pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("engine", ["pandas", "stream", "steps"])
def test_base_engines_never_import_an_engine_library(engine, tmp_path):
    """In a fresh process that cannot import Luigi, Prefect or Dask, the base engines run."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, "run", "--engine", engine, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"Engine: {engine}." in done.stdout


def test_spark_without_java_says_to_install_a_java_runtime(monkeypatch):
    from exam_pipeline.engines import base

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(base.shutil, "which", lambda name, *a, **k: None)
    assert "java" in engines.missing("spark") and "spark" not in engines.available()
    assert "openjdk-17-jre-headless" in base.install_hint(engines.ENGINES["spark"])
