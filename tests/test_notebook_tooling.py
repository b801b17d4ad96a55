"""Solutions are the one source of the student notebooks; check the tooling and the stored pairs."""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from conftest import ROOT
from exam_pipeline.course.notebooks import (
    INDEX_NAME,
    NotebookError,
    check_cells,
    coalesce_streams,
    estimate_minutes,
    is_exercise_or_check,
    is_nav,
    lesson_paths,
    lesson_title,
    solution_regions,
    structure,
    stub_source,
    student_version,
    write_index,
)

SOLUTIONS = lesson_paths(ROOT / "solutions")


def test_stub_keeps_indent_and_hint():
    source = "def f(x):\n    ### HINT: double it\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    stubbed = stub_source(source)
    assert "return 2 * x" not in stubbed
    assert stubbed.endswith("    # YOUR CODE HERE\n    raise NotImplementedError('double it')")


def test_unbalanced_region_is_an_error():
    with pytest.raises(NotebookError):
        solution_regions("### BEGIN SOLUTION\nx = 1\n")


def test_every_solution_has_a_student_twin():
    students = {p.name for p in lesson_paths(ROOT / "notebooks")}
    assert {p.name for p in SOLUTIONS} == students
    assert (ROOT / "notebooks" / INDEX_NAME).read_bytes() == (
        ROOT / "solutions" / INDEX_NAME
    ).read_bytes(), "run `make student`: the contents page is copied as it is"


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
    assert len(ids) >= 1, "at least one exercise with a check cell"
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


# ---- the lesson frame and the generated navigation (docs: CONTRIBUTING.md, "Lesson conventions")

MAX_MARKDOWN_WORDS = 260  # "about 250"
MAX_CODE_LINES = 30
_LINK = re.compile(r"\]\(([^)#]+\.ipynb)\)")


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_lesson_has_its_frame(path):
    nb = nbformat.read(path, as_version=4)
    number, _ = lesson_title(nb)
    assert number == path.name[:2]
    time = re.search(
        r"\*\*Time:\*\* about (\d+) minutes · \*\*Prerequisites:\*\* \S", nb.cells[0].source
    )
    assert time, "the title cell says the time and the prerequisites"
    assert int(time[1]) == estimate_minutes(nb) <= 60, "at most an hour; run the `index` command"
    headings = [c.source.split("\n", 1)[0] for c in nb.cells if c.cell_type == "markdown"]
    assert "## Objectives" in headings
    assert headings.index("## Key points") < headings.index("## Further reading")
    reading = next(c.source for c in nb.cells if c.source.startswith("## Further reading"))
    assert len(re.findall(r"\]\(https://", reading)) >= 3, "links to the tools' own documentation"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_nav_cells_come_first_and_last_and_their_links_resolve(path):
    nb = nbformat.read(path, as_version=4)
    assert is_nav(nb.cells[1]) and is_nav(nb.cells[-1])
    assert sum(map(is_nav, nb.cells)) == 2
    targets = _LINK.findall(nb.cells[1].source)
    assert INDEX_NAME in targets
    for target in targets:
        assert (path.parent / target).is_file(), target
    others = [p.name for p in SOLUTIONS if p != path]
    assert set(targets) - {INDEX_NAME} <= set(others)


def test_index_is_up_to_date_and_lists_every_lesson(tmp_path):
    for path in [*SOLUTIONS, ROOT / "solutions" / INDEX_NAME]:
        shutil.copy(path, tmp_path / path.name)
    assert write_index(tmp_path) == [], (
        "run `python -m exam_pipeline.course.notebooks index solutions`"
    )
    contents = "\n".join(c.source for c in nbformat.read(tmp_path / INDEX_NAME, as_version=4).cells)
    for path in SOLUTIONS:
        assert f"]({path.name})" in contents
    assert "words a minute" in contents, "the page says how times are estimated"


def test_index_skips_a_missing_number_and_links_it_in_once_it_lands(tmp_path):
    for path in SOLUTIONS[:2]:
        shutil.copy(path, tmp_path / path.name)
    first, second = SOLUTIONS[:2]
    (tmp_path / second.name).rename(tmp_path / ("05" + second.name[2:]))
    moved = nbformat.read(tmp_path / ("05" + second.name[2:]), as_version=4)
    moved.cells[0].source = re.sub(r"^# \d\d", "# 05", moved.cells[0].source)
    nbformat.write(moved, tmp_path / ("05" + second.name[2:]))
    write_index(tmp_path)
    top = nbformat.read(tmp_path / first.name, as_version=4).cells[1].source
    assert "05" + second.name[2:] in top
    shutil.copy(second, tmp_path / second.name)
    write_index(tmp_path)
    top = nbformat.read(tmp_path / first.name, as_version=4).cells[1].source
    assert second.name in top and "05" + second.name[2:] not in top


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_cells_stay_short(path):
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            words = len(cell.source.split())
            assert words <= MAX_MARKDOWN_WORDS, f"cell {index}: {words} words, split it"
        else:
            lines = len(cell.source.splitlines())
            assert lines <= MAX_CODE_LINES, f"cell {index}: {lines} lines, split it"


_MEASURES = re.compile(r"perf_counter|process_time|tracemalloc|peak_|_mb\b")
_BARE = re.compile(r"(^|[:=]\s*)(True|False)\s*$")


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_measurements_print_numbers_not_booleans(path):
    """A cell that measures shows its figures; the assertion that keeps them honest is apart."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code" or not _MEASURES.search(cell.source):
            continue
        for output in cell.outputs:
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            bare = [line for line in text.splitlines() if _BARE.search(line.strip())]
            assert not bare, f"cell {index} prints a bare boolean for a measurement: {bare}"
