"""Grading batches on a Dask cluster (``exam-pipeline grade --scheduler tcp://HOST:PORT``).

Each submission becomes one Dask task that runs ``grading.grade_notebook`` on a worker: the
same graded copy, time limit, dead-kernel watchdog and (with ``--sandbox``) bubblewrap sandbox
as a local run. The task carries the solution and the submission's bytes, so workers need no
shared folder, only ``exam_pipeline`` (and ``bwrap`` for ``--sandbox``) installed. Results come
back in the order they finish; a worker that dies (killed, out of memory, its machine lost) has
its tasks rescheduled on the others by the scheduler, up to its ``allowed-failures`` (3 by
default) for any one task, after which that submission gets an error status.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat

from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.course import grading
from exam_pipeline.course import sandbox as sandboxing


def grade_bytes(
    solution_json: str,
    name: str,
    data: bytes,
    label: str,
    timeout: float,
    limits: sandboxing.Limits | None,
) -> grading.Grade:
    """On a worker: grade one submission given as bytes (written to a private temporary file)."""
    if limits is not None:
        sandboxing.bwrap_path()  # a worker without bwrap says so, by name
    solution = nbformat.reads(solution_json, as_version=4)
    with tempfile.TemporaryDirectory(prefix="exam-submission-") as folder:
        path = Path(folder) / "submission.ipynb"
        path.write_bytes(data)
        return grading.grade_notebook(solution, path, name, timeout, label=label, sandbox=limits)


def _failed(solution: nbformat.NotebookNode, label: str, lesson: str, why: str) -> grading.Grade:
    order = grading.check_points(solution)
    checks = [grading.CheckResult(cid, p, message=f"not run: {why}") for cid, p in order.items()]
    return grading.Grade(
        submission=label,
        passed=0,
        total=len(order),
        status=f"error: {why}",
        failed=list(order),
        checks=checks,
        lesson=lesson,
    )


def grade_on_cluster(
    scheduler: str,
    solution_path: str | Path,
    submissions: Sequence[str | Path],
    timeout: float = grading.DEFAULT_TIMEOUT,
    progress: Callable[[grading.Grade], None] | None = None,
    sandbox: sandboxing.Limits | None = None,
) -> list[grading.Grade]:
    """Grade every submission on the cluster at ``scheduler``; results in the order given."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    from exam_pipeline.engines.dask_engine import connect

    solution = grading.prepare(solution_path, submissions, timeout, 1, None)
    if sandbox is not None and sandbox.memory_mb < 256:
        raise PipelineInputError(f"--memory must be at least 256 (MB), got {sandbox.memory_mb}")
    name = Path(solution_path).name
    lesson = Path(name).stem
    solution_json = nbformat.writes(solution)
    client = connect(scheduler)
    grades: list[grading.Grade | None] = [None] * len(submissions)
    with client:
        futures = {}
        for index, path in enumerate(submissions):
            try:
                data = Path(path).read_bytes()
            except OSError:
                # Unreadable here: the local grader gives the usual short reason.
                grade = grading.grade_notebook(solution, Path(path), name, timeout, str(path))
                grades[index] = grade
                if progress is not None:
                    progress(grade)
                continue
            future = client.submit(
                grade_bytes, solution_json, name, data, str(path), timeout, sandbox,
                key=f"grade-{index}-{Path(path).stem}", pure=False,
            )  # fmt: skip
            futures[future] = index
        for future in as_completed(list(futures), loop=client.loop):
            index = futures[future]
            label = str(submissions[index])
            try:
                grade = future.result()
            except PipelineInputError:
                raise
            except KilledWorker:
                grade = _failed(solution, label, lesson, "every Dask worker that graded it died")
            except Exception as exc:  # noqa: BLE001 - one submission's failure, not the batch's
                why = f"grading failed on a Dask worker ({type(exc).__name__}: {exc})"
                grade = _failed(solution, label, lesson, why[:200])
            grades[index] = grade
            if progress is not None:
                progress(grade)
    return [g for g in grades if g is not None]
