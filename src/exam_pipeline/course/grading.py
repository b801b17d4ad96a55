"""Grade student notebooks against a solution with ``pytest --nbval`` (``exam-pipeline grade``).

Plain nbval compares a notebook with its own stored outputs, so a student could edit a check or
its expected output. The grader therefore builds a *graded copy* of each submission: the
student's own cells (outputs cleared, so nbval runs them but compares nothing) plus every check
cell of the solution, source *and* reference outputs, matched by ``check_id``. A check the
student deleted is put back where the solution has it, a changed one is replaced, duplicates
are dropped. Only check cells count toward the score.

Each copy runs in its own ``pytest`` subprocess (own kernel, own temporary working folder) under
a time limit; on timeout the whole process tree is killed and the batch goes on. A kernel that
dies ends its submission at once (a watchdog in the pytest plugin below). Without ``sandbox``
this is *not* a sandbox; with it, the run happens inside bubblewrap (``exam_pipeline.course.sandbox``).
See docs/grading.md.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import pytest

from exam_pipeline.core.files import atomic_write_text
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.course import sandbox as sandboxing
from exam_pipeline.course.notebooks import CHECK_TAG, RAISES_TAG, check_id, is_check, tags

CSV_COLUMNS: tuple[str, ...] = ("submission", "passed", "total", "score", "status")
#: Columns ``--gradebook`` adds after CSV_COLUMNS (one per check_id goes between them).
GRADEBOOK_COLUMNS: tuple[str, ...] = ("student", "points", "max_points")
DEFAULT_TIMEOUT = 300.0
#: Environment variable naming where the pytest plugin below logs cell results: a file path,
#: or ``fd:N`` for a pipe (the sandbox's only way out).
LOG_ENV = "EXAM_PIPELINE_GRADE_LOG"
#: Metadata key of a check cell's weight (a positive number; 1 when absent).
POINTS_KEY = "points"
#: The pytest process's exit status when the watchdog saw the kernel die.
KERNEL_DIED_EXIT = 71
_POLL_SECONDS = 0.2
#: ``python -m pytest``, minus an optional URL-syntax checker that jsonschema (under nbformat)
#: imports when installed: it takes seconds to load and notebook validation never uses it.
#: On Linux the run dies with the grader (PR_SET_PDEATHSIG): a Dask worker killed mid-batch
#: leaves no orphaned grading behind.
_BOOT = (
    "import sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    import ctypes, os, signal\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "    if os.getppid() == 1: sys.exit(1)\n"
    "sys.modules['rfc3987_syntax'] = None\n"
    "import pytest\n"
    "sys.exit(pytest.main())\n"
)
#: The same inside the sandbox, which first sets the resource limits (and drops root).
_SANDBOX_BOOT = (
    "import os, sys\n"
    "from exam_pipeline.course import sandbox\n"
    "sandbox.apply_limits(os.environ.pop(sandbox.LIMITS_ENV))\n"
    "sys.modules['rfc3987_syntax'] = None\n"
    "import pytest\n"
    "sys.exit(pytest.main())\n"
)


class SubmissionError(Exception):
    """A submission cannot be graded at all (not JSON, not a notebook); the reason is short."""


@dataclass
class CheckResult:
    """One check of one submission, as the student's feedback shows it."""

    check_id: str
    points: float
    passed: bool = False
    earned: float = 0.0
    #: Why it failed, in words a student can act on (never the reference answer).
    message: str = ""


@dataclass
class Grade:
    """One row of grades.csv, plus the ids of the checks that did not pass (for the console).

    ``checks`` (in the solution's order) and ``notes`` (the student's own cells that raised)
    feed the feedback files; ``points``/``max_points`` weight the score when checks carry
    ``points`` metadata.
    """

    submission: str
    passed: int
    total: int
    status: str = "ok"
    failed: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lesson: str = ""

    @property
    def points(self) -> float:
        if not self.checks:
            return float(self.passed)
        return sum(c.earned for c in self.checks)

    @property
    def max_points(self) -> float:
        if not self.checks:
            return float(self.total)
        return sum(c.points for c in self.checks)

    @property
    def score(self) -> float:
        """Percentage of the points earned, 0-100, one decimal (equal weights: of the checks)."""
        return round(100.0 * self.points / self.max_points, 1) if self.max_points else 0.0

    def row(self) -> dict[str, str | int]:
        return {
            "submission": self.submission,
            "passed": self.passed,
            "total": self.total,
            "score": f"{self.score:g}",
            "status": self.status,
        }


# --------------------------------------------------------------------------- the graded copy


def load_solution(path: str | Path) -> nbformat.NotebookNode:
    """Read the solution notebook; it must have check cells with unique ids."""
    path = Path(path)
    if not path.is_file():
        raise PipelineInputError(f"--solution {path}: no such file")
    try:
        nb = nbformat.read(path, as_version=4)
    except (nbformat.reader.NotJSONError, ValueError, KeyError) as exc:
        raise PipelineInputError(f"--solution {path}: not a readable notebook ({exc})") from None
    ids = [check_id(cell) for cell in nb.cells if is_check(cell)]
    if not ids:
        raise PipelineInputError(f"--solution {path}: has no check cells (tag 'check' + check_id)")
    if not all(ids) or len(set(ids)) != len(ids):
        raise PipelineInputError(f"--solution {path}: every check cell needs a unique check_id")
    for cell in check_cells_of(nb):
        value = cell.metadata.get(POINTS_KEY, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise PipelineInputError(
                f"--solution {path}: check {check_id(cell)}: metadata 'points' must be a "
                f"positive number, got {value!r}"
            )
    return nb


def check_cells_of(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if is_check(cell)]


def check_points(solution: nbformat.NotebookNode) -> dict[str, float]:
    """check_id -> its weight (``points`` metadata, 1 when absent), in the solution's order."""
    return {
        str(check_id(c)): float(c.metadata.get(POINTS_KEY, 1)) for c in check_cells_of(solution)
    }


_LESSON_NUMBER = re.compile(r"^\s*#\s*(\d+)\b")


def lesson_number(nb: nbformat.NotebookNode) -> str | None:
    """The lesson a notebook says it is: ``metadata.lesson``, else its title's number.

    The title is the first Markdown cell's ``# NN - ...`` heading (every lesson opens so).
    """
    lesson = nb.get("metadata", {}).get("lesson")
    if lesson is not None:
        return str(lesson).strip()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = _LESSON_NUMBER.match(cell.source)
            return match.group(1) if match else None
    return None


def wrong_notebook(solution: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> bool:
    """Is this another lesson's notebook, or no lesson notebook at all?

    Another lesson: its ``lesson`` metadata or its title's number differs from the solution's.
    None at all: it has none of the solution's check ids and none of its cell ids (a student
    who deleted every check cell but kept the lesson's other cells is still graded).
    """
    ours, theirs = lesson_number(solution), lesson_number(submission)
    if ours is not None and theirs is not None and ours != theirs:
        return True
    wanted = {check_id(c) for c in check_cells_of(solution)}
    if any(check_id(c) in wanted for c in submission.cells if c.cell_type == "code"):
        return False
    ids = {c.get("id") for c in solution.cells} - {None}
    return not any(c.get("id") in ids for c in submission.cells)


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read a submitted notebook, or raise SubmissionError with a short reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SubmissionError(f"cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SubmissionError("not a notebook (not UTF-8 text)") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        cells = list(nb.cells)
        for cell in cells:
            if cell.cell_type not in ("code", "markdown", "raw") or not isinstance(
                cell.source, str
            ):
                raise ValueError("a cell has no type or no source")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SubmissionError(f"not a notebook ({type(exc).__name__}: {exc})") from None
    return nb


def _student_cell(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student's cell as it runs in the graded copy: no check marks, no stored outputs.

    With ``execution_count`` None nbval runs the cell but compares no output, and we do not
    count its result: a failing exercise shows up only through its check.
    """
    cell = nbformat.from_dict(dict(cell))
    cell.metadata = nbformat.from_dict(dict(cell.get("metadata", {})))
    cell.metadata.pop("check_id", None)
    kept = [t for t in tags(cell) if t not in (CHECK_TAG, RAISES_TAG)]
    if kept:
        cell.metadata["tags"] = kept
    else:
        cell.metadata.pop("tags", None)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def _reference_check(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution's check cell with its reference outputs (a deep copy)."""
    cell = nbformat.from_dict(json.loads(json.dumps(cell)))
    cell.metadata["tags"] = [t for t in tags(cell) if t != RAISES_TAG]
    return cell


def _same_cell(solution_cell: nbformat.NotebookNode, student_cell: nbformat.NotebookNode) -> bool:
    """Is this student cell the solution's cell (same id, or the same markdown text)?"""
    sid = solution_cell.get("id")
    if sid and student_cell.get("id") == sid:
        return True
    return (
        solution_cell.cell_type == "markdown"
        and student_cell.cell_type == "markdown"
        and solution_cell.source.strip() == student_cell.source.strip()
    )


def _slot_of(slots: list[nbformat.NotebookNode | str], cell: nbformat.NotebookNode) -> int | None:
    """Where solution ``cell`` sits among the slots (its check_id, or the student's twin)."""
    cid = check_id(cell) if is_check(cell) else None
    for index, slot in enumerate(slots):
        if isinstance(slot, str):
            if slot == cid:
                return index
        elif cid is None and _same_cell(cell, slot):
            return index
    return None


def graded_copy(
    solution: nbformat.NotebookNode, submission: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """The notebook that is run: the student's cells plus every reference check cell.

    A check kept by the student (matched by ``check_id``, tagged or not) is replaced in place by
    the reference; duplicates are dropped. A deleted check goes back just before the next
    solution cell the student still has (so it runs after the student's answer), or at the end.
    """
    return graded_copy_with_origins(solution, submission)[0]


#: Where a code cell of the graded copy comes from: ("check", check_id) or ("cell", N), N the
#: student's code cell number (1-based, as Jupyter's order shows them and syntax errors name).
Origin = tuple[str, str | int]


def graded_copy_with_origins(
    solution: nbformat.NotebookNode, submission: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[Origin]]:
    """``graded_copy``, plus the origin of each of its code cells (to name cells in statuses)."""
    reference = {check_id(c): c for c in solution.cells if is_check(c)}
    slots: list[nbformat.NotebookNode | str] = []  # student cells, check_ids of references
    numbers: dict[int, int] = {}  # id(student cell) -> its code cell number
    code_number = 0
    for cell in submission.cells:
        if cell.cell_type == "code":
            code_number += 1
            numbers[id(cell)] = code_number
        cid = check_id(cell) if cell.cell_type == "code" else None
        if cid not in reference:
            slots.append(cell)
        elif cid not in slots:
            slots.append(str(cid))

    for index in range(len(solution.cells) - 1, -1, -1):  # right to left: later anchors first
        cell = solution.cells[index]
        if not is_check(cell) or check_id(cell) in slots:
            continue
        found = (_slot_of(slots, later) for later in solution.cells[index + 1 :])
        position = next((i for i in found if i is not None), len(slots))
        slots.insert(position, str(check_id(cell)))

    nb = nbformat.v4.new_notebook(metadata=json.loads(json.dumps(solution.metadata)))
    origins: list[Origin] = []
    for number, slot in enumerate(slots):
        if isinstance(slot, str):
            cell = _reference_check(reference[slot])
            origins.append(("check", slot))
        else:
            cell = _student_cell(slot)
            if cell.cell_type == "code":
                origins.append(("cell", numbers[id(slot)]))
        cell["id"] = f"graded-{number}"
        nb.cells.append(cell)
    return nb, origins


def syntax_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Code cells that do not even compile (IPython magics allowed), as short reasons."""
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    problems = []
    code_number = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code_number += 1
        try:
            code = transformer.transform_cell(cell.source)
            compile(code, f"cell {code_number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"code cell {code_number}" + (f", line {line}" if line else "")
            problems.append(f"syntax error in {where}")
    return problems


# --------------------------------------------------------------------------- running one copy


def _kill_tree(proc: subprocess.Popen[bytes], seen: Iterable[psutil.Process]) -> None:
    """Kill pytest, its kernel and anything they started (the kernel has its own session)."""
    victims = list(seen)
    try:
        victims += psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        pass
    groups = {proc.pid}
    for victim in victims:
        try:
            groups.add(os.getpgid(victim.pid))
        except (ProcessLookupError, PermissionError):
            pass
    groups.discard(os.getpgrp())
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for victim in victims:
        try:
            if victim.is_running():
                victim.kill()
        except psutil.Error:
            pass
    proc.wait()


@dataclass
class _Run:
    """How one pytest run ended."""

    timed_out: bool
    code: int
    tail: str


def _drain(fd: int, log: Path) -> None:
    """Copy what the sandboxed plugin writes into the results pipe to the host's log file."""
    with log.open("ab") as sink:
        while data := os.read(fd, 65536):
            sink.write(data)
            sink.flush()
    os.close(fd)


def _pytest_args(ini: str, rootdir: str, notebook: str, timeout: float) -> list[str]:
    return [
        "-c", ini, "--rootdir", rootdir,
        "-p", "nbval.plugin", "-p", "exam_pipeline.course.grading", "-p", "no:cacheprovider",
        "--nbval", "--nbval-current-env",
        # Later than the grader's own limit, which kills the whole run: nbval's own time-out
        # would only stop the kernel and look like a dead one.
        f"--nbval-cell-timeout={int(timeout) + 60}",
        "-q", "--color=no", "-W", "ignore::DeprecationWarning", notebook,
    ]  # fmt: skip


def _run_pytest(
    notebook: Path,
    workdir: Path,
    log: Path,
    timeout: float,
    limits: sandboxing.Limits | None = None,
) -> _Run:
    """Run ``pytest --nbval`` on ``notebook`` (in the sandbox with ``limits``)."""
    ini = workdir.parent / "pytest.ini"
    ini.write_text("[pytest]\naddopts =\n", encoding="utf-8")  # ignore any project settings
    output = workdir.parent / "pytest-output.txt"
    closing: list[int] = []
    drain: threading.Thread | None = None
    if limits is None:
        command = [sys.executable, "-c", _BOOT]
        command += _pytest_args(str(ini), str(workdir.parent), notebook.name, timeout)
        env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
        env[LOG_ENV] = str(log)
        pass_fds: tuple[int, ...] = ()
    else:
        inner_notebook = f"{sandboxing.INNER_WORK}/{notebook.name}"
        inner = [sys.executable, "-c", _SANDBOX_BOOT]
        inner += _pytest_args(sandboxing.INNER_INI, sandboxing.INNER_TMP, inner_notebook, timeout)
        read_end, write_end = os.pipe()
        notebook_fd = os.open(notebook, os.O_RDONLY)
        ini_fd = os.open(ini, os.O_RDONLY)
        closing = [write_end, notebook_fd, ini_fd]
        pass_fds = tuple(closing)
        command, env = sandboxing.command(
            inner, {notebook_fd: inner_notebook, ini_fd: sandboxing.INNER_INI}, limits
        )
        env[LOG_ENV] = f"fd:{write_end}"
        drain = threading.Thread(target=_drain, args=(read_end, log), daemon=True)
        drain.start()
    seen: dict[int, psutil.Process] = {}
    try:
        with output.open("wb") as sink:
            proc = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=pass_fds,
            )  # fmt: skip
            for fd in closing:
                os.close(fd)
            closing = []
            deadline = time.monotonic() + timeout
            timed_out = False
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                try:
                    for child in psutil.Process(proc.pid).children(recursive=True):
                        seen.setdefault(child.pid, child)
                except psutil.NoSuchProcess:
                    pass
                time.sleep(_POLL_SECONDS)
            _kill_tree(proc, seen.values())  # also reaps what a finished run left behind
    finally:
        for fd in closing:
            os.close(fd)
    if drain is not None:
        drain.join(timeout=10)
    tail = output.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return _Run(timed_out, proc.returncode, tail[-1] if tail else "")


def _read_log(log: Path) -> list[dict]:
    """The plugin's entries (a line cut short by a kill is skipped)."""
    entries: list[dict] = []
    if not log.exists():
        return entries
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _check_results(log: Path) -> dict[str, bool]:
    """check_id -> passed, from the plugin's log (partial if the run was killed)."""
    results: dict[str, bool] = {}
    for entry in _read_log(log):
        cid = entry.get("check_id")
        if cid and "passed" in entry:
            results[cid] = results.get(cid, True) and bool(entry["passed"])
    return results


def _where(origin: Origin) -> str:
    kind, value = origin
    return f"cell {value}" if kind == "cell" else f"check {value}"


#: A student cell's error that a resource limit causes: (what the error starts with, status).
_LIMIT_ERRORS: tuple[tuple[str, str], ...] = (
    ("MemoryError", "out of memory"),
    ("BlockingIOError: [Errno 11]", "too many processes"),
    ("OSError: [Errno 27]", "file too large"),
)


def _limit_note(status: str, limits: sandboxing.Limits | None) -> str:
    if limits is None:
        return ""
    return {
        "out of memory": f" (limit {limits.memory_mb} MB per process)",
        "too many processes": f" (limit {limits.processes} processes and threads)",
        "file too large": f" (limit {limits.file_mb} MB per file)",
    }[status]


def _assemble(
    grade: Grade,
    order: dict[str, float],
    origins: list[Origin],
    entries: list[dict],
    run: _Run,
    timeout: float,
    limits: sandboxing.Limits | None,
) -> None:
    """Fill ``grade`` from the plugin's entries: checks, points, notes and the status."""
    by_cell: dict[int, dict] = {}
    died: int | None = None
    for entry in entries:
        if "died" in entry:
            died = int(entry["died"])
        elif "cell" in entry:
            by_cell.setdefault(int(entry["cell"]), entry)
    results: dict[str, dict] = {}
    for number, entry in by_cell.items():
        if 0 <= number < len(origins) and origins[number][0] == "check":
            results[str(origins[number][1])] = entry
    died_where = _where(origins[died]) if died is not None and died < len(origins) else None

    grade.checks = []
    for cid, points in order.items():
        found = results.get(cid)
        result = CheckResult(check_id=cid, points=points)
        if found is not None and found.get("passed"):
            result.passed, result.earned = True, points
        elif found is not None:
            result.message = found.get("message") or "failed"
            if found.get("kind") == "mismatch":
                yours = " ".join(str(found.get("output", "")).split())[:200]
                result.message += f"; your output: {yours!r}" if yours else "; you printed nothing"
        elif run.timed_out:
            result.message = (
                f"not run: the notebook reached the time limit ({timeout:g} s) before this check"
            )
        elif died_where is not None:
            result.message = f"not run: the kernel died in {died_where}"
        else:
            result.message = "not run"
        grade.checks.append(result)
    grade.passed = sum(c.passed for c in grade.checks)
    grade.failed = [c.check_id for c in grade.checks if not c.passed]
    grade.notes = [
        f"{_where(origins[n])} raised {e.get('message') or 'an error'}"
        for n, e in sorted(by_cell.items())
        if n < len(origins) and origins[n][0] == "cell" and not e.get("passed")
    ]

    if run.timed_out:
        grade.status = f"timeout: stopped after {timeout:g} s"
        return
    if died_where is not None:
        grade.status = f"error: the kernel died in {died_where}"
        return
    for number, entry in sorted(by_cell.items()):
        message = entry.get("message") or ""
        for start, status in _LIMIT_ERRORS:
            if not entry.get("passed") and message.startswith(start) and number < len(origins):
                where = _where(origins[number])
                grade.status = f"error: {status} in {where}{_limit_note(status, limits)}"
                return
    if not by_cell and run.code == 1:
        grade.status = f"error: the kernel did not start ({run.tail[:120]})"
    elif run.code not in (0, 1):
        grade.status = f"error: pytest exit status {run.code} ({run.tail[:120]})"


def grade_notebook(
    solution: nbformat.NotebookNode,
    submission: Path,
    name: str,
    timeout: float = DEFAULT_TIMEOUT,
    label: str | None = None,
    keep: Path | None = None,
    sandbox: sandboxing.Limits | None = None,
) -> Grade:
    """Grade one submission file against ``solution``; never raises for a bad submission.

    With ``keep``, the graded copy and pytest's output are kept in that folder for inspection.
    With ``sandbox``, it runs in bubblewrap under those limits (see ``exam_pipeline.course.sandbox``).
    """
    order = check_points(solution)
    lesson = Path(name).stem
    grade = Grade(
        submission=label or str(submission),
        passed=0,
        total=len(order),
        failed=list(order),
        checks=[CheckResult(cid, points, message="not run") for cid, points in order.items()],
        lesson=lesson,
    )
    try:
        nb = read_submission(submission)
    except SubmissionError as exc:
        grade.status = f"error: {exc}"
        return grade
    if wrong_notebook(solution, nb):
        grade.status = f"error: not a submission for {lesson}"
        for result in grade.checks:
            result.message = f"not run: this notebook is not {lesson}"
        return grade
    problems = syntax_errors(nb)
    copy, origins = graded_copy_with_origins(solution, nb)
    root = Path(tempfile.mkdtemp(prefix="exam-grade-"))
    # The results log lives apart from the submission's folder (not at ``../checks.jsonl``) and
    # its path is taken out of the environment: student code cannot stumble on it. It is not
    # hidden from code that searches for it outside the sandbox (see docs/grading.md).
    logs = Path(tempfile.mkdtemp(prefix="exam-results-"))
    try:
        workdir = root / "work"
        workdir.mkdir()
        notebook = workdir / name
        nbformat.write(copy, notebook)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(notebook, keep / name)
        log = logs / "checks.jsonl"
        run = _run_pytest(notebook, workdir, log, timeout, sandbox)
        entries = _read_log(log)
        if keep is not None:
            shutil.copy(root / "pytest-output.txt", keep / "pytest-output.txt")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
    _assemble(grade, order, origins, entries, run, timeout, sandbox)
    if problems and grade.status == "ok":
        grade.status = "error: " + "; ".join(problems[:3])
    return grade


def prepare(
    solution_path: str | Path,
    submissions: Sequence[str | Path],
    timeout: float,
    jobs: int,
    sandbox: sandboxing.Limits | None,
) -> nbformat.NotebookNode:
    """Check the options before a batch (which takes a while); return the solution."""
    if timeout <= 0:
        raise PipelineInputError(f"--timeout must be positive, got {timeout:g}")
    if jobs < 1:
        raise PipelineInputError(f"--jobs must be 1 or more, got {jobs}")
    if not submissions:
        raise PipelineInputError("no submissions given")
    solution = load_solution(solution_path)
    if sandbox is not None:
        sandboxing.bwrap_path()
        sandboxing.check_hidden([Path(solution_path)], "--solution")
        if sandbox.memory_mb < 256:
            raise PipelineInputError(
                f"--memory must be at least 256 (MB): a kernel needs that much; got {sandbox.memory_mb}"
            )
    return solution


def grade_all(
    solution_path: str | Path,
    submissions: Sequence[str | Path],
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = 1,
    progress: Callable[[Grade], None] | None = None,
    keep: Path | None = None,
    sandbox: sandboxing.Limits | None = None,
) -> list[Grade]:
    """Grade every submission (``jobs`` at a time); results in the order given.

    ``keep``: a folder that gets one sub-folder per submission (graded copy, pytest output).
    ``sandbox``: run each in bubblewrap under these limits (Linux with bwrap only).
    """
    solution = prepare(solution_path, submissions, timeout, jobs, sandbox)
    name = Path(solution_path).name

    def one(index: int, path: str | Path) -> Grade:
        folder = None if keep is None else Path(keep) / f"{index:03d}_{Path(path).stem}"
        grade = grade_notebook(
            solution, Path(path), name, timeout, label=str(path), keep=folder, sandbox=sandbox
        )
        if progress is not None:
            progress(grade)
        return grade

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, range(len(submissions)), submissions))


# --------------------------------------------------------------------------- reporting


def student_id(path: str | Path) -> str:
    """The student a submission belongs to, from its file name (docs/grading.md, Gradebook).

    The file name without its folders and ``.ipynb``; if that holds ``__`` (two underscores),
    only the part before it: ``ada.ipynb`` and ``subs/ada__01_pipeline_mindset.ipynb`` are both
    ``ada``. Use the identifier your learning platform knows (a username or an ID number).
    """
    stem = Path(str(path).replace("\\", "/")).name.removesuffix(".ipynb")
    return stem.split("__", 1)[0] if "__" in stem else stem


def check_students(submissions: Sequence[str | Path]) -> None:
    """Fail before grading if two submissions map to the same student (the gradebook's key)."""
    seen: dict[str, str] = {}
    for path in submissions:
        student = student_id(path)
        if not student:
            raise PipelineInputError(f"{path}: no student identifier in the file name")
        if student in seen:
            raise PipelineInputError(
                f"--gradebook: {seen[student]} and {path} are both student {student!r}; "
                "one submission per student (see docs/grading.md, Gradebook)"
            )
        seen[student] = str(path)


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def to_csv(grades: Iterable[Grade], gradebook: bool = False) -> str:
    """grades.csv: ``submission,passed,total,score,status``.

    ``gradebook``: then ``student``, one column per check_id (points earned) and
    ``points``, ``max_points``: one row per student, which Moodle's "Import grades from CSV"
    maps onto its grade items.
    """
    grades = list(grades)
    columns = list(CSV_COLUMNS)
    check_ids: list[str] = []
    if gradebook:
        check_ids = [c.check_id for c in grades[0].checks] if grades else []
        columns += [GRADEBOOK_COLUMNS[0], *check_ids, *GRADEBOOK_COLUMNS[1:]]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for grade in grades:
        row: dict[str, str | int] = dict(grade.row())
        if gradebook:
            earned = {c.check_id: c.earned for c in grade.checks}
            row["student"] = student_id(grade.submission)
            row.update({cid: _points(earned.get(cid, 0.0)) for cid in check_ids})
            row["points"] = _points(grade.points)
            row["max_points"] = _points(grade.max_points)
        writer.writerow(row)
    return buffer.getvalue()


def check_out(out: str | Path) -> Path:
    """Fail before grading (which takes a while) if the CSV cannot be written there."""
    out = Path(out)
    if out.is_dir():
        raise PipelineInputError(f"--out {out}: is a folder, expected a CSV file name")
    if out.parent.exists() and not out.parent.is_dir():
        raise PipelineInputError(f"--out {out}: {out.parent} is a file, expected a folder")
    return out


def write_csv(grades: Iterable[Grade], out: str | Path, gradebook: bool = False) -> Path:
    return atomic_write_text(check_out(out), to_csv(grades, gradebook=gradebook))


def progress_line(grade: Grade) -> str:
    """One console line per submission, with the checks that failed."""
    line = f"{grade.submission}: {grade.passed}/{grade.total} checks, score {grade.score:g} ({grade.status})"
    if grade.failed and grade.passed:
        line += f"; failed: {', '.join(grade.failed)}"
    return line


HISTOGRAM_BINS: tuple[tuple[str, float, float], ...] = (
    ("0-19", 0, 20), ("20-39", 20, 40), ("40-59", 40, 60),
    ("60-79", 60, 80), ("80-99", 80, 100), ("100", 100, 101),
)  # fmt: skip


def summary(grades: Sequence[Grade], width: int = 40) -> str:
    """Class summary: how many, mean score, statuses, and a text histogram of scores."""
    if not grades:
        return "No submissions graded.\n"
    mean = sum(g.score for g in grades) / len(grades)
    statuses = {"ok": 0, "timeout": 0, "error": 0}
    for grade in grades:
        statuses[grade.status.split(":")[0]] += 1
    counts = [sum(lo <= g.score < hi for g in grades) for _, lo, hi in HISTOGRAM_BINS]
    scale = max(1.0, max(counts) / width)
    lines = [
        f"Class summary: {len(grades)} submissions, mean score {mean:.1f}",
        "status: " + ", ".join(f"{k} {v}" for k, v in statuses.items()),
        "score histogram:",
    ]
    for (label, _, _), count in zip(HISTOGRAM_BINS, counts, strict=True):
        lines.append(f"  {label:>6} | {count:>3} {'#' * round(count / scale)}".rstrip())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- pytest plugin
#
# Loaded with ``-p exam_pipeline.course.grading`` inside the grading subprocess; does nothing unless
# LOG_ENV is set. It logs one JSON line per cell as soon as its result is known (a run killed
# by the time limit still has the checks that passed before it), and watches the kernel.

_log_target: str | None = None
_running: dict[str, object] = {}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _log(entry: dict) -> None:
    line = (json.dumps(entry) + "\n").encode("utf-8")
    if _log_target is None:
        return
    if _log_target.startswith("fd:"):
        os.write(int(_log_target[3:]), line[:4000])  # one write below PIPE_BUF: never mixed
    else:
        with open(_log_target, "ab") as handle:
            handle.write(line)


def pytest_configure(config) -> None:  # noqa: ANN001 - a pytest hook
    """Take the log's location out of the environment, which the kernel would inherit."""
    global _log_target
    _log_target = os.environ.pop(LOG_ENV, None)
    if _log_target and _log_target.startswith("fd:") and sys.platform.startswith("linux"):
        # Not dumpable: the kernel (same user) cannot open the pipe via /proc/<pid>/fd.
        import ctypes

        ctypes.CDLL(None).prctl(4, 0)  # PR_SET_DUMPABLE


def pytest_collection_finish(session) -> None:  # noqa: ANN001 - a pytest hook
    """The graded copy holds the reference outputs: remove it once nbval has read it."""
    if _log_target is None:
        return
    for path in {str(getattr(item, "fspath", "")) for item in session.items}:
        try:
            os.unlink(path)
        except OSError:
            pass


def _kernel_dead(notebook_item) -> bool:  # noqa: ANN001 - nbval's IPyNbFile
    kernel = getattr(notebook_item, "kernel", None)
    provisioner = getattr(getattr(kernel, "km", None), "provisioner", None)
    process = getattr(provisioner, "process", None)
    return process is not None and process.poll() is not None


def _watch() -> None:
    """A kernel that dies mid-cell leaves nbval waiting out its cell time-out: end it now."""
    while True:
        time.sleep(0.25)
        cell, parent = _running.get("cell"), _running.get("parent")
        if cell is not None and parent is not None and _kernel_dead(parent):
            _log({"died": cell})
            os._exit(KERNEL_DIED_EXIT)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item) -> None:  # noqa: ANN001 - a pytest hook
    if _log_target is None or not hasattr(item, "cell_num"):
        return
    _running["cell"], _running["parent"] = item.cell_num, item.parent
    if "thread" not in _running:
        _running["thread"] = threading.Thread(target=_watch, daemon=True)
        _running["thread"].start()  # type: ignore[attr-defined]


def _output_text(outputs: list) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", "") + "\n")
    return "".join(parts)


def _explain(item, call) -> dict[str, str]:  # noqa: ANN001 - pytest objects
    """Why a cell failed, for the student: never the reference output."""
    outputs = list(getattr(item, "test_outputs", None) or [])
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if errors:
        error = errors[-1]
        message = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}".rstrip(": ")
        if error.get("ename") == "AssertionError" and not error.get("evalue"):
            lines = _ANSI.sub("", "\n".join(error.get("traceback", []))).splitlines()
            failing = [ln.split("---->", 1)[1].strip() for ln in lines if "---->" in ln]
            if failing:
                message += f" at `{failing[-1].split(' ', 1)[-1].strip()}`"
        return {"kind": "error", "message": message[:500]}
    text = str(call.excinfo.value) if call.excinfo is not None else ""
    if "Cell outputs differ" in text:
        return {
            "kind": "mismatch",
            "message": "the output differs from what the check expects",
            "output": _output_text(outputs)[:500],
        }
    return {"kind": "other", "message": text.splitlines()[0][:200] if text else "failed"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201 - a pytest hook
    outcome = yield
    if _log_target is None or call.when != "call" or not hasattr(item, "cell_num"):
        return
    _running["cell"] = None
    report = outcome.get_result()
    entry: dict[str, object] = {
        "cell": item.cell_num,
        "check_id": item.cell.get("metadata", {}).get("check_id"),
        "passed": report.passed,
    }
    if not report.passed:
        entry.update(_explain(item, call))
    _log(entry)
