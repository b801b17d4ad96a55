"""Notebook tooling: solutions are the one source; student notebooks are generated from them.

Conventions (docs/instructors.md, "Student notebooks"):

* An exercise's answer sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines in a
  solution cell. The student version replaces the region with a stub that raises
  ``NotImplementedError``; a ``### HINT: ...`` line just above the region becomes its message.
* A check cell is tagged ``check`` and carries a stable id in ``metadata["check_id"]``, so it
  can be found even if a student moves, deletes or duplicates cells.
* Stored outputs come only from executing a notebook from a fresh kernel (``execute``), never
  from editing by hand.

* Navigation is generated, never hand-edited (``index``): a markdown cell tagged ``nav`` right
  after each lesson's title cell and another as its last cell (previous, contents, next), the
  ``**Time:**`` estimate in the title cell, and the contents page ``00_index.ipynb``.

Run as ``python -m exam_pipeline.course.notebooks execute solutions/*.ipynb``,
``python -m exam_pipeline.course.notebooks index solutions`` or
``python -m exam_pipeline.course.notebooks student solutions/*.ipynb --out notebooks`` (``make notebooks``).
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "### HINT:"
STUB = "# YOUR CODE HERE"
CHECK_TAG = "check"
RAISES_TAG = "raises-exception"
KERNEL_ARGS = ["--InteractiveShell.colors=nocolor"]  # no ANSI codes in stored tracebacks

_REGION = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}[^\n]*\n(?P<body>.*?)^[ \t]*{re.escape(END)}[^\n]*(\n|$)",
    re.M | re.S,
)


class NotebookError(RuntimeError):
    """A notebook breaks the suite's conventions (a stray error, an unclosed solution region)."""


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_check(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECK_TAG in tags(cell)


def check_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("check_id")


def check_cells(nb: nbformat.NotebookNode) -> Iterator[nbformat.NotebookNode]:
    """The check cells of ``nb`` in order."""
    return (cell for cell in nb.cells if is_check(cell))


def solution_regions(source: str) -> list[str]:
    """The bodies of the solution regions in a cell's source."""
    if source.count(BEGIN) != source.count(END):
        raise NotebookError(f"unbalanced {BEGIN!r} / {END!r} in:\n{source}")
    return [m.group("body") for m in _REGION.finditer(source)]


def stub_source(source: str) -> str:
    """Replace every solution region with a ``NotImplementedError`` stub (hint kept)."""

    def stub(match: re.Match[str]) -> str:
        indent = match.group("indent")
        before = source[: match.start()].rstrip("\n").splitlines()
        hint = "write your answer here"
        if before and before[-1].strip().startswith(HINT):
            hint = before[-1].strip()[len(HINT) :].strip()
        return f"{indent}{STUB}\n{indent}raise NotImplementedError({hint!r})\n"

    solution_regions(source)  # validates balance
    return _REGION.sub(stub, source).rstrip("\n")


def has_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and BEGIN in cell.source


def replace_region(source: str, code: str) -> str:
    """``source`` with its one solution region's body replaced by ``code``.

    ``code`` is written without indentation; it is indented like the region's markers. The
    markers stay, so the result can be replaced again.
    """
    matches = list(_REGION.finditer(source))
    if len(matches) != 1:
        raise NotebookError(f"expected one solution region, found {len(matches)} in:\n{source}")
    match = matches[0]
    indent = match.group("indent")
    body = textwrap.indent(textwrap.dedent(code).strip("\n"), indent) + "\n"
    start, end = match.span("body")
    return source[:start] + body + source[end:]


@dataclass(frozen=True)
class Exercise:
    """A check cell and the solution cell it checks (indices into ``nb.cells``)."""

    check_id: str
    solution: int
    check: int


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """Each check cell with the last solution cell before it (and after the previous check).

    A check with no solution cell of its own (it checks a demo) is left out.
    """
    found: list[Exercise] = []
    solution: int | None = None
    for index, cell in enumerate(nb.cells):
        if has_solution(cell):
            solution = index
        elif is_check(cell):
            if solution is not None and check_id(cell):
                found.append(Exercise(str(check_id(cell)), solution, index))
            solution = None
    return found


def hint_line(source: str) -> str | None:
    """The text of a cell's ``### HINT:`` line, if it has one."""
    for line in source.splitlines():
        if line.strip().startswith(HINT):
            return line.strip()[len(HINT) :].strip()
    return None


def student_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook, not yet executed: stubs instead of answers, outputs cleared.

    Cell ids and metadata are kept: the grader finds where a deleted check belonged by the
    ids of the cells around it, and a solution cell that is meant to raise keeps its tag.
    """
    nb = copy.deepcopy(solution)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if has_solution(cell):
            cell.source = stub_source(cell.source)
        cell.outputs = []
        cell.execution_count = None
    return nb


def execute(
    nb: nbformat.NotebookNode, cwd: Path, timeout: int = 600, allow_errors: bool = False
) -> None:
    """Run ``nb`` top to bottom in a fresh ``python3`` kernel with ``cwd`` as working folder."""
    from nbclient import NotebookClient  # not needed by the grader, which imports this module

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        record_timing=False,  # no per-cell timestamps in stored notebooks
        extra_arguments=KERNEL_ARGS,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)


def coalesce_streams(outputs: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Join consecutive stdout (or stderr) chunks into one output.

    How a kernel splits printed text into messages varies from run to run; stored notebooks
    should not (nbval joins them the same way before it compares).
    """
    merged: list[nbformat.NotebookNode] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and output.get("output_type") == previous.get("output_type") == "stream"
            and output.get("name") == previous.get("name")
        ):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def _errored(cell: nbformat.NotebookNode) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def execute_solution(path: Path) -> None:
    """Execute a solution notebook in place; any error outside a raises-exception cell fails."""
    nb = nbformat.read(path, as_version=4)
    execute(nb, path.parent)
    nbformat.write(nb, path)


def is_exercise_or_check(cell: nbformat.NotebookNode) -> bool:
    """A student's exercise stub or a check cell: stored without outputs in the student version."""
    return is_check(cell) or (
        cell.cell_type == "code"
        and STUB in cell.source
        and "raise NotImplementedError(" in cell.source
    )


def build_student(solution_path: Path, out_dir: Path) -> Path:
    """Write the executed student version of ``solution_path`` into ``out_dir``.

    Only exercise stubs and check cells may raise in the student version; they are tagged
    ``raises-exception`` so ``pytest --nbval`` accepts the error. They are stored without
    outputs and execution count: nbval runs them and compares nothing, and a student opens a
    notebook without a traceback under every exercise. Anything else that raises is a broken
    lesson and stops the build.
    """
    solution = nbformat.read(solution_path, as_version=4)
    nb = student_version(solution)
    out_dir.mkdir(parents=True, exist_ok=True)
    execute(nb, out_dir, allow_errors=True)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and _errored(cell):
            stubbed = "raise NotImplementedError(" in cell.source and STUB in cell.source
            if not (stubbed or is_check(cell) or RAISES_TAG in tags(cell)):
                raise NotebookError(
                    f"{solution_path}: cell {index} fails in the student version but is neither "
                    "an exercise nor a check cell"
                )
            if RAISES_TAG not in tags(cell):
                cell.metadata.setdefault("tags", []).append(RAISES_TAG)
    for cell in nb.cells:
        if is_exercise_or_check(cell):
            cell.outputs = []  # a fresh notebook is not a wall of red tracebacks
            cell.execution_count = None  # nbval runs such a cell but compares no output
    target = out_dir / solution_path.name
    nbformat.write(nb, target)
    return target


def structure(
    nb: nbformat.NotebookNode,
) -> list[tuple[str | None, str, str, tuple[str, ...], str | None]]:
    """What must match between a stored student notebook and a fresh build (outputs aside)."""
    return [
        (
            c.get("id"),
            c.cell_type,
            c.source,
            tuple(t for t in tags(c) if t != RAISES_TAG),
            check_id(c),
        )
        for c in nb.cells
    ]


NAV_TAG = "nav"
INDEX_NAME = "00_index.ipynb"
#: How a lesson's time is estimated (also stated in CONTRIBUTING.md and on the contents page).
WORDS_PER_MINUTE = 150
MINUTES_PER_CODE_CELL = 0.5
MINUTES_PER_CHECK = 7.5
MINUTES_PER_QUESTION = 2
ESTIMATE_METHOD = (
    f"Each lesson's time is estimated from its text: reading its prose at about {WORDS_PER_MINUTE} "
    f"words a minute, {MINUTES_PER_CODE_CELL} minute to read and run each code cell, and "
    f"{MINUTES_PER_CHECK:g} minutes for each exercise and {MINUTES_PER_QUESTION} for each "
    "check-your-understanding question, rounded up to 5 minutes. Lessons are kept at 60 minutes or less."
)
_TITLE = re.compile(r"^# (?P<number>\d\d) - (?P<title>.+)$", re.M)
_TIME = re.compile(r"\*\*Time:\*\* about \S+ minutes")


def lesson_paths(folder: Path) -> list[Path]:
    """The lessons in ``folder`` (``NN_name.ipynb``), in order; the contents page is not one."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.name != INDEX_NAME)


def lesson_title(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """``(number, title)`` from the ``# NN - Title`` line of the first cell."""
    match = _TITLE.search(nb.cells[0].source) if nb.cells else None
    if match is None:
        raise NotebookError("a lesson's first cell starts with '# NN - Title'")
    return match["number"], match["title"].strip()


def is_nav(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "markdown" and NAV_TAG in tags(cell)


def estimate_minutes(nb: nbformat.NotebookNode) -> int:
    """The lesson's estimated time in minutes (:data:`ESTIMATE_METHOD`)."""
    words = sum(
        len(c.source.split()) for c in nb.cells if c.cell_type == "markdown" and not is_nav(c)
    )
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code" and not is_check(c))
    ids = [check_id(c) or "" for c in nb.cells if is_check(c)]
    questions = sum(1 for i in ids if "-q" in i)
    minutes = words / WORDS_PER_MINUTE + code_cells * MINUTES_PER_CODE_CELL
    minutes += (len(ids) - questions) * MINUTES_PER_CHECK + questions * MINUTES_PER_QUESTION
    return 5 * math.ceil(minutes / 5)


def objectives(nb: nbformat.NotebookNode) -> list[str]:
    """The bullets of the lesson's ``## Objectives`` cell, each on one line."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## Objectives"):
            bullets = re.split(r"^- ", cell.source, flags=re.M)[1:]
            return [" ".join(b.split()).rstrip(";.") for b in bullets]
    return []


def _link(path: Path, nb: nbformat.NotebookNode) -> str:
    number, title = lesson_title(nb)
    return f"[{number} - {title}]({path.name})"


def _nav_cell(cell_id: str, prev: str | None, nxt: str | None) -> nbformat.NotebookNode:
    parts = [f"Previous: {prev}" if prev else None, f"[Contents]({INDEX_NAME})"]
    parts.append(f"Next: {nxt}" if nxt else None)
    cell = nbformat.v4.new_markdown_cell(" · ".join(p for p in parts if p))
    cell.id = cell_id
    cell.metadata["tags"] = [NAV_TAG]
    return cell


def write_index(folder: Path) -> list[Path]:
    """Refresh every lesson's nav cells and time estimate, and write the contents page.

    Lessons are linked in the order of their numbers; a missing number is simply skipped, so
    running this again after a new lesson lands links it in. Returns the files written.
    """
    paths = lesson_paths(folder)
    books = {p: nbformat.read(p, as_version=4) for p in paths}
    links = [_link(p, books[p]) for p in paths]
    written = []
    rows = []
    for i, path in enumerate(paths):
        nb = books[path]
        before = nbformat.writes(nb)
        nb.cells = [c for c in nb.cells if not is_nav(c)]
        minutes = estimate_minutes(nb)
        nb.cells[0].source = _TIME.sub(f"**Time:** about {minutes} minutes", nb.cells[0].source)
        prev = links[i - 1] if i > 0 else None
        nxt = links[i + 1] if i + 1 < len(paths) else None
        nb.cells.insert(1, _nav_cell("nav-top", prev, nxt))
        nb.cells.append(_nav_cell("nav-end", prev, nxt))
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            written.append(path)
        goals = objectives(nb)
        rows.append(f"| {links[i]} | {minutes} min | {goals[0] if goals else ''} |")
    total = sum(estimate_minutes(books[p]) for p in paths)
    index = nbformat.v4.new_notebook()
    index.metadata = books[paths[0]].metadata if paths else {}
    text = [
        "# Data Pipelines in Python: contents",
        "Work through the lessons in order; each builds on the ones named in its "
        "**Prerequisites** line. Each opens with its objectives and ends with key points and "
        "links to the tools' own documentation.",
        "| lesson | time | first objective |\n|---|---|---|\n" + "\n".join(rows),
        f"In all about {total / 60:.0f} hours. {ESTIMATE_METHOD}",
        "This page and the navigation links at the top and bottom of each lesson are generated "
        "by `python -m exam_pipeline.course.notebooks index solutions` (`make notebooks`).",
    ]
    index.cells = [nbformat.v4.new_markdown_cell(t) for t in text]
    for n, cell in enumerate(index.cells):
        cell.id = f"contents-{n}"
    target = folder / INDEX_NAME
    if not target.exists() or nbformat.writes(index) != nbformat.writes(
        nbformat.read(target, as_version=4)
    ):
        nbformat.write(index, target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exam_pipeline.course.notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute solution notebooks in place")
    ex.add_argument("paths", nargs="+", type=Path)
    st = sub.add_parser("student", help="generate student notebooks from solutions")
    st.add_argument("paths", nargs="+", type=Path)
    st.add_argument("--out", type=Path, default=Path("notebooks"))
    ix = sub.add_parser("index", help="refresh nav cells and times, write 00_index.ipynb")
    ix.add_argument("folder", type=Path, nargs="?", default=Path("solutions"))
    args = parser.parse_args(argv)
    if args.command == "index":
        for path in write_index(args.folder):
            print(f"index: wrote {path}", flush=True)
        return 0
    for path in args.paths:
        print(f"{args.command}: {path}", flush=True)
        if args.command == "execute":
            if path.name == INDEX_NAME:
                continue  # markdown only: nothing to run
            execute_solution(path)
        else:
            build_student(path, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
