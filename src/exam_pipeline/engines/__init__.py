"""The registry of engines: each one runs the same analysis and writes the same report.json.

An engine is a function ``run(config: RunConfig) -> dict`` (the report). Engines load lazily,
so ``exam-pipeline --help`` stays fast; an engine whose library is not installed is not
offered, and ``--help`` says what to install for it.
"""

from __future__ import annotations

import importlib
import importlib.util
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
        "the Step/Pipeline framework (lesson 04)",
    ),
    "luigi": (
        "exam_pipeline.engines.luigi_tasks",
        "run_luigi",
        "Luigi tasks and targets (lesson 05)",
    ),
    "prefect": (
        "exam_pipeline.engines.prefect_flow",
        "run_prefect",
        "a Prefect 3 flow (lessons 06-07)",
    ),
    "dask": (
        "exam_pipeline.engines.dask_engine",
        "run_dask",
        "dask.dataframe on a cluster (lesson 08)",
    ),
}


#: name -> the libraries (import names) an engine needs beyond the course's core.
REQUIRES: dict[str, tuple[str, ...]] = {
    "luigi": ("luigi",),
    "prefect": ("prefect",),
    "dask": ("dask", "distributed"),
}


def missing(name: str) -> list[str]:
    """The libraries engine ``name`` needs that are not installed here."""
    return [lib for lib in REQUIRES.get(name, ()) if importlib.util.find_spec(lib) is None]


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
            f"pip install {' '.join(missing(name))} (or make install for the whole course)"
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
