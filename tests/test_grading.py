"""`exam-pipeline grade`: graded copies, scores, and every awkward submission a class hands in.

Grading runs notebooks, so the slow parts are batched: one batch over the demo fixture
(tests/fixtures/00_grading_demo.ipynb, three exercises) and one batch per solved lesson.
"""

from __future__ import annotations

import copy
import csv
import io

import nbformat
import psutil
import pytest

from conftest import ROOT
from exam_pipeline import grading
from exam_pipeline.notebooks import check_cells, check_id, student_version

DEMO = ROOT / "tests" / "fixtures" / "00_grading_demo.ipynb"
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
TIMEOUT = 20.0  # generous for a loaded 2-core machine; the looping copy costs exactly this


def demo() -> nbformat.NotebookNode:
    return nbformat.read(DEMO, as_version=4)


def cell_with(nb: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.cell_type == "code" and text in c.source)


def check(nb: nbformat.NotebookNode, cid: str) -> nbformat.NotebookNode:
    return next(c for c in check_cells(nb) if check_id(c) == cid)


def variants() -> dict[str, nbformat.NotebookNode | str]:
    """Submissions a class might hand in, built from the demo solution."""
    out: dict[str, nbformat.NotebookNode | str] = {}
    nb = demo()  # first, so its time limit runs while the others are graded
    cell = cell_with(nb, "def difference")
    cell.source = cell.source.replace(
        'return class_mean("B") - class_mean("A")', "while True:\n        pass"
    )
    out["loop"] = nb

    out["solution"], out["student"] = demo(), student_version(demo())

    nb = demo()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    out["gutted"] = nb

    # Wrong answer to exercise 3, and the stored output of its check edited to match it.
    nb = demo()
    cell = cell_with(nb, "def difference")
    cell.source = cell.source.replace('return class_mean("B") - class_mean("A")', "return 0.0")
    check(nb, "00-ex3").outputs[0]["text"] = "difference: 0.0\n"
    out["edited_outputs"] = nb

    # Correct answers, but every check's source and stored output vandalised.
    nb = demo()
    for cell in check_cells(nb):
        cell.source = "assert False"
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="garbage\n")]
    out["edited_checks"] = nb

    # Run out of order: execution counts shuffled, stale outputs from an earlier state.
    nb = demo()
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = 40 - 3 * number
        if not cell.outputs:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    out["out_of_order"] = nb

    # Check 1 deleted, check 2 duplicated and changed, check 3 lost its tag (id kept).
    nb = demo()
    nb.cells.remove(check(nb, "00-ex1"))
    twin = copy.deepcopy(check(nb, "00-ex2"))
    twin.source, twin["id"] = "assert False", "twin"
    nb.cells.insert(nb.cells.index(check(nb, "00-ex2")), twin)
    del check(nb, "00-ex3").metadata["tags"]
    out["moved_checks"] = nb

    nb = demo()
    cell_with(nb, "def double").source = "def double(x) return 2 * x"
    out["syntax_error"] = nb

    out["invalid_json"] = '{"cells": [ not json'
    out["not_a_notebook"] = "[1, 2, 3]"
    return out


@pytest.fixture(scope="module")
def demo_grades(tmp_path_factory) -> dict[str, grading.Grade]:
    folder = tmp_path_factory.mktemp("submissions")
    paths = []
    for name, nb in variants().items():
        path = folder / f"{name}.ipynb"
        if isinstance(nb, str):
            path.write_text(nb, encoding="utf-8")
        else:
            nbformat.write(nb, path)
        paths.append(path)
    grades = grading.grade_all(DEMO, paths, timeout=TIMEOUT, jobs=2)
    return {g.submission.rsplit("/", 1)[-1].removesuffix(".ipynb"): g for g in grades}


def test_solution_scores_100(demo_grades):
    grade = demo_grades["solution"]
    assert (grade.passed, grade.total, grade.score, grade.status) == (3, 3, 100, "ok")


def test_untouched_student_version_scores_0(demo_grades):
    assert (demo_grades["student"].score, demo_grades["student"].status) == (0, "ok")


def test_gutted_notebook_scores_0(demo_grades):
    assert (demo_grades["gutted"].passed, demo_grades["gutted"].status) == (0, "ok")


def test_looping_notebook_times_out_and_keeps_earlier_checks(demo_grades):
    grade = demo_grades["loop"]
    assert grade.status.startswith("timeout")
    assert (grade.passed, grade.failed) == (2, ["00-ex3"])
    assert demo_grades["solution"].status == "ok", "the batch went on after the timeout"


def test_no_process_outlives_the_batch(demo_grades):
    leftovers = []
    for proc in psutil.process_iter(["cwd", "cmdline"]):
        try:
            if "exam-grade-" in (proc.info["cwd"] or ""):
                leftovers.append(proc.info["cmdline"])
        except psutil.Error:
            continue
    assert leftovers == []


def test_edited_check_outputs_have_no_effect(demo_grades):
    assert (demo_grades["edited_outputs"].passed, demo_grades["edited_outputs"].failed) == (
        2,
        ["00-ex3"],
    )
    assert demo_grades["edited_checks"].score == 100


def test_out_of_order_and_moved_checks(demo_grades):
    assert demo_grades["out_of_order"].score == 100
    assert demo_grades["moved_checks"].score == 100


def test_syntax_error_is_flagged_and_the_rest_graded(demo_grades):
    grade = demo_grades["syntax_error"]
    assert grade.status == "error: syntax error in code cell 2, line 1"
    assert (grade.passed, grade.failed) == (2, ["00-ex1"])


@pytest.mark.parametrize("name", ["invalid_json", "not_a_notebook"])
def test_unreadable_submission_is_an_error(demo_grades, name):
    grade = demo_grades[name]
    assert grade.status.startswith("error: not")
    assert (grade.passed, grade.total, grade.score) == (0, 3, 0)


# ------------------------------------------------------------------ the graded copy (no kernel)


def test_deleted_check_goes_back_after_the_students_answer():
    nb = demo()
    nb.cells.remove(check(nb, "00-ex2"))
    nb.cells.insert(3, nbformat.v4.new_code_cell("helper = 1"))
    graded = grading.graded_copy(demo(), nb)
    sources = [c.source for c in graded.cells]
    at = sources.index(check(demo(), "00-ex2").source)
    assert "def class_mean" in sources[at - 1] and "Exercise 3" in sources[at + 1]
    assert [check_id(c) for c in check_cells(graded)] == ["00-ex1", "00-ex2", "00-ex3"]


def test_student_cells_lose_outputs_and_check_marks():
    nb = demo()
    forged = nbformat.v4.new_code_cell("print('ok')", execution_count=1)
    forged.metadata.update(tags=["check", "raises-exception"], check_id="99-fake")
    nb.cells.append(forged)
    graded = grading.graded_copy(demo(), nb)
    assert [check_id(c) for c in check_cells(graded)] == ["00-ex1", "00-ex2", "00-ex3"]
    for cell in graded.cells:
        if cell.cell_type == "code" and check_id(cell) is None:
            assert (
                cell.outputs == [] and cell.execution_count is None and "tags" not in cell.metadata
            )
    reference = check(demo(), "00-ex3")
    assert check(graded, "00-ex3").outputs == reference.outputs and reference.execution_count


def test_summary_and_csv():
    grades = [
        grading.Grade("a.ipynb", 3, 3),
        grading.Grade("b.ipynb", 1, 3),
        grading.Grade("c.ipynb", 0, 3, status="timeout: stopped after 5 s"),
    ]
    rows = list(csv.DictReader(io.StringIO(grading.to_csv(grades))))
    assert list(rows[0]) == list(grading.CSV_COLUMNS)
    assert [r["score"] for r in rows] == ["100", "33.3", "0"]
    text = grading.summary(grades)
    assert "3 submissions, mean score 44.4" in text and "ok 2, timeout 1, error 0" in text
    assert "0-19 |   1 #\n" in text and "20-39 |   1 #\n" in text and "100 |   1 #\n" in text
    assert "40-59 |   0\n" in text


def test_cli_grades_and_writes_csv(run_cli, tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{", encoding="utf-8")
    out = tmp_path / "grades.csv"
    code, stdout, err = run_cli("grade", "--solution", DEMO, bad, "--out", out, "--timeout", "30")
    assert code == 0, err
    assert out.read_text().splitlines()[1].startswith(f"{bad},0,3,0,error: not valid JSON")
    assert "mean score 0.0" in stdout and f"Wrote {out}" in stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--solution", "nope.ipynb", "x.ipynb"], "no such file"),
        (["--solution", str(DEMO), "x.ipynb", "--timeout", "0"], "--timeout must be positive"),
        (["--solution", str(ROOT / "README.md"), "x.ipynb"], "not a readable notebook"),
    ],
)
def test_cli_user_errors(run_cli, tmp_path, args, message):
    code, _, err = run_cli("grade", *args, "--out", tmp_path / "g.csv")
    assert code == 2 and message in err and not (tmp_path / "g.csv").exists()


# ------------------------------------------------------------------ every solved lesson


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_lesson_grades(path, tmp_path):
    """The solution grades 100, the untouched student version less, a gutted copy 0."""
    gutted = tmp_path / "gutted.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells = nb.cells[:1]
    nbformat.write(nb, gutted)
    student = ROOT / "notebooks" / path.name
    solution, untouched, empty = grading.grade_all(
        path, [path, student, gutted], timeout=180, jobs=2
    )
    assert (solution.score, solution.status) == (100, "ok"), solution.failed
    assert untouched.status == "ok" and untouched.score < 100
    assert (empty.score, empty.status) == (0, "ok"), f"checks pass without any answer: {empty}"
