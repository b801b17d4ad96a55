"""The mutation and re-run tests of the exercises, run inside nbval's own kernel.

A plugin (loaded by the root ``conftest.py``). When ``pytest --nbval`` runs a solution notebook
``solutions/NN_x.ipynb``, it adds test items right after each exercise's check cell, in the same
kernel (so a lesson is not executed a second time):

* ``<check_id> rerun``: the solution cell and the check once more (the check must pass again);
* ``<check_id> wrong K``: for each wrong answer K in ``tests/wrong_answers/NN_x.py``, the names
  the solution cell binds are deleted, the cell runs with the wrong code in place of its
  solution region, and the check must FAIL. After the exercise's last wrong answer (all of
  them, one after another, as a student trying again and again), the solution cell and the
  check run once more and the check must PASS: what the wrong attempts left behind does not
  fool the check. (Restoring after every wrong answer doubled the cost, about a minute of
  ``make test``, for little more: the attempts' leftovers accumulate in this order anyway.)

The wrong-answer file (see SPEC / docs/instructors.md)::

    WRONG: dict[str, list[tuple[str, str]]] = {
        "01-ex2": [("one line: what the mistake is", '''code replacing the region'''), ...],
    }

The code is written without indentation; it gets the indentation of the region's markers.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import pytest

from exam_pipeline.course.notebooks import Exercise, exercises, replace_region

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
WRONG_DIR = ROOT / "tests" / "wrong_answers"
#: How long one cell may run here: a check that hangs on a wrong answer fails, rather than
#: holding the worker for nbval's 300 s (a check should stop it first with checks.within).
CELL_TIMEOUT = 120.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

WrongAnswers = dict[str, list[tuple[str, str]]]


def wrong_answers_file(notebook: Path) -> Path:
    return WRONG_DIR / f"{notebook.stem}.py"


@cache
def load_wrong_answers(path: Path) -> WrongAnswers:
    """``WRONG`` of a wrong-answer file ({} when the file does not exist)."""
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    wrong = getattr(module, "WRONG", None)
    if not isinstance(wrong, dict):
        raise TypeError(f"{path}: no WRONG dict")
    return wrong


def bound_at_top(source: str) -> set[str]:
    """Names a cell binds at its top level (defs, classes, assignments, imports)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


@dataclass
class Outcome:
    error: str | None  # "Name: value" plus the traceback's last lines, or None
    output: str


def run(kernel: Any, source: str, timeout: float = CELL_TIMEOUT) -> Outcome:
    """Run ``source`` in nbval's kernel and collect its printed text and error."""
    msg_id = kernel.execute_cell_input(source, allow_stdin=False)
    timed_out = False
    try:
        kernel.await_reply(msg_id, timeout=timeout)
    except Empty:
        kernel.interrupt()
        timed_out = True
    error, text = None, []
    while True:
        try:
            msg = kernel.get_message(stream="iopub", timeout=30)
        except Empty:
            return Outcome("the kernel stopped answering", "".join(text))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            break
        if kind == "stream":
            text.append(content["text"])
        elif kind == "error":
            tail = _ANSI.sub("", "\n".join(content["traceback"][-3:]))
            error = f"{content['ename']}: {content['evalue']}\n{tail}"
    if timed_out:
        error = f"still running after {timeout:g} s (interrupted): {error}"
    return Outcome(error, "".join(text))


class ExerciseFailure(Exception):
    """What went wrong, already in words (shown without the plugin's traceback)."""


class ExerciseItem(pytest.Item):
    """One re-run or one wrong answer of one exercise, in the notebook's nbval kernel."""

    def __init__(
        self,
        *,
        exercise: Exercise,
        solution: str,
        check: str,
        wrong: tuple[int, str, str] | None,
        restore: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.exercise, self.solution, self.check, self.wrong = exercise, solution, check, wrong
        self.restore = restore  # the exercise's last wrong answer: put the solution back after it

    def _must_pass(self, what: str) -> None:
        kernel = self.parent.kernel  # type: ignore[union-attr]
        for name, source in (("solution cell", self.solution), ("check", self.check)):
            outcome = run(kernel, source)
            if outcome.error:
                raise ExerciseFailure(
                    f"{what}: the {name} of {self.exercise.check_id} failed:\n{outcome.error}"
                )

    def runtest(self) -> None:
        kernel = self.parent.kernel  # type: ignore[union-attr]
        if kernel is None or not kernel.is_alive():
            raise ExerciseFailure("the notebook's kernel is not running")
        cid = self.exercise.check_id
        if self.wrong is None:
            self._must_pass(f"{cid} run a second time (solution, then check)")
            return
        number, description, code = self.wrong
        names = sorted(bound_at_top(self.solution))
        run(kernel, f"for _name in {names!r}:\n    globals().pop(_name, None)\n")
        try:
            attempt = run(kernel, replace_region(self.solution, code))
            verdict = run(kernel, self.check)
            if verdict.error is None:
                cell = "" if attempt.error is None else f" (its cell raised {attempt.error})"
                raise ExerciseFailure(
                    f"wrong answer {number} of {cid} PASSED the check: {description}{cell}\n"
                    f"check printed: {verdict.output.strip()!r}"
                )
        finally:
            if self.restore:  # even after a failure: the lesson's later cells need the solution
                self._must_pass(f"after wrong answers 1 to {number} of {cid}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, ExerciseFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


def _items_for(nbfile: Any, nb: nbformat.NotebookNode, wrong: WrongAnswers) -> dict[int, list]:
    """Cell index of each check -> the items to run right after it."""
    extra: dict[int, list] = {}
    for exercise in exercises(nb):
        solution = nb.cells[exercise.solution].source
        check = nb.cells[exercise.check].source
        make = ExerciseItem.from_parent
        items = [
            make(
                nbfile,
                name=f"{exercise.check_id} rerun",
                exercise=exercise,
                solution=solution,
                check=check,
                wrong=None,
            )
        ]
        answers = wrong.get(exercise.check_id, [])
        for number, (description, code) in enumerate(answers, 1):
            items.append(
                make(
                    nbfile,
                    name=f"{exercise.check_id} wrong {number}",
                    exercise=exercise,
                    solution=solution,
                    check=check,
                    wrong=(number, description, code),
                    restore=number == len(answers),
                )
            )
        extra[exercise.check] = items
    return extra


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: they see these items too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """After each exercise's check cell of a solution notebook, its re-run and wrong answers."""
    out: list[pytest.Item] = []
    extras: dict[Any, tuple[dict[int, list], dict[int, int]]] = {}
    for item in items:
        out.append(item)
        parent = item.parent
        cell = getattr(item, "cell", None)
        if cell is None or parent is None or Path(str(parent.path)).parent != SOLUTIONS:
            continue
        if parent not in extras:
            nb = parent.nb  # type: ignore[attr-defined]  # read by nbval's collect()
            code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            wrong = load_wrong_answers(wrong_answers_file(Path(str(parent.path))))
            extras[parent] = (_items_for(parent, nb, wrong), dict(enumerate(code)))
        by_check, cell_index = extras[parent]
        out.extend(by_check.get(cell_index[item.cell_num], []))  # type: ignore[attr-defined]
    items[:] = out
