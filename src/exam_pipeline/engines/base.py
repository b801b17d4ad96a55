"""What an engine is: the :class:`Engine` protocol, and the :class:`Hooks` the run path gives it.

An engine only *analyses*: it reads ``config.source``, cleans, summarises each group and runs
the t-test, and returns an :class:`~exam_pipeline.core.analysis.Analysis`. Everything else
(checking the config, the database URL, publishing the outputs, metrics, cleaning ``--out``
after a failure) is the run path's, ``exam_pipeline.engines.run``, the same for every engine.
See docs/architecture.md.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from exam_pipeline.core.analysis import Analysis
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.report import Report

if TYPE_CHECKING:
    from exam_pipeline.engines.framework import StepHook

#: The run path's publish step: writes every output of an analysis, returns the report.
Publish = Callable[[Analysis], Report]


@dataclass(frozen=True)
class Hooks:
    """What the run path hands an engine.

    ``steps``: hooks to call around each step, for an engine that has steps (``steps`` runs them
    through its Pipeline; metrics and traces come in this way). ``publish``: the run path's
    publish step, for an engine that shows publishing as a step of its own (the ``steps``
    Pipeline's Report step, the Prefect flow's ``publish`` task): call it at most once, with the
    finished Analysis, and return that same Analysis from ``analyze``. An engine that does not
    call it is published after ``analyze`` returns. None: nothing is written (a test or a
    notebook calling ``analyze`` directly).
    """

    steps: Sequence[StepHook] = ()
    publish: Publish | None = None


@runtime_checkable
class Engine(Protocol):
    """One way to run the analysis (``--engine NAME``).

    ``name``: the ``--engine`` value; ``lesson``: the one-line description ``--help`` shows,
    naming the lesson; ``requires``: the import names of the libraries it needs beyond the
    course's core (``()`` for none), which ``--help`` and ``engines.available()`` check (a
    program such as ``java`` may be listed too: ``PROGRAMS``);
    ``extra``: the pyproject extra that installs them (``pip install 'exam-pipeline[luigi]'``),
    or ``None``. ``resume_dir``: a folder under ``--out`` where the engine keeps finished stages
    to resume from after a failure that is not the input's fault (Luigi's ``stages``), or ``None``.
    ``writes_outputs``: True only for an engine whose own tasks write the final outputs as
    targets, so that a rerun rewrites nothing (Luigi); the run path then does not publish, and
    a test proves the files byte-identical to what publishing the same Analysis writes.

    ``analyze(config, hooks)`` gets a checked config (``config.checked()`` already ran, the
    database URL is usable) and returns the Analysis. It writes nothing into ``--out`` but
    temporary files the Analysis names (``rejected``) or stages under ``resume_dir``. It raises
    ``PipelineInputError`` for bad input and may raise anything else for other failures; the
    run path turns those into one ``EngineFailed`` line.
    """

    @property
    def name(self) -> str: ...

    @property
    def lesson(self) -> str: ...

    @property
    def requires(self) -> tuple[str, ...]: ...

    @property
    def extra(self) -> str | None: ...

    @property
    def resume_dir(self) -> str | None: ...

    @property
    def writes_outputs(self) -> bool: ...

    def analyze(self, config: RunConfig, hooks: Hooks) -> Analysis: ...


#: Requirements that are programs rather than Python libraries: name -> what to install.
PROGRAMS: dict[str, str] = {
    "java": "a Java runtime (Debian: apt install openjdk-17-jre-headless)",
}


def _present(requirement: str) -> bool:
    if requirement == "java":
        return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))
    if requirement in PROGRAMS:
        return shutil.which(requirement) is not None
    return importlib.util.find_spec(requirement) is not None


def missing_libraries(engine: Engine) -> list[str]:
    """The libraries (and programs, see ``PROGRAMS``) ``engine`` needs that are not here."""
    return [lib for lib in engine.requires if not _present(lib)]


def install_hint(engine: Engine) -> str:
    """What to type (or install) to get what ``engine`` misses."""
    missing = missing_libraries(engine)
    libs = [lib for lib in missing if lib not in PROGRAMS]
    programs = [PROGRAMS[lib] for lib in missing if lib in PROGRAMS]
    hints = []
    if libs:
        hint = f"pip install {' '.join(libs)}"
        if engine.extra:
            hint += f", or the course's extra: pip install 'exam-pipeline[{engine.extra}]'"
        hints.append(hint)
    return "; ".join(hints + programs)
