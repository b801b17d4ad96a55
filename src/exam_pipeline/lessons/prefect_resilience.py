"""Lesson 07 (resilience and speed): a flaky score source, a cheap cache key, quiet failures.

- :func:`attempt_fails` decides, repeatably, whether one attempt to reach a flaky source fails:
  the first attempt always does, later ones at random from a seeded generator. The same seed
  gives the same story on every run, so a notebook that shows retries stores stable output.
- :func:`flaky_read_scores` is a Prefect task around :func:`exam_pipeline.core.data.read_scores`
  that fails like that and retries with exponential backoff.
- :func:`file_cache_key` keys a cache on a file's path, size and modification time: cheap at
  any size, where Prefect's default policy hashes every input (a 10 M-row DataFrame cost 2.3 s).
  :func:`cached_clean` uses it (plus the task's source code) for the cleaning step.
- :func:`resilient_exam` is a small flow over the flaky source, importable from a file, so
  it can be served on a schedule (interactively defined flows cannot be deployed).
- :func:`hide_tracebacks` keeps notebook outputs free of machine paths, and
  :func:`runs_in_order` prints concurrent task runs' log lines grouped by run, in the order
  they happened, instead of the varying order in which threads reached the console.

Call :func:`exam_pipeline.engines.prefect_settings.configure` before importing this module, as for
:mod:`exam_pipeline.engines.prefect_flow`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.context import TaskRunContext
from prefect.runtime import task_run
from prefect.tasks import exponential_backoff

from exam_pipeline.core.analysis import split_groups, summarize_groups, ttest
from exam_pipeline.core.clean import CleanResult, clean_scores
from exam_pipeline.core.data import CsvFormat, dataset_path, read_scores
from exam_pipeline.engines.prefect_settings import StdoutHandler


def attempt_fails(seed: int, attempt: int, failure_rate: float = 0.5) -> bool:
    """Whether attempt number ``attempt`` (1, 2, ...) of a flaky source fails.

    The first attempt always fails (so retries always show); later ones fail with probability
    ``failure_rate``, drawn from a generator seeded by ``seed`` and ``attempt`` together, so the
    answer does not depend on what else used randomness before.
    """
    if not 0 <= failure_rate < 1:
        raise ValueError(f"failure_rate must be in [0, 1), got {failure_rate}")
    if attempt <= 1:
        return True
    return random.Random(seed * 1_000 + attempt).random() < failure_rate


def attempts_needed(seed: int, failure_rate: float = 0.5, limit: int = 100) -> int:
    """The first attempt that succeeds for ``seed`` (what ``task_run.run_count`` will be)."""
    for attempt in range(1, limit + 1):
        if not attempt_fails(seed, attempt, failure_rate):
            return attempt
    raise RuntimeError(f"seed {seed} fails {limit} times in a row")


@task(
    retries=5,
    retry_delay_seconds=exponential_backoff(backoff_factor=0.01),
    task_run_name="read-flaky",
)
def flaky_read_scores(
    path: str | Path, seed: int = 0, failure_rate: float = 0.5
) -> tuple[pd.DataFrame, CsvFormat]:
    """Read the exam CSV as if over a bad network link: fails now and then, then succeeds.

    ``task_run.run_count`` is the attempt number (1, then 2 on the first retry, ...); with
    ``retries=5`` a seed whose :func:`attempts_needed` is above 6 ends ``Failed``.
    """
    attempt = task_run.run_count
    if attempt_fails(seed, attempt, failure_rate):
        raise ConnectionError(f"attempt {attempt}: the score server did not answer")
    return read_scores(path)


def file_fingerprint(path: str | Path) -> str:
    """A short hash of a file's absolute path, size and modification time (not its contents)."""
    path = Path(path).resolve()
    stat = path.stat()
    text = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def file_cache_key(context: TaskRunContext | None, parameters: dict[str, Any]) -> str:
    """A ``cache_key_fn``: the fingerprint of the task's ``path`` argument.

    A changed file (new size or modification time) misses the cache; an untouched one hits it,
    however many rows it holds, because no data is read or hashed.
    """
    return file_fingerprint(parameters["path"])


#: The task's own code and the file's fingerprint: edit either and the cache misses.
FILE_AND_SOURCE: CachePolicy = TASK_SOURCE + CachePolicy.from_cache_key_fn(file_cache_key)


@task(
    cache_policy=FILE_AND_SOURCE,
    cache_expiration=datetime.timedelta(days=1),
    task_run_name="clean-{path}",
)
def cached_clean(path: str | Path) -> CleanResult:
    """Read and clean a score file once; later runs on the unchanged file come from the cache."""
    raw, fmt = read_scores(path)
    return clean_scores(raw, decimal=fmt.decimal)


@flow(flow_run_name="resilient-exam")
def resilient_exam(path: str | None = None, seed: int = 0) -> dict[str, float]:
    """Class means and Welch's p-value (3 significant digits), read through the flaky source.

    ``path`` defaults to the bundled lesson data; the analysis is the shared one.
    """
    raw, fmt = flaky_read_scores(path or dataset_path(), seed=seed)
    groups = split_groups(clean_scores(raw, decimal=fmt.decimal).frame)
    result: dict[str, float] = {
        f"mean_{label}": round(s.mean, 2) for label, s in summarize_groups(groups).items()
    }
    first, second = groups.values()
    result["p"] = float(f"{ttest(first, second).p:.3g}")
    return result


class NoTraceback(logging.Filter):
    """Keep a console log line but drop its traceback.

    Prefect logs the whole traceback of a failed task; its file paths differ from machine to
    machine. The API handler sees the record first, so the server UI still gets the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def hide_tracebacks() -> int:
    """Print failed task runs as one line on the course console; return the handlers changed.

    For lessons that make tasks fail on purpose. Call it after ``import prefect`` (which sets up
    logging from :mod:`exam_pipeline.engines.prefect_settings`).
    """
    changed = 0
    for handler in logging.getLogger().handlers:
        if isinstance(handler, StdoutHandler) and not any(
            isinstance(f, NoTraceback) for f in handler.filters
        ):
            handler.addFilter(NoTraceback())
            changed += 1
    return changed


@dataclass
class _Line:
    seq: int  # the order in which the console handler received it
    text: str
    task_run_id: str | None


class _Collect(logging.Filter):
    """Keep each console record's formatted line (in arrival order) instead of printing it."""

    def __init__(self, handler: logging.Handler, lines: list[_Line]) -> None:
        super().__init__()
        self.handler, self.lines = handler, lines

    def filter(self, record: logging.LogRecord) -> bool:
        run = getattr(record, "task_run_id", None)
        self.lines.append(_Line(len(self.lines), self.handler.format(record), run))
        return False  # printed later, by runs_in_order


def causal_lines(lines: list[_Line]) -> list[str]:
    """The lines grouped by task run, each group where its run began, flow lines in order.

    The flow's own lines (and lines from no run) keep the order they were logged in. Each task
    run's lines stay together, in the order they were logged, indented under the last flow line
    logged before the run's first line. Runs under the same flow line (submitted together, so
    they ran at the same time) are listed in the order the flow created them, which is the
    order of their ids inside :func:`runs_in_order` (see :func:`_creation_ordered_ids`).
    Nothing is sorted by text.
    """
    flow_lines = [line for line in lines if line.task_run_id is None]
    groups: dict[str, list[_Line]] = {}
    for line in lines:
        if line.task_run_id is not None:
            groups.setdefault(line.task_run_id, []).append(line)
    under: dict[int, list[str]] = {}  # index in flow_lines (-1: before any) -> task run ids
    for run, members in groups.items():
        first = members[0].seq
        anchor = max((i for i, f in enumerate(flow_lines) if f.seq < first), default=-1)
        under.setdefault(anchor, []).append(run)
    out: list[str] = []

    def runs_after(anchor: int) -> None:
        for run in sorted(under.get(anchor, []), key=uuid.UUID):
            out.extend("  " + line.text for line in groups[run])

    runs_after(-1)
    for i, line in enumerate(flow_lines):
        out.append(line.text)
        runs_after(i)
    return out


#: The Prefect modules that give task runs their ids (``uuid7()`` at submit or at a direct call).
_ID_MAKERS = ("prefect.task_runners", "prefect.task_engine", "prefect.tasks")


@contextlib.contextmanager
def _creation_ordered_ids() -> Iterator[None]:
    """Task run ids that sort in the order the runs were created, for the block's duration.

    Prefect's task run ids are UUIDv7: 48 bits of milliseconds, then random bits, so two runs
    created in the same millisecond (a ``.map()`` submits several) sort at random. Here each
    new id is also made larger than the previous one, which keeps it a valid UUIDv7 whose
    order is the creation order. A flow creates its task runs one after another in its own
    thread (``.submit()`` and ``.map()`` included), so that order is the program's.
    """
    import importlib

    modules = [importlib.import_module(name) for name in _ID_MAKERS]
    real = {module: module.uuid7 for module in modules}
    make = next(iter(real.values()))
    lock, last = threading.Lock(), [0]

    def ordered_uuid7(*args: Any, **kwargs: Any) -> uuid.UUID:
        with lock:
            value = max(make(*args, **kwargs).int, last[0] + 1)
            last[0] = value
            return uuid.UUID(int=value)

    for module in modules:
        module.uuid7 = ordered_uuid7  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, function in real.items():
            module.uuid7 = function  # type: ignore[attr-defined]


@contextlib.contextmanager
def runs_in_order() -> Iterator[None]:
    """Print the block's Prefect console lines in causal order, grouped by task run.

    Tasks running in threads log in an order that changes from run to run. Here each task
    run's lines are printed together, in the order they happened, under the flow line that
    preceded them; runs that overlapped come in the order the flow created them (see
    :func:`causal_lines`). Other printed text is not affected.
    """
    lines: list[_Line] = []
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, StdoutHandler)]
    collectors = [_Collect(handler, lines) for handler in consoles]
    for handler, collector in zip(consoles, collectors, strict=True):
        handler.addFilter(collector)
    try:
        with _creation_ordered_ids():
            yield
    finally:
        for handler, collector in zip(consoles, collectors, strict=True):
            handler.removeFilter(collector)
        for text in causal_lines(lines):
            print(text)
