"""Notebook tooling: solutions are the one source; student notebooks are generated from them.

Conventions (docs/instructors.md, "Student notebooks"):

* An exercise's answer sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines in a
  solution cell. The student version replaces the region with a stub that raises
  ``NotImplementedError``; a ``### HINT: ...`` line just above the region becomes its message.
* A check cell is tagged ``check`` and carries a stable id in ``metadata["check_id"]``, so it
  can be found even if a student moves, deletes or duplicates cells.
* Stored outputs come only from executing a notebook from a fresh kernel (``execute``), never
  from editing by hand.

Run as ``python -m exam_pipeline.course.notebooks execute solutions/*.ipynb`` or
``python -m exam_pipeline.course.notebooks student solutions/*.ipynb --out notebooks`` (``make notebooks``).
"""

from __future__ import annotations

import argparse
import copy
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exam_pipeline.course.notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute solution notebooks in place")
    ex.add_argument("paths", nargs="+", type=Path)
    st = sub.add_parser("student", help="generate student notebooks from solutions")
    st.add_argument("paths", nargs="+", type=Path)
    st.add_argument("--out", type=Path, default=Path("notebooks"))
    args = parser.parse_args(argv)
    for path in args.paths:
        print(f"{args.command}: {path}", flush=True)
        if args.command == "execute":
            execute_solution(path)
        else:
            build_student(path, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
