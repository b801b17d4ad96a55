"""Lesson 12's measuring tools: time and peak memory of a run, install size of a tool.

``measure(tool)`` times a block and samples the memory of this process and all its children
(Spark's JVM, Metaflow's step processes, the Airflow subprocess) every 20 ms, so the peak counts
what the tool started, not only the notebook's own process. ``install_mb(dist)`` adds up the
files of a distribution and of every dependency it pulls in that the course core (pandas,
NumPy, SciPy, Matplotlib) does not already need.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import psutil
from packaging.requirements import Requirement

#: What every tool shares: the course's core (the analysis itself needs these).
CORE = ("pandas", "numpy", "scipy", "matplotlib")


@dataclass
class Measured:
    """One timed block: wall seconds and the peak memory added (MB) by this process tree."""

    seconds: float
    peak_mb: float


#: tool -> its measurement, filled by the lesson's cells.
MEASURED: dict[str, Measured] = {}


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of ``process`` and all its live descendants, in bytes."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


@contextmanager
def measure(tool: str, every: float = 0.02) -> Iterator[None]:
    """Time the block and record its peak added memory under ``MEASURED[tool]``."""
    me = psutil.Process()
    baseline = tree_rss(me)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            peak[0] = max(peak[0], tree_rss(me))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        peak[0] = max(peak[0], tree_rss(me))
        MEASURED[tool] = Measured(seconds, (peak[0] - baseline) / 2**20)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names: tuple[str, ...] | list[str]) -> set[str]:
    """The installed distributions ``names`` need, themselves included (markers evaluated)."""
    seen: set[str] = set()
    todo = [_canonical(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_canonical(req.name))
    return seen


def dist_bytes(name: str) -> int:
    """Bytes of the files distribution ``name`` installed."""
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def install_mb(*names: str) -> float:
    """MB on disk of ``names`` and the dependencies they add beyond the course core."""
    extra = closure(list(names)) - closure(list(CORE))
    return sum(dist_bytes(name) for name in extra) / 2**20


def folder_mb(path: Path) -> float:
    """MB of the files under ``path`` (0 where it does not exist)."""
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
