"""What the check cells of lessons 05-08 use to watch an answer at work, not only its result.

A check that only compares results passes answers that get the right numbers the wrong way
(a plain write where Luigi's atomic one was asked for, a whole Dask frame pulled into pandas, a
flow that does every class in one task). These helpers let a check see how the answer worked:

- :func:`luigi_build_watching_writes`: build a Luigi task and list the targets written
  through ``target.open("w")`` (Luigi's atomic write);
- :func:`watched_task`: a copy of a Prefect task whose every attempt is reported to a callback
  (with its retries and names unchanged);
- :class:`KeepRecords`: a logging handler that keeps records, to see what a run logged;
- :func:`no_file_reads`: fail, in words, if the code inside opens a file;
- :class:`DaskWatch`: a Dask scheduler that counts compute calls and the largest pandas result
  a compute brought back into the notebook.

Each is cheap and leaves nothing behind: patches are undone on the way out, also on errors.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def luigi_build_watching_writes(task: Any) -> tuple[Any, list[str]]:
    """``luigi.build([task])`` (detailed); also the names of targets written via ``open("w")``."""
    import luigi

    written: list[str] = []
    real_open = luigi.LocalTarget.open

    def open_and_note(target: Any, mode: str = "r") -> Any:
        if "w" in mode:
            written.append(Path(target.path).name)
        return real_open(target, mode)

    luigi.LocalTarget.open = open_and_note  # type: ignore[method-assign]
    try:
        result = luigi.build([task], local_scheduler=True, detailed_summary=True)
    finally:
        luigi.LocalTarget.open = real_open  # type: ignore[method-assign]
    return result, written


def watched_task(task: Any, on_attempt: Callable[[], None]) -> Any:
    """A copy of Prefect ``task`` (same retries, names, cache policy) calling ``on_attempt`` first.

    ``on_attempt`` runs inside each attempt, where ``prefect.runtime`` knows the run's name
    and attempt number.
    """
    original = task.fn

    @functools.wraps(original)
    def watched(*args: Any, **kwargs: Any) -> Any:
        on_attempt()
        return original(*args, **kwargs)

    copy = task.with_options()
    copy.fn = watched
    return copy


class KeepRecords(logging.Handler):
    """Keep the log records it receives (at ``level`` and above) in ``records``."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def kept_records(logger_name: str, level: int = logging.INFO) -> Iterator[KeepRecords]:
    """A :class:`KeepRecords` on ``logger_name`` for the block's duration."""
    keeper = KeepRecords(level)
    logger = logging.getLogger(logger_name)
    logger.addHandler(keeper)
    try:
        yield keeper
    finally:
        logger.removeHandler(keeper)


@contextlib.contextmanager
def no_file_reads(what: str) -> Iterator[None]:
    """Inside the block, opening any file fails with "<what> opened a file: ..." (an AssertionError)."""
    real = builtins.open, io.open

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{what} opened a file ({args[0] if args else '?'}): it must not")

    builtins.open = io.open = refuse
    try:
        yield
    finally:
        builtins.open, io.open = real


class DaskWatch:
    """A Dask scheduler (``dask.config.set(scheduler=watch.get)``) that watches what comes back.

    ``computes``: how many times a graph was computed; ``largest``: the most rows of any pandas
    DataFrame or Series a compute returned, so a check can tell a reduction computed on the
    workers (a few rows) from a whole frame pulled into the notebook.
    """

    def __init__(self) -> None:
        self.computes = 0
        self.largest = 0

    def get(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        import dask.threaded

        self.computes += 1
        results = dask.threaded.get(dsk, keys, **kwargs)
        self._measure(results)
        return results

    def _measure(self, value: Any) -> None:
        import pandas as pd

        if isinstance(value, (pd.DataFrame, pd.Series)):
            self.largest = max(self.largest, len(value))
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._measure(item)


def open_dask_clusters() -> list[Any]:
    """Every Dask ``SpecCluster`` (``LocalCluster`` included) of this process not yet closed."""
    from distributed.deploy.spec import SpecCluster

    return [c for c in list(SpecCluster._instances) if c.status.name not in ("closed", "closing")]


def close_dask_clusters() -> int:
    """Close the clusters an earlier attempt left open; return how many there were."""
    left = open_dask_clusters()
    for cluster in left:
        cluster.close()
    return len(left)


def counting(function: Callable[..., Any], calls: list[Any]) -> Callable[..., Any]:
    """``function``, appending one item to ``calls`` each time it is called."""

    @functools.wraps(function)
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return function(*args, **kwargs)

    return counted


def recording_local_cluster(started: list[dict[str, Any]]) -> type:
    """A ``LocalCluster`` subclass that appends the keyword arguments of each one started."""
    from distributed import LocalCluster

    class RecordingCluster(LocalCluster):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started.append(kwargs)
            super().__init__(*args, **kwargs)

    return RecordingCluster


def refuse_connection(*args: Any, **kwargs: Any) -> Any:
    """Stands in for ``Client``: connecting fails, as when the scheduler went away."""
    raise ConnectionError("the scheduler went away (simulated by the check)")


@contextlib.contextmanager
def quiet_dask_logs(level: int = logging.ERROR) -> Iterator[None]:
    """Dask's ``distributed`` loggers at ``level`` inside the block.

    On a busy machine a cluster's threads may warn (garbage collection took a while, a worker
    was slow to close); such lines depend on the load, not on the answer, so a check that
    starts clusters keeps them out of its output.
    """
    logger = logging.getLogger("distributed")
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
