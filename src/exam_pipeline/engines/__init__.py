"""The registry of engines: each one runs the same analysis and writes the same report.json.

An engine is a function ``run(config: RunConfig) -> dict`` (the report). Engines load lazily,
so ``exam-pipeline --help`` stays fast; an engine whose library is not installed is not
offered, and ``--help`` says what to install for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from collections.abc import Callable
from typing import Any

from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.validate import PipelineInputError

Engine = Callable[[RunConfig], dict[str, Any]]

#: name -> (module, function, one-line description)
ENGINES: dict[str, tuple[str, str, str]] = {
    "pandas": (
        "exam_pipeline.engines.pipeline",
        "run_pipeline",
        "plain functions over a pandas DataFrame (lesson 01)",
    ),
    "stream": (
        "exam_pipeline.engines.streaming",
        "run_stream",
        "generators, constant memory (lesson 02)",
    ),
    "steps": (
        "exam_pipeline.engines.framework",
        "run_steps",
        "the Step/Pipeline framework (lesson 03)",
    ),
    "luigi": (
        "exam_pipeline.engines.luigi_tasks",
        "run_luigi",
        "Luigi tasks and targets (lesson 04)",
    ),
    "prefect": (
        "exam_pipeline.engines.prefect_flow",
        "run_prefect",
        "a Prefect 3 flow (lessons 05-06)",
    ),
    "dask": (
        "exam_pipeline.engines.dask_engine",
        "run_dask",
        "dask.dataframe on a cluster (lesson 07)",
    ),
    "dagster": (
        "exam_pipeline.engines.dagster_engine",
        "run_dagster",
        "Dagster software-defined assets, materialized in memory (lesson 12)",
    ),
    "spark": (
        "exam_pipeline.engines.spark_engine",
        "run_spark",
        "PySpark on local[N] or a spark:// standalone cluster (lesson 12)",
    ),
}


#: name -> the libraries (import names) an engine needs beyond the course's core.
REQUIRES: dict[str, tuple[str, ...]] = {
    "luigi": ("luigi",),
    "prefect": ("prefect",),
    "dask": ("dask", "distributed"),
    "dagster": ("dagster",),
    "spark": ("pyspark", "java"),
}

#: Requirements that are programs on the PATH rather than Python libraries.
PROGRAMS: frozenset[str] = frozenset({"java"})

#: name -> what to install when it is missing, where that is more than ``pip install <lib>``.
INSTALL: dict[str, str] = {
    "dagster": 'pip install -e ".[dagster]"',
    "spark": 'pip install -e ".[spark]"; a Java runtime (Debian: apt install openjdk-17-jre-headless)',
}


def _present(requirement: str) -> bool:
    if requirement in PROGRAMS:
        return shutil.which(requirement) is not None or bool(os.environ.get("JAVA_HOME"))
    return importlib.util.find_spec(requirement) is not None


def missing(name: str) -> list[str]:
    """The libraries (and programs, such as ``java``) engine ``name`` needs that are not here."""
    return [lib for lib in REQUIRES.get(name, ()) if not _present(lib)]


def install_hint(name: str) -> str:
    """What to install for engine ``name``: its extra, or the missing libraries."""
    return INSTALL.get(name, f"pip install {' '.join(missing(name))}")


def available() -> list[str]:
    """Engines whose module and libraries are installed here, in lesson order."""
    return [
        name
        for name, (module, _, _) in ENGINES.items()
        if importlib.util.find_spec(module) and not missing(name)
    ]


def get(name: str) -> Engine:
    """The run function of engine ``name``, or a clear error naming the engines there are."""
    if name in ENGINES and missing(name):
        raise PipelineInputError(
            f"--engine {name}: needs {', '.join(missing(name))}, which is not installed here; "
            f"{install_hint(name)} (or make install for the whole course)"
        )
    if name not in available():
        raise PipelineInputError(
            f"--engine {name!r} is not available; choose one of: {', '.join(available())}"
        )
    module, function, _ = ENGINES[name]
    return getattr(importlib.import_module(module), function)


def run(config: RunConfig) -> dict[str, Any]:
    """Run ``config.engine`` on ``config``."""
    return get(config.engine)(config)
