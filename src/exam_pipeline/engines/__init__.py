"""The engines and the one run path every engine goes through: :func:`run`.

An engine (``exam_pipeline.engines.base.Engine``) only analyses: ``analyze(config, hooks)``
returns an :class:`~exam_pipeline.core.analysis.Analysis`. :func:`run` does everything around
it, the same way for every engine::

    run(config)
      get(config.engine)             unknown engine or missing library: one clear error
      config.checked()               options and input file checked once
      check_database(config)         a bad --db URL fails before anything runs
      remove_leftovers(out)          temporary files of a killed run
      engine.analyze(config, hooks)  the engine's own way: pandas, stream, steps, Luigi, ...
      outputs.publish(config, a)     the one writer of report.json, report.md, the boxplot,
                                     rejected.csv and the database row (Luigi alone writes
                                     them as its own targets, byte-identical: a test proves it)
      metrics and logs               rows read and rejected, from the Analysis
    on any failure: --out as it was before the run (new files removed), the error raised
    as it is (the CLI prints it on one line, exit 2)

Engines load lazily (``ModuleEngine``), so ``exam-pipeline --help`` stays fast and an engine
whose library is missing is listed with what to install. See docs/architecture.md.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from exam_pipeline.core.analysis import Analysis
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.report import Report
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.base import Engine, Hooks, install_hint, missing_libraries

if TYPE_CHECKING:
    from exam_pipeline.engines.framework import StepHook
    from exam_pipeline.engines.monitoring import PipelineMetrics

__all__ = ["ENGINES", "Engine", "Hooks", "ModuleEngine", "available", "get", "run"]


@dataclass(frozen=True)
class ModuleEngine:
    """An engine whose code lives in ``module``, imported on first use.

    The module has a function ``run_analysis(config, hooks) -> Analysis`` (this object's
    ``analyze``); importing it may need the libraries in ``requires``, so nothing imports it
    until the engine runs.
    """

    name: str
    lesson: str
    module: str
    requires: tuple[str, ...] = ()
    extra: str | None = None
    resume_dir: str | None = None
    writes_outputs: bool = False

    def analyze(self, config: RunConfig, hooks: Hooks) -> Analysis:
        run_analysis = importlib.import_module(self.module).run_analysis
        result: Analysis = run_analysis(config, hooks)
        return result


def _registry(*engines: Engine) -> dict[str, Engine]:
    return {engine.name: engine for engine in engines}


#: Every engine, in lesson order: ``--engine`` and ``--help`` know these.
ENGINES: dict[str, Engine] = _registry(
    ModuleEngine(
        "pandas",
        "plain functions over a pandas DataFrame (lesson 01)",
        "exam_pipeline.engines.pipeline",
    ),
    ModuleEngine(
        "stream",
        "generators, constant memory (lesson 02)",
        "exam_pipeline.engines.streaming",
    ),
    ModuleEngine(
        "steps",
        "the Step/Pipeline framework (lesson 04)",
        "exam_pipeline.engines.framework",
    ),
    ModuleEngine(
        "luigi",
        "Luigi tasks and targets (lesson 05)",
        "exam_pipeline.engines.luigi_tasks",
        requires=("luigi",),
        extra="luigi",
        resume_dir="stages",
        writes_outputs=True,
    ),
    ModuleEngine(
        "prefect",
        "a Prefect 3 flow (lessons 06-07)",
        "exam_pipeline.engines.prefect_flow",
        requires=("prefect",),
        extra="prefect",
    ),
    ModuleEngine(
        "dask",
        "dask.dataframe on a cluster (lesson 08)",
        "exam_pipeline.engines.dask_engine",
        requires=("dask", "distributed"),
        extra="dask",
    ),
    ModuleEngine(
        "dagster",
        "Dagster software-defined assets, materialized in memory (lesson 12)",
        "exam_pipeline.engines.dagster_engine",
        requires=("dagster",),
        extra="dagster",
    ),
    ModuleEngine(
        "spark",
        "PySpark on local[N] or a spark:// standalone cluster (lesson 12)",
        "exam_pipeline.engines.spark_engine",
        # "java" is a program, not a library: base.PROGRAMS says how it is found and installed.
        requires=("pyspark", "java"),
        extra="spark",
    ),
)


def _installed(engine: Engine) -> bool:
    module = getattr(engine, "module", None)
    if module is not None and importlib.util.find_spec(module) is None:
        return False
    return not missing_libraries(engine)


def available() -> list[str]:
    """Engines whose code and libraries are installed here, in lesson order."""
    return [name for name, engine in ENGINES.items() if _installed(engine)]


def missing(name: str) -> list[str]:
    """The libraries (and programs, such as ``java``) engine ``name`` needs that are not here."""
    return missing_libraries(ENGINES[name]) if name in ENGINES else []


def get(name: str) -> Engine:
    """Engine ``name``, or one clear error: what to install, or the engines there are."""
    engine = ENGINES.get(name)
    if engine is not None and missing_libraries(engine):
        raise PipelineInputError(
            f"--engine {name}: needs {', '.join(missing_libraries(engine))}, which is not "
            f"installed here; {install_hint(engine)} (make install installs every engine but spark,"
            " which make install-dev adds)"
        )
    if engine is None or not _installed(engine):
        raise PipelineInputError(
            f"--engine {name!r} is not available; choose one of: {', '.join(available())}"
        )
    return engine


def check_database(config: RunConfig) -> None:
    """A --db URL SQLAlchemy cannot use (a typo, a driver not installed) fails here, first."""
    url = config.db_url
    if url is not None:
        from exam_pipeline.core.sinks import make_engine

        make_engine(url).dispose()


def _files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.is_dir() else set()


@contextmanager
def restored_on_failure(out: Path, resume_dir: str | None = None) -> Iterator[None]:
    """On any failure, leave ``out`` as it was: remove every file and folder the run added.

    ``resume_dir`` (a folder under ``out``) keeps what the run added there, unless the failure
    is the input's fault: an engine that resumes (Luigi) then starts from its finished stages.
    """
    existed = out.exists()
    before = _files_under(out)
    try:
        yield
    except BaseException as exc:
        keep = out / resume_dir if resume_dir else None
        if isinstance(exc, PipelineInputError):
            keep = None
        for path in sorted(_files_under(out) - before, reverse=True):
            if keep is not None and (path == keep or keep in path.parents):
                continue
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)
        if not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def run(
    config: RunConfig,
    *,
    hooks: Sequence[StepHook] = (),
    metrics: PipelineMetrics | None = None,
    metrics_port: int | None = None,
    log_format: str | None = None,
) -> Report:
    """Run ``config.engine`` on ``config``: check, analyse, publish, measure; return the report.

    ``hooks`` are called around the steps of an engine that has steps (``steps``). ``metrics``
    (default: a fresh registry) gets the run's row counts and step timings; ``metrics_port``
    serves them on 127.0.0.1 while the run lasts; ``log_format`` ("text" or "json") logs the
    run on stderr. A failure leaves ``--out`` as it was and is raised as it is: bad input as
    ``PipelineInputError``, anything else as the engine raised it (the CLI makes any of them one
    line, exit 2: ``EngineFailed``).
    """
    from exam_pipeline.core.outputs import publish, remove_leftovers
    from exam_pipeline.engines import monitoring

    engine = get(config.engine)
    config = config.checked()
    check_database(config)
    with monitoring.observed(config, metrics, metrics_port, log_format) as observer:
        out = Path(config.out)
        if out.is_dir():
            remove_leftovers(out)
        published: list[Report] = []

        def publish_once(analysis: Analysis) -> Report:
            if not published:
                published.append(publish(config, analysis))
            return published[0]

        steps = [*hooks, observer.step_hook()]
        with restored_on_failure(out, engine.resume_dir):
            if engine.writes_outputs:  # Luigi: its own targets, byte-identical to publish's
                analysis = engine.analyze(config, Hooks(steps=steps))
                report = Report.of(config, analysis)
            else:
                analysis = engine.analyze(config, Hooks(steps=steps, publish=publish_once))
                report = publish_once(analysis)
        observer.finished(analysis)
        return report
