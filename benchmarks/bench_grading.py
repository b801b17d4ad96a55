"""Grading throughput: `exam-pipeline grade` (with and without --sandbox) against nbgrader.

    python benchmarks/bench_grading.py                  # 6 submissions (what `make bench` runs)
    python benchmarks/bench_grading.py --submissions 12

The batch: lesson 01 (solutions/01_pipeline_mindset.ipynb), half of it solved copies, half
untouched student notebooks. Each is graded by

* ``exam_pipeline.course.grading.grade_all`` (what ``exam-pipeline grade`` runs) with ``--jobs 1`` and
  ``--jobs 2``, each without and with ``--sandbox`` (default limits);
* nbgrader's ``nbgrader autograde`` (which grades one submission at a time), in a throwaway
  virtual environment this script makes and ``pip install nbgrader``s into (the one download
  it does; skipped with a message when that fails). Its kernel is the course's Python, so
  both run the same code with the same libraries. The lesson is turned into an nbgrader
  source notebook: answer cells become ``solution`` cells, check cells ``grade`` cells worth
  1 point; ``nbgrader generate_assignment`` makes the student version from it.

Prints a Markdown table: wall time, submissions per minute, and the ratio to nbgrader.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from bench import ROOT, machine

from exam_pipeline.course import grading, sandbox
from exam_pipeline.course.notebooks import check_id, has_solution, is_check

LESSON = ROOT / "solutions" / "01_pipeline_mindset.ipynb"
STUDENT = ROOT / "notebooks" / "01_pipeline_mindset.ipynb"
ASSIGNMENT = "ps1"


def batch(folder: Path, count: int) -> list[Path]:
    """``count`` submissions: solved and untouched copies, alternating."""
    paths = []
    for number in range(count):
        source = LESSON if number % 2 == 0 else STUDENT
        path = folder / f"s{number:02d}.ipynb"
        shutil.copy(source, path)
        paths.append(path)
    return paths


def time_exam_pipeline(paths: list[Path], jobs: int, sandboxed: bool) -> tuple[float, str]:
    limits = sandbox.Limits() if sandboxed else None
    start = time.perf_counter()
    grades = grading.grade_all(LESSON, paths, timeout=300, jobs=jobs, sandbox=limits)
    seconds = time.perf_counter() - start
    scores = sorted({g.score for g in grades})
    statuses = sorted({g.status for g in grades})
    return seconds, f"scores {scores}, status {statuses}"


def nbgrader_source() -> nbformat.NotebookNode:
    """The lesson with nbgrader's cell metadata: answers are solution cells, checks grade cells."""
    nb = nbformat.read(LESSON, as_version=4)
    for number, cell in enumerate(nb.cells):
        if is_check(cell):
            meta = {"grade": True, "solution": False, "locked": True, "points": 1}
            meta["grade_id"] = check_id(cell)
        elif has_solution(cell):
            meta = {"grade": False, "solution": True, "locked": False}
            meta["grade_id"] = f"answer-{number}"
        else:
            continue
        cell.metadata["nbgrader"] = {**meta, "schema_version": 3}
    return nb


def make_nbgrader_venv(folder: Path) -> Path | None:
    """A throwaway venv with nbgrader; None (and a message) when it cannot be installed."""
    venv = folder / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "nbgrader"],
            check=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"nbgrader skipped: could not install it into a throwaway venv ({exc})")
        return None
    return venv


def time_nbgrader(venv: Path, folder: Path, count: int) -> tuple[float, str]:
    """``nbgrader autograde`` over the same batch; the kernel is the course's Python."""
    course = folder / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nbgrader_source(), course / "source" / ASSIGNMENT / LESSON.name)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        "c.ExecutePreprocessor.timeout = 300\n",
        encoding="utf-8",
    )
    kernels = folder / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "course Python",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    # nbgrader runs `alembic` (its database migrations) from PATH.
    path = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, JUPYTER_PATH=str(folder / "jupyter"), PATH=path)
    nbgrader = str(venv / "bin" / "nbgrader")

    def run(*args: str) -> None:
        done = subprocess.run(
            [nbgrader, *args], cwd=course, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"nbgrader {' '.join(args)} failed: {' | '.join(tail)}")

    run("db", "assignment", "add", ASSIGNMENT)
    run("generate_assignment", ASSIGNMENT, "--force")
    released = course / "release" / ASSIGNMENT / LESSON.name
    for number in range(count):
        student = f"s{number:02d}"
        run("db", "student", "add", student)
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        source = course / "source" / ASSIGNMENT / LESSON.name if number % 2 == 0 else released
        shutil.copy(source, target / LESSON.name)
    start = time.perf_counter()
    run("autograde", ASSIGNMENT, "--force")
    seconds = time.perf_counter() - start
    run("export", "--to", str(folder / "grades.csv"))
    rows = (folder / "grades.csv").read_text(encoding="utf-8").splitlines()[1:]
    scores = sorted({row.split(",")[-2] for row in rows})
    return seconds, f"scores {scores} (of 3)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=6, help="batch size (default: 6)")
    parser.add_argument(
        "--nbgrader-venv",
        type=Path,
        help="a virtual environment with nbgrader already installed (default: make a throwaway one)",
    )
    args = parser.parse_args()
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp)
        paths = batch(folder, args.submissions)
        runs = [(1, False), (1, True), (2, False), (2, True)]
        if shutil.which("bwrap") is None or not sys.platform.startswith("linux"):
            print("--sandbox rows skipped: needs Linux and bwrap (Debian package 'bubblewrap')")
            runs = [(jobs, sandboxed) for jobs, sandboxed in runs if not sandboxed]
        for jobs, sandboxed in runs:
            seconds, check = time_exam_pipeline(paths, jobs, sandboxed)
            label = f"`exam-pipeline grade --jobs {jobs}{' --sandbox' if sandboxed else ''}`"
            rows.append((label, seconds, check))
            print(f"{label}: {seconds:.1f} s ({check})", file=sys.stderr)
        venv = args.nbgrader_venv or make_nbgrader_venv(folder)
        reference = None
        if venv is not None:
            version = subprocess.run(
                [venv / "bin" / "python", "-c", "import nbgrader; print(nbgrader.__version__)"],
                capture_output=True, text=True, check=False,
            ).stdout.strip()  # fmt: skip
            try:
                seconds, check = time_nbgrader(venv, folder, args.submissions)
            except RuntimeError as exc:
                print(f"nbgrader skipped: {exc}")
            else:
                rows.append((f"`nbgrader autograde` ({version})", seconds, check))
                reference = seconds
                print(f"nbgrader: {seconds:.1f} s ({check})", file=sys.stderr)

    print(f"\nMachine: {machine()}.\n")
    print(f"Batch: {args.submissions} lesson-01 submissions (half solved, half untouched).\n")
    print("| grader | wall time (s) | submissions/min | throughput vs nbgrader | scores seen |")
    print("|---|---:|---:|---:|---|")
    for label, seconds, check in rows:
        per_minute = 60 * args.submissions / seconds
        ratio = f"{reference / seconds:.2f}x" if reference else "n/a"
        print(f"| {label} | {seconds:.1f} | {per_minute:.1f} | {ratio} | {check} |")


if __name__ == "__main__":
    main()
