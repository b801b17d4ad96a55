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
- :func:`hide_tracebacks` and :func:`sorted_output` keep notebook outputs free of machine paths
  and of the random order in which concurrent tasks finish.

Call :func:`exam_pipeline.engines.prefect_settings.configure` before importing this module, as for
:mod:`exam_pipeline.engines.prefect_flow`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import logging
import random
from collections.abc import Iterator
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


def _log_order(line: str) -> tuple[int, str]:
    """Sort key: a flow's "Beginning" line first, its "Finished" line last, the rest by text."""
    words = line.split(" ", 2)
    if "Beginning flow run" in line:
        return 0, line
    if len(words) > 1 and words[1] == "flow" and "Finished in state" in line:
        return 2, line
    return 1, line


@contextlib.contextmanager
def sorted_output() -> Iterator[None]:
    """Print what the block writes to stdout with its lines sorted.

    Tasks running in threads finish, and log, in a different order every time; sorted, the
    same lines always look the same. A flow's first and last log lines keep their places.
    """
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        for line in sorted(buffer.getvalue().splitlines(), key=_log_order):
            print(line)
