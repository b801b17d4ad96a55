"""A small Step/Pipeline framework (lesson 04) and the exam analysis expressed with it.

A :class:`Pipeline` runs :class:`Step` objects (or plain functions) in order, passing each
one's result to the next. Around every step it does what a hand-written chain forgets:

* it logs the step's start and end with row counts, and its duration (``logging``);
* it retries a step up to ``step.retries`` times;
* it wraps a failure in :class:`StepFailed`, which names the step and the shape of its input;
* it calls :class:`StepHook` objects, so metrics or traces need no change to the steps;
* it can describe itself without running anything (:meth:`Pipeline.describe`).

The exam analysis is at the bottom: :class:`Load`, :class:`Clean`, :class:`Analyze` and
:class:`Report` are thin steps over the shared functions, and :func:`run_analysis` is the
``steps`` engine (``exam-pipeline run --engine steps``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pandas as pd
from tqdm import tqdm

from exam_pipeline.core.analysis import Analysis
from exam_pipeline.core.clean import CleanResult, clean_scores, combine_clean_results
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import CsvFormat, read_scores
from exam_pipeline.core.outputs import publish
from exam_pipeline.core.report import FrozenDict
from exam_pipeline.core.report import Report as ReportType
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.base import Hooks, Publish
from exam_pipeline.engines.pipeline import analyze

LOGGER_NAME = "exam_pipeline.engines.framework"

# A library adds no handler of its own but a NullHandler: without it, Python's "last resort"
# handler would print warnings and errors on stderr of a program that never asked for logs
# (the CLI promises exactly one line on bad input). Applications configure logging; we don't.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

T = TypeVar("T")


# --------------------------------------------------------------------------- what data looks like


def count_rows(data: Any) -> int | None:
    """Rows in ``data``: ``shape[0]`` for DataFrame-like objects, ``len()`` for lists; else None.

    Strings and mappings have a length, but not rows, so they give None.
    """
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and shape:
        return int(shape[0])
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Sized):
        return None
    return len(data)


def describe_shape(data: Any) -> str:
    """A short, stable description of ``data`` for logs and errors, e.g. "list of 5 items"."""
    # A Report reads as the report.json dict it is a read-only view of.
    kind = "dict" if isinstance(data, FrozenDict) else type(data).__name__
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and len(shape) == 2:
        return f"{kind} {shape[0]} rows x {shape[1]} columns"
    if isinstance(shape, tuple) and len(shape) == 1:
        return f"{kind} {shape[0]} rows"
    if isinstance(data, (str, bytes)):
        return f"{kind} of {len(data)} characters"
    if isinstance(data, os.PathLike):
        return "a path"  # not the class name: PosixPath and WindowsPath would differ
    if isinstance(data, Mapping):
        return f"{kind} with {len(data)} keys"
    if isinstance(data, Sized):
        return f"{kind} of {len(data)} items"
    return "None" if data is None else kind


def _amount(data: Any) -> str:
    rows = count_rows(data)
    return f"{rows} rows" if rows is not None else describe_shape(data)


# --------------------------------------------------------------------------- progress bars


#: Progress text with no timings or rates, so that it repeats exactly (notebooks, docs).
STABLE_BAR_FORMAT = "{desc}: {n_fmt}/{total_fmt} |{bar}|"


def progress(
    items: Iterable[T], *, desc: str, total: int | None = None, show: bool | None = None
) -> Iterator[T]:
    """Wrap ``items`` in a tqdm progress bar, in one of three modes.

    * ``show=None`` (default): a live bar on stderr, only when stderr is a terminal; a CLI
      whose output is piped, a test or a scheduler log gets no bar garbage;
    * ``show=True``: a bar on stdout that draws only when it starts and ends, without timings,
      so a stored notebook output is the same on every run;
    * ``show=False``: no bar.
    """
    if show is None:
        return iter(tqdm(items, desc=desc, total=total, disable=None, file=sys.stderr, leave=False))
    return iter(
        tqdm(
            items,
            desc=desc,
            total=total,
            disable=not show,
            file=sys.stdout,
            ncols=60,
            mininterval=math.inf,  # never redraw mid-way: only the first and the final line
            bar_format=STABLE_BAR_FORMAT,
        )
    )


# --------------------------------------------------------------------------- steps and hooks


class Step:
    """One stage of a pipeline: ``run(data)`` takes the previous result and returns the next.

    ``name`` defaults to the class name. ``retries`` (extra attempts after a failure) and
    ``retry_delay`` (seconds between attempts) may be set on a subclass or an instance.
    """

    name: str = "Step"
    retries: int = 0
    retry_delay: float = 0.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    def run(self, data: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.run(data) is not written yet")

    def describe(self) -> str:
        """One line saying what the step does: the first line of its docstring."""
        doc = type(self).__doc__ or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class FunctionStep(Step):
    """A plain function used as a step."""

    def __init__(
        self,
        func: Callable[[Any], Any],
        name: str | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
    ) -> None:
        if not callable(func):
            raise TypeError(f"FunctionStep needs a function, got {type(func).__name__}")
        self.func = func
        self.name: str = name or str(getattr(func, "__name__", type(func).__name__))
        self.retries = retries
        self.retry_delay = retry_delay

    def run(self, data: Any) -> Any:
        return self.func(data)

    def describe(self) -> str:
        doc = (getattr(self.func, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else ""


def as_step(step: Step | Callable[[Any], Any]) -> Step:
    """``step`` itself if it is a Step; a plain function wrapped in a FunctionStep."""
    if isinstance(step, Step):
        return step
    if callable(step):
        return FunctionStep(step)
    raise TypeError(f"a pipeline step must be a Step or a function, got {type(step).__name__}")


class StepHook:
    """Something to run around every step (metrics, traces, checks); every method is a no-op.

    Subclass it and override what you need. ``on_error`` is called once, when a step has
    failed for good; ``on_retry`` each time a failed attempt is about to be retried.
    """

    def before_step(self, step_name: str, data: Any) -> None:
        """Called before the first attempt of a step, with its input."""

    def after_step(self, step_name: str, result: Any, seconds: float) -> None:
        """Called after a step succeeded, with its result and its wall time (all attempts)."""

    def on_error(self, step_name: str, data: Any, error: BaseException) -> None:
        """Called when a step has failed for good (retries used up), before the error is raised."""

    def on_retry(self, step_name: str, attempt: int, error: BaseException) -> None:
        """Called when attempt number ``attempt`` (1-based) failed and the step will run again."""


class StepFailed(RuntimeError):
    """A step raised: says which step, what its input looked like, and chains the original error."""

    def __init__(
        self, step_name: str, input_shape: str, error: BaseException, attempts: int = 1
    ) -> None:
        self.step_name = step_name
        self.input_shape = input_shape
        self.error = error
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"step {step_name!r} failed{tries} on input {input_shape}: "
            f"{type(error).__name__}: {error}"
        )


# --------------------------------------------------------------------------- the pipeline


class Pipeline:
    """Steps run in order; each gets the previous step's result.

    ``hooks`` are :class:`StepHook` objects called around every step. Log records go to the
    ``exam_pipeline.engines.framework`` logger (or ``logger``) and carry the fields ``pipeline``,
    ``step``, ``event``, ``rows_in``, ``rows_out`` and ``seconds`` for structured logging.
    INFO lines hold no timings, so they repeat exactly; durations are in DEBUG lines.
    """

    #: Errors about what the user gave (a bad file, a missing column). They are not a step's
    #: fault: they are re-raised unchanged and never retried, so the CLI can print one line.
    passthrough: tuple[type[BaseException], ...] = (PipelineInputError,)

    def __init__(
        self,
        steps: Sequence[Step | Callable[[Any], Any]],
        *,
        name: str = "pipeline",
        hooks: Iterable[StepHook] = (),
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.steps: list[Step] = [as_step(step) for step in steps]
        self.name = name
        self.hooks: list[StepHook] = list(hooks)
        self.logger = logger if logger is not None else logging.getLogger(LOGGER_NAME)

    def __repr__(self) -> str:
        return f"Pipeline(name={self.name!r}, steps={[s.name for s in self.steps]!r})"

    def describe(self) -> str:
        """What would run, in order, without running anything (a dry run)."""
        lines = [f"pipeline {self.name!r}: {len(self.steps)} steps"]
        width = max((len(s.name) for s in self.steps), default=0)
        for number, step in enumerate(self.steps, start=1):
            text = f"  {number}. {step.name:<{width}}  {step.describe()}".rstrip()
            if step.retries:
                text += f" (retries: {step.retries})"
            lines.append(text)
        return "\n".join(lines)

    def _log(self, level: int, message: str, **fields: Any) -> None:
        extra = {"pipeline": self.name, "step": None, "event": None}
        extra.update({"rows_in": None, "rows_out": None, "seconds": None}, **fields)
        self.logger.log(level, message, extra=extra)

    def run(self, data: Any) -> Any:
        """Run every step on ``data`` in order and return the last result."""
        self._log(
            logging.INFO, f"pipeline {self.name}: start, {len(self.steps)} steps", event="start"
        )
        started = time.perf_counter()
        for step in self.steps:
            data = self.run_step(step, data)
        seconds = time.perf_counter() - started
        self._log(logging.INFO, f"pipeline {self.name}: done", event="end", seconds=seconds)
        self._log(
            logging.DEBUG,
            f"pipeline {self.name}: took {seconds:.4f} s",
            event="timing",
            seconds=seconds,
        )
        return data

    def run_step(self, step: Step, data: Any) -> Any:
        """Run one step with logging, hooks and retries; raise StepFailed if it fails for good."""
        name, rows_in = step.name, count_rows(data)
        for hook in self.hooks:
            hook.before_step(name, data)
        self._log(logging.INFO, f"step {name}: start", step=name, event="start", rows_in=rows_in)
        attempts = 1 + max(0, int(step.retries))
        started = time.perf_counter()
        for attempt in range(1, attempts + 1):
            try:
                result = step.run(data)
                break
            except Exception as exc:
                if attempt < attempts and not isinstance(exc, self.passthrough):
                    self._retry(step, attempt, attempts, exc)
                    continue
                self._fail(step, data, exc, attempt)
        seconds = time.perf_counter() - started
        rows_out = count_rows(result)
        self._log(
            logging.INFO,
            f"step {name}: {_amount(data)} in, {_amount(result)} out",
            step=name,
            event="end",
            rows_in=rows_in,
            rows_out=rows_out,
            seconds=seconds,
        )
        self._log(
            logging.DEBUG,
            f"step {name}: took {seconds:.4f} s",
            step=name,
            event="timing",
            seconds=seconds,
        )
        for hook in self.hooks:
            hook.after_step(name, result, seconds)
        return result

    def _retry(self, step: Step, attempt: int, attempts: int, exc: Exception) -> None:
        delay = max(0.0, float(step.retry_delay))
        self._log(
            logging.WARNING,
            f"step {step.name}: attempt {attempt} of {attempts} failed "
            f"({type(exc).__name__}: {exc}); retrying in {delay:g} s",
            step=step.name,
            event="retry",
        )
        for hook in self.hooks:
            hook.on_retry(step.name, attempt, exc)
        if delay:
            time.sleep(delay)

    def _fail(self, step: Step, data: Any, exc: Exception, attempts: int) -> NoReturn:
        shape = describe_shape(data)
        self._log(
            logging.ERROR,
            f"step {step.name}: failed on input {shape}: {type(exc).__name__}: {exc}",
            step=step.name,
            event="error",
            rows_in=count_rows(data),
        )
        for hook in self.hooks:
            hook.on_error(step.name, data, exc)
        if isinstance(exc, self.passthrough):
            raise exc
        raise StepFailed(step.name, shape, exc, attempts) from exc


# --------------------------------------------------------------------------- the exam analysis


@dataclass
class Loaded:
    """The raw text of the group and score columns, and how the file is written."""

    raw: pd.DataFrame
    fmt: CsvFormat

    @property
    def shape(self) -> tuple[int, int]:
        return self.raw.shape


@dataclass
class Cleaned:
    """The cleaning result; its ``labels`` are the groups seen before cleaning (for clear errors)."""

    result: CleanResult

    @property
    def labels(self) -> list[str]:
        return list(self.result.labels)

    @property
    def shape(self) -> tuple[int, int]:
        return self.result.frame.shape


class ExamStep(Step):
    """Base of the exam steps: each one knows the run's settings."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config


class Load(ExamStep):
    """Read the group and score columns of a CSV file as text."""

    # A file on a network share can fail to open once; a bad file fails with
    # PipelineInputError, which is never retried.
    retries = 2
    retry_delay = 0.2

    def run(self, data: str | os.PathLike[str]) -> Loaded:
        raw, fmt = read_scores(
            Path(data), self.config.group_col, self.config.value_col, encoding=self.config.encoding
        )
        return Loaded(raw, fmt)


class Clean(ExamStep):
    """Turn scores into numbers chunk by chunk; drop and record the rows that are not usable."""

    def __init__(
        self, config: RunConfig, chunk_rows: int = 100_000, show_progress: bool | None = None
    ) -> None:
        super().__init__(config)
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self.chunk_rows = chunk_rows
        self.show_progress = show_progress

    def run(self, data: Loaded) -> Cleaned:
        raw, cfg = data.raw, self.config
        starts = range(0, max(len(raw), 1), self.chunk_rows)
        parts = [
            # Chunks keep the raw index, so rejected rows still point at their file line.
            clean_scores(
                raw.iloc[start : start + self.chunk_rows],
                cfg.group_col,
                cfg.value_col,
                decimal=data.fmt.decimal,
            )
            for start in progress(starts, desc="clean", total=len(starts), show=self.show_progress)
        ]
        return Cleaned(combine_clean_results(parts))


class Analyze(ExamStep):
    """Summarise each group and run the t-test."""

    def run(self, data: Cleaned) -> Analysis:
        summaries, result = analyze(data.result, self.config)
        return Analysis.of(data.result, summaries, result)


class Report(ExamStep):
    """Draw the boxplot and write report.json, report.md, rejected.csv and the database row."""

    def __init__(self, config: RunConfig, publish: Publish | None = None) -> None:
        super().__init__(config)
        self.publish = publish

    def run(self, data: Analysis) -> ReportType:
        # In ``exam-pipeline run`` the run path's own publish step; on its own, the same function.
        if self.publish is not None:
            return self.publish(data)
        return publish(self.config, data)


def exam_pipeline(
    config: RunConfig,
    *,
    hooks: Iterable[StepHook] = (),
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    chunk_rows: int = 100_000,
    show_progress: bool | None = None,
    publish: Publish | None = None,
) -> Pipeline:
    """The exam analysis as a Pipeline: Load -> Clean -> Analyze -> Report; run it on a path.

    ``publish`` is what the Report step calls to write the outputs (default:
    ``outputs.publish``; ``exam-pipeline run`` passes the run path's).
    """
    steps = [
        Load(config),
        Clean(config, chunk_rows, show_progress),
        Analyze(config),
        Report(config, publish),
    ]
    return Pipeline(steps, name="exam-scores", hooks=hooks, logger=logger)


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """The ``steps`` engine (``Engine.analyze``): Load -> Clean -> Analyze -> Report.

    The Report step calls the run path's publish (``hooks.publish``), so the step hooks time
    it like the others; without one the pipeline stops after Analyze.
    """
    if hooks.publish is None:
        pipeline = exam_pipeline(config, hooks=hooks.steps)
        pipeline.steps = pipeline.steps[:-1]
        found: Analysis = pipeline.run(config.source)
        return found
    run_path_publish = hooks.publish
    published: list[Analysis] = []

    def publish(analysis: Analysis) -> ReportType:
        published.append(analysis)
        return run_path_publish(analysis)

    exam_pipeline(config, hooks=hooks.steps, publish=publish).run(config.source)
    return published[0]
