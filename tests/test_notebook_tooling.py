"""Solutions are the one source of the student notebooks; check the tooling and the stored pairs."""

from __future__ import annotations

import nbformat
import pytest

from conftest import ROOT
from exam_pipeline.course.notebooks import (
    NotebookError,
    check_cells,
    coalesce_streams,
    is_exercise_or_check,
    solution_regions,
    structure,
    stub_source,
    student_version,
)

SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def test_stub_keeps_indent_and_hint():
    source = "def f(x):\n    ### HINT: double it\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    stubbed = stub_source(source)
    assert "return 2 * x" not in stubbed
    assert stubbed.endswith("    # YOUR CODE HERE\n    raise NotImplementedError('double it')")


def test_unbalanced_region_is_an_error():
    with pytest.raises(NotebookError):
        solution_regions("### BEGIN SOLUTION\nx = 1\n")


def test_every_solution_has_a_student_twin():
    students = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {p.name for p in SOLUTIONS} == students


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_student_notebook_is_up_to_date_and_leaks_nothing(path):
    solution = nbformat.read(path, as_version=4)
    stored = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
    assert structure(stored) == structure(student_version(solution)), "run `make student`"
    student_code = "\n".join(c.source for c in stored.cells if c.cell_type == "code")
    for cell in solution.cells:
        if cell.cell_type == "code":
            for body in solution_regions(cell.source):
                assert body.strip() not in student_code


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_student_notebook_shows_no_output_in_exercise_and_check_cells(path):
    """A fresh student notebook is not a wall of red: no tracebacks stored (`make student`)."""
    stored = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
    shown = [
        c.source.splitlines()[0][:60]
        for c in stored.cells
        if is_exercise_or_check(c) and (c.outputs or c.execution_count is not None)
    ]
    assert not shown, f"run `make student`: exercise or check cells with outputs: {shown}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_checks_are_tagged_with_unique_ids(path):
    nb = nbformat.read(path, as_version=4)
    ids = [c.metadata.get("check_id") for c in check_cells(nb)]
    assert len(ids) >= 2, "at least two exercises, each with a check cell"
    assert all(ids) and len(ids) == len(set(ids))
    assert all(i.startswith(path.name[:2] + "-") for i in ids), (
        f"ids start with the lesson number: {ids}"
    )
    assert any("### BEGIN SOLUTION" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_check_cells_say_what_they_check_and_pass_in_the_solution(path):
    for cell in check_cells(nbformat.read(path, as_version=4)):
        assert cell.source.startswith('"""Check: '), f"first line a docstring: {cell.source[:60]}"
        assert "### BEGIN SOLUTION" not in cell.source, "a check cell holds no answer"
        assert cell.execution_count is not None, "reference outputs come from a real run"
        assert not any(o.output_type == "error" for o in cell.outputs), cell.source[:60]


def test_solution_cells_meant_to_raise_keep_their_tag():
    nb = nbformat.v4.new_notebook()
    demo = nbformat.v4.new_code_cell("raise ValueError('shown on purpose')")
    demo.metadata["tags"] = ["raises-exception"]
    nb.cells.append(demo)
    assert student_version(nb).cells[0].metadata["tags"] == ["raises-exception"]


def test_student_version_keeps_cell_ids_and_clears_outputs():
    nb = nbformat.read(ROOT / "tests" / "fixtures" / "00_grading_demo.ipynb", as_version=4)
    student = student_version(nb)
    assert [c.id for c in student.cells] == [c.id for c in nb.cells]
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in student.cells
        if c.cell_type == "code"
    )
    assert "return 2 * x" not in "\n".join(c.source for c in student.cells)


def test_coalesce_streams_joins_consecutive_chunks_of_one_stream():
    from nbformat.v4 import new_output

    outputs = [
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stdout", text="b\n"),
        new_output("stream", name="stderr", text="warn\n"),
        new_output("stream", name="stdout", text="c\n"),
        new_output("execute_result", data={"text/plain": "1"}, execution_count=1),
    ]
    merged = coalesce_streams(outputs)
    assert [(o.output_type, o.get("name"), o.get("text")) for o in merged] == [
        ("stream", "stdout", "a\nb\n"),
        ("stream", "stderr", "warn\n"),
        ("stream", "stdout", "c\n"),
        ("execute_result", None, None),
    ]
