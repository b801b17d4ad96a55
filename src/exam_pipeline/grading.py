"""Grade student notebooks against a solution with ``pytest --nbval`` (``exam-pipeline grade``).

Plain nbval compares a notebook with its own stored outputs, so a student could edit a check or
its expected output. The grader therefore builds a *graded copy* of each submission: the
student's own cells (outputs cleared, so nbval runs them but compares nothing) plus every check
cell of the solution, source *and* reference outputs, matched by ``check_id``. A check the
student deleted is put back where the solution has it, a changed one is replaced, duplicates
are dropped. Only check cells count toward the score.

Each copy runs in its own ``pytest`` subprocess (own kernel, own temporary working folder) under
a time limit; on timeout the whole process tree is killed and the batch goes on. This is *not* a
sandbox: see docs/instructors.md, "Isolation".
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

from .files import atomic_write_text
from .notebooks import CHECK_TAG, RAISES_TAG, check_id, is_check, tags
from .validate import PipelineInputError

CSV_COLUMNS: tuple[str, ...] = ("submission", "passed", "total", "score", "status")
DEFAULT_TIMEOUT = 300.0
#: Environment variable naming the file where the pytest plugin below logs check results.
LOG_ENV = "EXAM_PIPELINE_GRADE_LOG"
_POLL_SECONDS = 0.2
#: ``python -m pytest``, minus an optional URL-syntax checker that jsonschema (under nbformat)
#: imports when installed: it takes seconds to load and notebook validation never uses it.
_BOOT = "import sys; sys.modules['rfc3987_syntax'] = None; import pytest; sys.exit(pytest.main())"


class SubmissionError(Exception):
    """A submission cannot be graded at all (not JSON, not a notebook); the reason is short."""


@dataclass
class Grade:
    """One row of grades.csv, plus the ids of the checks that did not pass (for the console)."""

    submission: str
    passed: int
    total: int
    status: str = "ok"
    failed: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Percentage of checks passed, 0-100, one decimal."""
        return round(100.0 * self.passed / self.total, 1) if self.total else 0.0

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
    return nb


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
    reference = {check_id(c): c for c in solution.cells if is_check(c)}
    slots: list[nbformat.NotebookNode | str] = []  # student cells, check_ids of references
    for cell in submission.cells:
        cid = check_id(cell) if cell.cell_type == "code" else None
        if cid not in reference:
            slots.append(cell)
        elif cid not in slots:
            slots.append(cid)

    for index in range(len(solution.cells) - 1, -1, -1):  # right to left: later anchors first
        cell = solution.cells[index]
        if not is_check(cell) or check_id(cell) in slots:
            continue
        found = (_slot_of(slots, later) for later in solution.cells[index + 1 :])
        position = next((i for i in found if i is not None), len(slots))
        slots.insert(position, check_id(cell))

    nb = nbformat.v4.new_notebook(metadata=json.loads(json.dumps(solution.metadata)))
    for number, slot in enumerate(slots):
        cell = _reference_check(reference[slot]) if isinstance(slot, str) else _student_cell(slot)
        cell["id"] = f"graded-{number}"
        nb.cells.append(cell)
    return nb


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


def _run_pytest(notebook: Path, workdir: Path, log: Path, timeout: float) -> tuple[bool, int, str]:
    """Run ``pytest --nbval`` on ``notebook``; return (timed out?, exit code, output tail)."""
    ini = workdir.parent / "pytest.ini"
    ini.write_text("[pytest]\naddopts =\n", encoding="utf-8")  # ignore any project settings
    command = [
        sys.executable, "-c", _BOOT, "-c", str(ini), "--rootdir", str(workdir.parent),
        "-p", "nbval.plugin", "-p", "exam_pipeline.grading", "-p", "no:cacheprovider",
        "--nbval", "--nbval-current-env", f"--nbval-cell-timeout={max(1, int(timeout))}",
        "-q", "--color=no", "-W", "ignore::DeprecationWarning", notebook.name,
    ]  # fmt: skip
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    env[LOG_ENV] = str(log)
    output = workdir.parent / "pytest-output.txt"
    seen: dict[int, psutil.Process] = {}
    with output.open("wb") as sink:
        proc = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
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
    tail = output.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return timed_out, proc.returncode, tail[-1] if tail else ""


def _check_results(log: Path) -> dict[str, bool]:
    """check_id -> passed, from the plugin's log (partial if the run was killed)."""
    results: dict[str, bool] = {}
    if not log.exists():
        return results
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        results[entry["check_id"]] = results.get(entry["check_id"], True) and entry["passed"]
    return results


def grade_notebook(
    solution: nbformat.NotebookNode,
    submission: Path,
    name: str,
    timeout: float = DEFAULT_TIMEOUT,
    label: str | None = None,
    keep: Path | None = None,
) -> Grade:
    """Grade one submission file against ``solution``; never raises for a bad submission.

    With ``keep``, the graded copy and pytest's output are kept in that folder for inspection.
    """
    order = [check_id(c) for c in solution.cells if is_check(c)]
    grade = Grade(
        submission=label or str(submission), passed=0, total=len(order), failed=list(order)
    )
    try:
        nb = read_submission(submission)
    except SubmissionError as exc:
        grade.status = f"error: {exc}"
        return grade
    problems = syntax_errors(nb)
    copy = graded_copy(solution, nb)
    root = Path(tempfile.mkdtemp(prefix="exam-grade-"))
    # The results log lives apart from the submission's folder (not at ``../checks.jsonl``) and
    # its path is taken out of the environment: student code cannot stumble on it. It is not
    # hidden from code that searches for it (see docs/instructors.md, "Isolation").
    logs = Path(tempfile.mkdtemp(prefix="exam-results-"))
    try:
        workdir = root / "work"
        workdir.mkdir()
        notebook = workdir / name
        nbformat.write(copy, notebook)
        log = logs / "checks.jsonl"
        timed_out, code, tail = _run_pytest(notebook, workdir, log, timeout)
        results = _check_results(log)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(notebook, keep / name)
            shutil.copy(root / "pytest-output.txt", keep / "pytest-output.txt")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
    grade.passed = sum(1 for cid in order if results.get(cid))
    grade.failed = [cid for cid in order if not results.get(cid)]
    if timed_out:
        grade.status = f"timeout: stopped after {timeout:g} s"
    elif code not in (0, 1):
        grade.status = f"error: pytest exit status {code} ({tail[:120]})"
    elif problems:
        grade.status = "error: " + "; ".join(problems[:3])
    return grade


def grade_all(
    solution_path: str | Path,
    submissions: Sequence[str | Path],
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = 1,
    progress: Callable[[Grade], None] | None = None,
    keep: Path | None = None,
) -> list[Grade]:
    """Grade every submission (``jobs`` at a time); results in the order given.

    ``keep``: a folder that gets one sub-folder per submission (graded copy, pytest output).
    """
    if timeout <= 0:
        raise PipelineInputError(f"--timeout must be positive, got {timeout:g}")
    if jobs < 1:
        raise PipelineInputError(f"--jobs must be 1 or more, got {jobs}")
    if not submissions:
        raise PipelineInputError("no submissions given")
    solution = load_solution(solution_path)
    name = Path(solution_path).name

    def one(index: int, path: str | Path) -> Grade:
        folder = None if keep is None else Path(keep) / f"{index:03d}_{Path(path).stem}"
        grade = grade_notebook(solution, Path(path), name, timeout, label=str(path), keep=folder)
        if progress is not None:
            progress(grade)
        return grade

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, range(len(submissions)), submissions))


# --------------------------------------------------------------------------- reporting


def to_csv(grades: Iterable[Grade]) -> str:
    """grades.csv: ``submission,passed,total,score,status``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for grade in grades:
        writer.writerow(grade.row())
    return buffer.getvalue()


def check_out(out: str | Path) -> Path:
    """Fail before grading (which takes a while) if the CSV cannot be written there."""
    out = Path(out)
    if out.is_dir():
        raise PipelineInputError(f"--out {out}: is a folder, expected a CSV file name")
    if out.parent.exists() and not out.parent.is_dir():
        raise PipelineInputError(f"--out {out}: {out.parent} is a file, expected a folder")
    return out


def write_csv(grades: Iterable[Grade], out: str | Path) -> Path:
    return atomic_write_text(check_out(out), to_csv(grades))


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


_log_path: str | None = None


def pytest_configure(config) -> None:  # noqa: ANN001 - a pytest hook
    """Inside the grading subprocess: take the log path out of the environment.

    The kernel inherits the environment, so student code would otherwise see where results go.
    """
    global _log_path
    _log_path = os.environ.pop(LOG_ENV, None)


def pytest_itemcollected(item) -> None:  # noqa: ANN001 - a pytest hook
    """Inside the grading subprocess: carry each nbval cell's check_id onto its test reports."""
    cell = getattr(item, "cell", None)
    if cell is not None and cell.get("metadata", {}).get("check_id"):
        item.user_properties.append(("check_id", cell["metadata"]["check_id"]))


def pytest_runtest_logreport(report) -> None:  # noqa: ANN001 - a pytest hook
    """Inside the grading subprocess: log each check cell's result as soon as it is known.

    Loaded with ``-p exam_pipeline.grading``; does nothing unless LOG_ENV is set. Writing as we
    go means a run killed by the time limit still has the checks that passed before it.
    """
    cid = dict(report.user_properties).get("check_id")
    if not _log_path or not cid or report.when != "call":
        return
    with open(_log_path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"check_id": cid, "passed": report.passed}) + "\n")
