"""Lesson 12's Airflow DAG, run with ``dag.test()`` in ``.venv-airflow`` (``make airflow``).

Airflow 3.3 cannot share the course venv (fastapi), so the DAG runs in a subprocess there, its
whole state (airflow.cfg, the SQLite metadata database, DAGs folder, logs) in a temporary
AIRFLOW_HOME. Skipped, saying why, where ``make airflow`` has not been run; slow (about 30 s),
so it runs with EXAM_LANDSCAPE_SLOW=1 (``make test-landscape``, after ``make airflow`` in CI).
"""

from __future__ import annotations

import os

import pytest

from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import generate_scores
from exam_pipeline.engines.pipeline import run_pipeline
from exam_pipeline.lessons import airflow_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.landscape,
    pytest.mark.skipif(
        airflow_run.airflow_python() is None,
        reason=f"no Airflow venv at {airflow_run.airflow_venv()}: run `make airflow`",
    ),
    pytest.mark.skipif(
        not os.environ.get("EXAM_LANDSCAPE_SLOW"), reason="slow: EXAM_LANDSCAPE_SLOW=1"
    ),
]


def test_the_exam_dag_gives_the_pandas_figures(tmp_path):
    csv = generate_scores(tmp_path / "messy.csv", rows=5_000, seed=3, effect=1.5)
    home = tmp_path / "airflow-home"
    found = airflow_run.run_dag(tmp_path / "out", home, source=csv, test="student")
    assert found["tasks"] == dict.fromkeys(
        ["clean", "load", "report", "summarize", "ttest"], "success"
    )
    got = found["report"]
    want = run_pipeline(RunConfig(input=csv, out=tmp_path / "pandas", test="student", db="none"))
    assert got["engine"] == "airflow" and got["test"] == "student"
    for key in ("t", "df", "p", "rows_read", "rows_dropped", "ci_low", "ci_high"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    for label, group in want["groups"].items():
        assert got["groups"][label] == pytest.approx(group, rel=1e-9), label
    rejected = (tmp_path / "out" / "rejected.csv").read_bytes()
    assert rejected == (tmp_path / "pandas" / "rejected.csv").read_bytes()
    # Everything Airflow keeps is in its home: the database, the DAG file, its logs.
    assert (home / "airflow.db").is_file() and (home / "dags" / "exam_scores_dag.py").is_file()
    assert not airflow_run.migrate(home), "a second run reuses the migrated database"


def test_a_failing_task_is_reported(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Class,Score\nA,1\nA,2\nB,x\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="the Airflow DAG failed"):
        airflow_run.run_dag(tmp_path / "out", tmp_path / "home", source=bad)
