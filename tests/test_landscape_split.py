"""``make test`` leaves lesson 12's slow cases to ``make test-landscape``: this keeps them there.

The Makefile's ``test`` target deselects the ``landscape`` marker (lesson 12's notebooks, the
Spark engine's cases); ``test-landscape`` selects it over ``LANDSCAPE_TESTS``. If a rename or a
lost marker made test-landscape collect nothing of them, both runs would pass without ever
running lesson 12: this test, part of ``make test``, collects test-landscape's selection (no
kernel starts: about 2 s) and fails when a piece is missing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def makefile_variable(name: str) -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(rf"^{name} := (.*)$", text, re.MULTILINE)
    assert found, f"the Makefile no longer defines {name}"
    return found.group(1).split()


def recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(rf"^{target}:.*\n\t(.*)$", text, re.MULTILINE)
    assert found, f"the Makefile has no {target} target"
    return found.group(1)


def test_make_test_leaves_the_landscape_cases_to_test_landscape():
    assert '-m "not landscape"' in recipe("test"), recipe("test")
    assert "-m landscape $(LANDSCAPE_TESTS)" in recipe("test-landscape"), recipe("test-landscape")


def test_test_landscape_collects_lesson_12_and_the_spark_cases():
    files = makefile_variable("LANDSCAPE_TESTS")
    env = {**os.environ, "EXAM_PIPELINE_TEST_SERVER": "0"}  # collecting needs no Prefect server
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "landscape", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    ids = listed.stdout.splitlines()
    wanted = {
        "the solution notebook": "solutions/12_landscape.ipynb::Cell 0",
        "the student notebook": "notebooks/12_landscape.ipynb::Cell 0",
        "the exercises' wrong answers": "solutions/12_landscape.ipynb::12-ex1 wrong 1",
        "Spark against pandas": "tests/test_engines_agree.py::test_engine_matches_pandas[spark-",
        "Spark on degenerate files": "test_every_engine_answers_degenerate_files_alike[spark]",
        "the Spark cluster": "tests/test_spark_cluster.py::",
        "the Airflow DAG": "tests/test_airflow.py::",
    }
    lost = [what for what, start in wanted.items() if not any(start in i for i in ids)]
    assert not lost, f"make test-landscape no longer collects: {', '.join(lost)}"


def test_make_test_leaves_the_student_notebooks_to_test_students():
    """The student notebooks are not dropped: ``make test-students`` (CI) collects every one."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^testpaths = \["tests", "solutions"\]', pyproject, re.MULTILINE)
    assert recipe("test-students").split("$(PYTEST_ARGS)")[0].rstrip().endswith("notebooks")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\nmake test-students\n" in ci, "CI no longer runs make test-students"
    lessons = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(lessons) >= 13, lessons
