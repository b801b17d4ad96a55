"""`exam-pipeline grade`: graded copies, scores, and every awkward submission a class hands in.

Grading runs notebooks, so only one batch really runs: the demo fixture
(tests/fixtures/00_grading_demo.ipynb, three exercises) in every awkward form. Each solved
lesson is checked without a kernel, from what `make test` already runs (see "every solved
lesson" below); EXAM_GRADE_LESSONS=1 (``make grade-lessons``, which CI runs) grades every lesson
for real too.
"""

from __future__ import annotations

import ast
import builtins
import copy
import csv
import html
import io
import os
from pathlib import Path

import nbformat
import psutil
import pytest

from conftest import ROOT
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.course import feedback, grading
from exam_pipeline.course.notebooks import (
    check_cells,
    check_id,
    exercises,
    lesson_paths,
    replace_region,
    solution_regions,
    student_version,
)
from support.wrong_answers import load_wrong_answers, wrong_answers_file

DEMO = ROOT / "tests" / "fixtures" / "00_grading_demo.ipynb"
SOLUTIONS = lesson_paths(ROOT / "solutions")
# A demo submission takes 3-5 s on a loaded 2-core machine, but once took over 12 s there (a slow
# spell, beside the three heaviest test files). The looping copy costs exactly this much wall
# time, asleep, while the other submissions are graded beside it; the worker waits that long.
TIMEOUT = 20.0


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
    # Never returns. It sleeps as it loops, so its 20 s hold no core the rest of the suite needs;
    # the time limit stops a busy loop in the same way (the kernel's whole tree is killed).
    cell.source = cell.source.replace(
        'return class_mean("B") - class_mean("A")',
        "import time\n    while True:\n        time.sleep(0.05)",
    )
    out["loop"] = nb

    out["solution"], out["student"] = demo(), student_version(demo())

    # Every answer deleted, the checks kept: each check fails, the status stays ok.
    nb = demo()
    nb.cells = [c for c in nb.cells if c.cell_type == "markdown" or check_id(c)]
    out["gutted"] = nb

    # Dead kernels, each after the first check passed: the process exits, a signal kills it.
    # Each would wait out the whole time limit without the watchdog.
    for name, code in {
        "os_exit": "import os\nos._exit(0)",
        "killed": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "sys_exit": "import sys\nsys.exit(3)",
    }.items():
        nb = demo()
        nb.cells.insert(nb.cells.index(check(nb, "00-ex1")) + 1, nbformat.v4.new_code_cell(code))
        out[name] = nb
    # ... and a wrong answer to exercise 2 after the sys.exit(), for the feedback's sake.
    cell = cell_with(out["sys_exit"], "def class_mean")
    cell.source = cell.source.replace("return sum(values) / len(values)", "return 0")

    # Tampering, two kinds in one submission (each graded submission costs a kernel): a wrong
    # answer to exercise 3 with the stored output of its check edited to match it, and the
    # checks of the two right answers vandalised (source and output).
    nb = demo()
    cell = cell_with(nb, "def difference")
    cell.source = cell.source.replace('return class_mean("B") - class_mean("A")', "return 0.0")
    check(nb, "00-ex3").outputs[0]["text"] = "difference: 0.0\n"
    for cid in ("00-ex1", "00-ex2"):
        check(nb, cid).source = "assert False"
        check(nb, cid).outputs = [nbformat.v4.new_output("stream", name="stdout", text="garbage\n")]
    out["tampered"] = nb

    # Run out of order (execution counts shuffled, stale outputs from an earlier state), and the
    # checks moved: check 1 deleted, check 2 duplicated and changed, check 3 lost its tag.
    nb = demo()
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = 40 - 3 * number
        if not cell.outputs:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    nb.cells.remove(check(nb, "00-ex1"))
    twin = copy.deepcopy(check(nb, "00-ex2"))
    twin.source, twin["id"] = "assert False", "twin"
    nb.cells.insert(nb.cells.index(check(nb, "00-ex2")), twin)
    del check(nb, "00-ex3").metadata["tags"]
    out["reordered"] = nb

    nb = demo()
    cell_with(nb, "def double").source = "def double(x) return 2 * x"
    out["syntax_error"] = nb

    out["invalid_json"] = '{"cells": [ not json'
    out["not_a_notebook"] = "[1, 2, 3]"

    # Not this lesson's notebook: nothing of the demo in it, or another lesson's title.
    nb = demo()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    out["no_checks"] = nb
    nb = demo()
    nb.cells[0].source = "# 04 - Pipelines as Luigi tasks\n\nThe wrong notebook."
    out["other_lesson"] = nb
    return out


@pytest.fixture(scope="module")
def demo_paths(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("submissions")
    paths = []
    for name, nb in variants().items():
        path = folder / f"{name}.ipynb"
        if isinstance(nb, str):
            path.write_text(nb, encoding="utf-8")
        else:
            nbformat.write(nb, path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def demo_grades(demo_paths) -> dict[str, grading.Grade]:
    grades = grading.grade_all(DEMO, demo_paths, timeout=TIMEOUT, jobs=2)
    return {g.submission.rsplit("/", 1)[-1].removesuffix(".ipynb"): g for g in grades}


def test_solution_scores_100(demo_grades):
    grade = demo_grades["solution"]
    assert (grade.passed, grade.total, grade.score, grade.status) == (3, 3, 100, "ok")


def test_untouched_student_version_scores_0(demo_grades):
    assert (demo_grades["student"].score, demo_grades["student"].status) == (0, "ok")


def test_gutted_notebook_scores_0(demo_grades):
    assert (demo_grades["gutted"].passed, demo_grades["gutted"].status) == (0, "ok")
    assert [c.message for c in demo_grades["gutted"].checks] == [
        "NameError: name 'double' is not defined",
        "NameError: name 'class_mean' is not defined",
        "NameError: name 'difference' is not defined",
    ]


@pytest.mark.parametrize("name", ["os_exit", "killed"])
def test_dead_kernel_ends_the_submission_at_once(demo_grades, name):
    """Code cell 4 (just after check 1, cell 3) ends the kernel; check 1 passed before it.

    The run ends within seconds: without the watchdog it would wait out the whole time limit,
    which the timeout status would show.
    """
    grade = demo_grades[name]
    assert grade.status == "error: the kernel died in cell 4", grade.status
    assert (grade.passed, grade.failed) == (1, ["00-ex2", "00-ex3"])
    assert grade.checks[1].message == "not run: the kernel died in cell 4"


def test_sys_exit_is_reported_and_the_rest_graded(demo_grades):
    """IPython catches SystemExit: the kernel lives on, so the later checks still run."""
    grade = demo_grades["sys_exit"]
    assert (grade.status, grade.passed, grade.failed) == ("ok", 1, ["00-ex2", "00-ex3"])
    assert grade.notes == ["cell 4 raised SystemExit: 3"]


@pytest.mark.parametrize("name", ["no_checks", "other_lesson"])
def test_not_a_submission_for_this_lesson(demo_grades, name):
    grade = demo_grades[name]
    assert grade.status == "error: not a submission for 00_grading_demo"
    assert (grade.passed, grade.total, grade.score) == (0, 3, 0)


def test_looping_notebook_times_out_and_keeps_earlier_checks(demo_grades):
    grade = demo_grades["loop"]
    assert grade.status.startswith("timeout")
    assert (grade.passed, grade.failed) == (2, ["00-ex3"])
    assert demo_grades["solution"].status == "ok", "the batch went on after the timeout"


def test_no_process_outlives_the_batch(demo_grades):
    """No process still works in a grading folder that was removed (ours are all removed).

    Folders that still exist belong to a batch running right now, e.g. another test session.
    """
    leftovers = []
    for proc in psutil.process_iter(["cwd", "cmdline"]):
        try:
            cwd = proc.info["cwd"] or ""
            if "exam-grade-" in cwd and (cwd.endswith("(deleted)") or not Path(cwd).exists()):
                leftovers.append(proc.info["cmdline"])
        except psutil.Error:
            continue
    assert leftovers == []


def test_edited_check_outputs_and_sources_have_no_effect(demo_grades):
    """Checks 1 and 2 pass from the key's checks; check 3's edited output does not pass it."""
    assert (demo_grades["tampered"].passed, demo_grades["tampered"].failed) == (2, ["00-ex3"])


def test_out_of_order_and_moved_checks(demo_grades):
    assert demo_grades["reordered"].score == 100


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


# ------------------------------------------------------------------ feedback and gradebook


def reference_texts() -> list[str]:
    """What a student must never see: the answers and the checks' reference outputs."""
    texts = []
    for cell in demo().cells:
        if cell.cell_type != "code":
            continue
        for region in solution_regions(cell.source):
            texts += [line.strip() for line in region.splitlines() if line.strip()]
        if check_id(cell):
            texts += [o.get("text", "").strip() for o in cell.outputs if o.get("text")]
    return texts


def test_feedback_files_say_what_failed_and_never_the_reference(demo_grades, tmp_path):
    written = feedback.write_all(demo_grades.values(), tmp_path)
    assert len(written) == 2 * len(demo_grades)
    texts = {p.name: p.read_text(encoding="utf-8") for p in written}
    secrets = reference_texts()
    assert "difference: 11.8" in secrets and "return 2 * x" in secrets
    for name, text in texts.items():
        leaked = [secret for secret in secrets if secret in text or html.escape(secret) in text]
        assert not leaked, f"{name} shows {leaked}"

    solution = texts["solution.md"]
    assert "**Score: 100 / 100** (3 of 3 points; 3 of 3 checks passed)" in solution
    assert "| `00-ex1` | pass | 1/1 |  |" in solution
    gutted = texts["gutted.md"]
    assert "| `00-ex1` | fail | 0/1 | NameError: name 'double' is not defined |" in gutted
    tampered = texts["tampered.md"]
    assert (
        "| `00-ex3` | fail | 0/1 | the output differs from what the check expects; "
        "your output: 'difference: 0.0' |" in tampered
    )
    loop = texts["loop.md"]
    assert "not run: the notebook reached the time limit (20 s) before this check" in loop
    assert "Status: timeout: stopped after 20 s." in loop
    assert "| `00-ex3` | fail | 0/1 | not run: the kernel died in cell 4 |" in texts["killed.md"]
    sys_exit = texts["sys_exit.md"]
    assert 'AssertionError at `assert abs(class_mean("A") - 68.2) < 1e-9`' in sys_exit
    assert "- cell 4 raised SystemExit: 3" in sys_exit
    page = texts["tampered.html"]
    assert (
        page.startswith("<!DOCTYPE html>") and "<td><code>00-ex3</code></td><td>fail</td>" in page
    )
    assert "your output: &#x27;difference: 0.0&#x27;" in page


def test_gradebook_adds_student_and_points_per_check(demo_grades):
    rows = list(csv.DictReader(io.StringIO(grading.to_csv(demo_grades.values(), gradebook=True))))
    assert list(rows[0]) == [
        *grading.CSV_COLUMNS, "student", "00-ex1", "00-ex2", "00-ex3", "points", "max_points"
    ]  # fmt: skip
    by_student = {r["student"]: r for r in rows}
    assert set(by_student) == set(demo_grades)
    loop = by_student["loop"]
    assert (loop["00-ex1"], loop["00-ex2"], loop["00-ex3"], loop["points"]) == ("1", "1", "0", "2")
    assert (loop["score"], loop["max_points"], loop["status"]) == (
        "66.7",
        "3",
        "timeout: stopped after 20 s",
    )
    plain = list(csv.DictReader(io.StringIO(grading.to_csv(demo_grades.values()))))
    assert [{k: r[k] for k in grading.CSV_COLUMNS} for r in rows] == plain


def test_points_metadata_weights_the_score(tmp_path):
    nb = demo()
    check(nb, "00-ex3").metadata["points"] = 2
    assert grading.check_points(nb) == {"00-ex1": 1.0, "00-ex2": 1.0, "00-ex3": 2.0}
    grade = grading.Grade("ada.ipynb", 2, 3)
    grade.checks = [
        grading.CheckResult("00-ex1", 1, True, 1),
        grading.CheckResult("00-ex2", 1),
        grading.CheckResult("00-ex3", 2, True, 2),
    ]
    assert (grade.points, grade.max_points, grade.score) == (3, 4, 75)
    (row,) = csv.DictReader(io.StringIO(grading.to_csv([grade], gradebook=True)))
    assert (row["00-ex3"], row["points"], row["max_points"], row["score"]) == ("2", "3", "4", "75")

    check(nb, "00-ex3").metadata["points"] = "two"
    nbformat.write(nb, tmp_path / "bad.ipynb")
    with pytest.raises(
        PipelineInputError,
        match="check 00-ex3: metadata 'points' must be a positive number, got 'two'",
    ):
        grading.load_solution(tmp_path / "bad.ipynb")


@pytest.mark.parametrize(
    "path, student",
    [("ada.ipynb", "ada"), ("subs/ada__01_pipeline_mindset.ipynb", "ada"), ("s/b_c.ipynb", "b_c")],
)
def test_student_identifier_from_the_file_name(path, student):
    assert grading.student_id(path) == student


def test_gradebook_refuses_two_files_of_one_student(run_cli, tmp_path):
    a, b = tmp_path / "ada.ipynb", tmp_path / "x" / "ada__again.ipynb"
    code, _, err = run_cli(
        "grade", "--gradebook", "--solution", DEMO, a, b, "--out", tmp_path / "g.csv"
    )
    assert code == 2 and f"{a} and {b} are both student 'ada'" in err


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
#
# Grading a lesson for real costs a kernel run of the whole notebook per submission, and
# `make test` already runs every solution and student notebook under nbval. So each claim of
# issue 6 is checked here from what those runs prove, without a kernel:
#
# * the solution grades 100: its graded copy runs exactly the solution's code with the
#   solution's own check outputs as reference, and nbval re-runs the solution on every
#   `make test` and compares those outputs (plus: no path outside the temporary folder);
# * the untouched student version grades below 100: its graded copy runs exactly the code of
#   the stored student notebook, whose fresh-kernel run (`make student`, kept up to date by
#   test_notebook_tooling) saw at least one check cell fail (tagged raises-exception);
# * a gutted copy grades 0: every check cell reads a name that only the exercise cells define
#   (static, with `ast`), so without them each check stops with a NameError;
# * a looping copy times out: the graded copy puts every check after the loop, so none can
#   pass before the time limit; killing and moving on is tested for real on the demo above.
#
# EXAM_GRADE_LESSONS=1 also grades every lesson for real (slow: minutes per lesson).

LESSONS = lesson_paths(ROOT / "solutions")  # not the contents page: it has no checks
LESSON_IDS = [p.name for p in LESSONS]
NOTEBOOK_NAMES = {"display", "get_ipython", "In", "Out", "exit", "quit"}


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def c_tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def code_sources(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def parse(source: str) -> ast.Module:
    """A cell as Python (IPython magics turned into calls first)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return ast.parse(TransformerManager().transform_cell(source))


def bound_names(tree: ast.AST) -> set[str]:
    """Every name a piece of code can bind: assignments, defs, imports, arguments, except-as."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def loaded_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def test_static_name_analysis_sees_what_a_check_needs():
    nb = demo()
    first, checks = nb.cells[0], [parse(c.source) for c in check_cells(nb)]
    assert first.cell_type == "markdown"
    available = set().union(*map(bound_names, checks)) | set(dir(builtins))
    needs = [sorted(loaded_names(tree) - available) for tree in checks]
    assert needs == [["double"], ["class_mean"], ["difference"]]


@pytest.mark.parametrize("path", LESSONS, ids=LESSON_IDS)
def test_lesson_solution_grades_100(path):
    solution = read(path)
    graded = grading.graded_copy(solution, solution)
    assert code_sources(graded) == code_sources(solution)
    references = list(check_cells(solution))
    assert [check_id(c) for c in check_cells(graded)] == [check_id(c) for c in references]
    for got, reference in zip(check_cells(graded), references, strict=True):
        assert got.outputs == reference.outputs and reference.execution_count
        assert not any(o.output_type == "error" for o in reference.outputs), check_id(reference)
    leaving = [s[:60] for s in code_sources(solution) if "../" in s or "..\\" in s]
    assert not leaving, f"the grader runs the copy in an empty temporary folder: {leaving}"


@pytest.mark.parametrize("path", LESSONS, ids=LESSON_IDS)
def test_lesson_untouched_student_version_grades_below_100(path):
    solution, student = read(path), read(ROOT / "notebooks" / path.name)
    assert code_sources(grading.graded_copy(solution, student)) == code_sources(student)
    # The student build tags a check `raises-exception` when it failed on the stubs (and
    # stores it without outputs, so the tag is the record).
    failing = [check_id(c) for c in check_cells(student) if "raises-exception" in c_tags(c)]
    assert failing, "no check failed on the stubs: the untouched student version would score 100"
    assert set(failing) <= {check_id(c) for c in check_cells(solution)}


@pytest.mark.parametrize("path", LESSONS, ids=LESSON_IDS)
def test_lesson_gutted_copy_grades_0(path):
    solution = read(path)
    gutted = copy.deepcopy(solution)
    gutted.cells = gutted.cells[:1]
    graded = grading.graded_copy(solution, gutted)
    runs = [c for c in graded.cells if c.cell_type == "code"]
    checks = list(check_cells(graded))
    assert len(checks) == len(list(check_cells(solution))) and len(runs) <= len(checks) + 1
    available = set(dir(builtins)) | NOTEBOOK_NAMES
    for cell in runs:
        available |= bound_names(parse(cell.source))
    exercises = set()
    for cell in solution.cells:
        if cell.cell_type == "code" and not check_id(cell):
            exercises |= bound_names(parse(cell.source))
    for cell in checks:
        needs = loaded_names(parse(cell.source)) - available
        assert needs, f"{check_id(cell)} uses nothing from the lesson's cells: it passes gutted"
        assert needs <= exercises, f"{check_id(cell)}: {sorted(needs - exercises)} defined nowhere"


@pytest.mark.parametrize("path", LESSONS, ids=LESSON_IDS)
def test_lesson_looping_copy_runs_no_check_before_the_loop(path):
    looping = read(path)
    first = next(i for i, c in enumerate(looping.cells) if c.cell_type == "code")
    looping.cells.insert(first, nbformat.v4.new_code_cell("while True:\n    pass"))
    graded = grading.graded_copy(read(path), looping)
    loop_at = next(i for i, c in enumerate(graded.cells) if c.source == "while True:\n    pass")
    assert all(i > loop_at for i, c in enumerate(graded.cells) if check_id(c))


#: The looping copy of a lesson never ends: any limit shows that the grader stops it.
LOOP_TIMEOUT = 10.0


def wrong_submission(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The student notebook with every exercise solved, but with the first wrong answer
    (tests/wrong_answers/) of each exercise that has one; and the ids of those exercises."""
    solution, student = read(path), read(ROOT / "notebooks" / path.name)
    wrong = load_wrong_answers(wrong_answers_file(path))
    answers = {}
    for exercise in exercises(solution):
        cell = solution.cells[exercise.solution]
        chosen = wrong.get(exercise.check_id)
        answers[cell.id] = replace_region(cell.source, chosen[0][1]) if chosen else cell.source
    for cell in student.cells:
        if cell.get("id") in answers:
            cell.source = answers[cell.id]
    return student, [cid for cid in wrong if wrong[cid]]


@pytest.mark.skipif(not os.environ.get("EXAM_GRADE_LESSONS"), reason="slow: EXAM_GRADE_LESSONS=1")
@pytest.mark.parametrize("path", LESSONS, ids=LESSON_IDS)
def test_lesson_grades_for_real(path, tmp_path):
    """The solution grades 100, the untouched student version less, gutted 0, a loop times out,
    and a copy with a wrong answer (tests/wrong_answers/) to each exercise fails those checks.

    The graders' kernels inherit the environment, so the Prefect lessons (05, 06) talk to the
    test session's shared Prefect server instead of starting a temporary one each (about 30 s).
    (support.session starts that server for a file that mentions Prefect, as this one does.)
    The limit per submission is generous (``EXAM_GRADE_TIMEOUT``, 300 s): beside the other
    workers a lesson's solution once took over 60 s on the 2-core course machine.
    """
    looping, gutted = read(path), read(path)
    first = next(i for i, c in enumerate(looping.cells) if c.cell_type == "code")
    looping.cells.insert(first + 1, nbformat.v4.new_code_cell("while True:\n    pass"))
    gutted.cells = gutted.cells[:1]
    nbformat.write(looping, tmp_path / "looping.ipynb")
    nbformat.write(gutted, tmp_path / "gutted.ipynb")
    wrong, wrong_ids = wrong_submission(path)
    assert wrong_ids, f"no wrong answers for {path.name} in {wrong_answers_file(path)}"
    nbformat.write(wrong, tmp_path / "wrong.ipynb")
    submissions = [path, ROOT / "notebooks" / path.name, tmp_path / "gutted.ipynb"]
    submissions.append(tmp_path / "wrong.ipynb")
    timeout = float(os.environ.get("EXAM_GRADE_TIMEOUT", "300"))
    solution, untouched, empty, mistaken = grading.grade_all(
        path, submissions, timeout=timeout, jobs=2
    )
    (loop,) = grading.grade_all(path, [tmp_path / "looping.ipynb"], timeout=LOOP_TIMEOUT)
    assert (solution.score, solution.status) == (100, "ok"), (solution.status, solution.failed)
    assert untouched.status == "ok" and untouched.score < 100, untouched.status
    assert (empty.score, empty.status) == (0, "ok"), f"checks pass without any answer: {empty}"
    assert loop.status.startswith("timeout") and loop.score == 0, loop.status
    assert mistaken.status == "ok" and mistaken.score < 100, (mistaken.status, mistaken.score)
    passed = sorted(set(wrong_ids) - set(mistaken.failed))
    assert not passed, f"checks that passed a wrong answer in the real grader: {passed}"
