"""The analysis as Luigi tasks and targets: the ``luigi`` engine (lesson 05).

::

    LoadScores -> CleanScores -> SummarizeScores -> PlotScores ----------\\
                             \\-> TTestScores ----> BuildReport -> SaveRun -> Publish

Every task writes its result as a target under ``<out>/stages/`` and does nothing if that target
already exists, so a second run rewrites nothing and a run that failed half-way resumes where it
stopped. ``Publish`` copies the finished files (report.json, report.md, scores_boxplot.png,
rejected.csv) into ``<out>``; delete one of them and only that copy is made again.

Stage files are named ``<stage>-<key>``, where the key hashes every parameter that changes the
result (input file and a digest of its bytes, columns, test, alpha; not the output folder): Luigi
decides "done" from a target's existence alone, so the name must change whenever the content would.

The steps call the shared functions (data, clean, analysis, plots, report, sinks); nothing of the
analysis is written twice. The engine uses Luigi's in-process local scheduler, or the central
scheduler ``luigid`` named by the environment variable ``EXAM_PIPELINE_LUIGI_SCHEDULER``
(for example ``http://127.0.0.1:8082``).
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import logging
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import luigi
import luigi.configuration
import luigi.format
import pandas as pd
import sqlalchemy as sa
from luigi.execution_summary import LuigiRunResult, LuigiStatusCode
from matplotlib.figure import Figure
from sqlalchemy.exc import SQLAlchemyError

from exam_pipeline.core import report as report_mod
from exam_pipeline.core.analysis import (
    Analysis,
    GroupSummary,
    TTestResult,
    split_groups,
    summarize_groups,
    ttest,
)
from exam_pipeline.core.clean import clean_scores, drop_reasons, from_tables
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import read_scores
from exam_pipeline.core.files import atomic_path
from exam_pipeline.core.outputs import BOXPLOT_PNG, REJECTED_CSV, REPORT_JSON, REPORT_MD
from exam_pipeline.core.plots import NotebookFigure, boxplot_figure, save_figure
from exam_pipeline.core.report import Report
from exam_pipeline.core.sinks import make_engine, run_row, runs, save_run
from exam_pipeline.core.validate import EngineFailed, PipelineInputError
from exam_pipeline.engines.base import Hooks

ENGINE = "luigi"
STAGES_DIR = "stages"
SCHEDULER_ENV = "EXAM_PIPELINE_LUIGI_SCHEDULER"
#: UTF-8 and "\n" line endings on every OS, so a stage file has the same bytes everywhere.
TEXT = luigi.format.TextFormat(encoding="utf-8", newline="\n")
SUCCEEDED = (LuigiStatusCode.SUCCESS, LuigiStatusCode.SUCCESS_WITH_RETRY)


class LuigiRunError(EngineFailed):
    """A task failed for a reason other than bad input (a bug, a full disk): not the user's fault."""


def file_digest(path: str | os.PathLike[str]) -> str:
    """The first 16 hex digits of the file's SHA-256: part of every task's identity."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# --- the tasks --------------------------------------------------------------------------------


class ExamTask(luigi.Task):
    """Parameters every step shares, and the stage-file naming and failure handling."""

    out_dir = luigi.Parameter(description="the run's output folder (--out)")
    input_file = luigi.Parameter(description="the CSV of exam scores")
    input_digest = luigi.Parameter(default="", description="file_digest(input_file)")
    group_col = luigi.Parameter(default="Class")
    value_col = luigi.Parameter(default="Score")
    encoding = luigi.Parameter(default="", description="--encoding; empty: detected")

    stage = "task"  # the stem of this step's stage file(s)
    error: BaseException | None = None  # set by on_failure, read by run_luigi

    def key(self) -> str:
        """A short hash of the parameters that change the result (the output folder does not)."""
        params = self.to_str_params(only_significant=True)
        params.pop("out_dir", None)
        text = json.dumps(params, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]

    def stage_target(self, name: str, suffix: str, binary: bool = False) -> luigi.LocalTarget:
        """``<out>/stages/<name>-<key><suffix>``: written atomically via ``target.open("w")``."""
        path = Path(self.out_dir) / STAGES_DIR / f"{name}-{self.key()}{suffix}"
        return luigi.LocalTarget(str(path), format=luigi.format.Nop if binary else TEXT)

    def on_failure(self, exception: BaseException) -> str:
        """Remember the error and leave no output behind; explain bad input in one line.

        Each file appears atomically, but a task with two outputs may have finished one of
        them; Luigi already treats the task as not done, and removing it keeps that obvious.
        Luigi's own temp files (``<name>-luigi-tmp-<random>``) are removed too.
        """
        self.error = exception
        for target in luigi.task.flatten(self.output()):
            if isinstance(target, luigi.LocalTarget):
                path = Path(target.path)
                for leftover in [path, *path.parent.glob(path.name + "-luigi-tmp-*")]:
                    leftover.unlink(missing_ok=True)
        if isinstance(exception, PipelineInputError):
            return f"PipelineInputError: {exception}"
        return super().on_failure(exception)


class LoadScores(ExamTask):
    """Extract: the group and score columns as text, in the input's own CSV dialect."""

    stage = "load"

    def output(self) -> luigi.LocalTarget:
        return self.stage_target("load", ".csv")

    def run(self) -> None:
        raw, fmt = read_scores(
            self.input_file, self.group_col, self.value_col, encoding=self.encoding or None
        )
        with self.output().open("w") as handle:
            raw.to_csv(handle, sep=fmt.sep, index=False, lineterminator="\n")


class CleanScores(ExamTask):
    """Numeric scores only; every dropped row kept with its reason."""

    stage = "clean"

    def requires(self) -> LoadScores:
        return self.clone(LoadScores)

    def output(self) -> dict[str, luigi.LocalTarget]:
        return {
            "kept": self.stage_target("clean", ".csv"),
            "rejected": self.stage_target("rejected", ".csv"),
        }

    def run(self) -> None:
        raw, fmt = read_scores(self.input().path, self.group_col, self.value_col)
        result = clean_scores(raw, self.group_col, self.value_col, decimal=fmt.decimal)
        with self.output()["kept"].open("w") as handle:
            result.frame.to_csv(handle, index=False, lineterminator="\n")
        with self.output()["rejected"].open("w") as handle:
            result.rejected.to_csv(handle, index=False, lineterminator="\n")


class GroupsMixin(ExamTask):
    """Read the cleaning stage back and split it into the two groups (shared by two steps)."""

    def requires(self) -> CleanScores:
        return self.clone(CleanScores)

    def kept_and_rejected(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        targets = self.input()
        kept = pd.read_csv(
            targets["kept"].path,
            dtype={self.group_col: str, self.value_col: float},
            keep_default_na=False,
        )
        rejected = pd.read_csv(targets["rejected"].path, dtype=str, keep_default_na=False)
        return kept, rejected

    def groups(self) -> tuple[dict[str, pd.Series], int, int]:
        """The two groups' scores, rows read and rows dropped."""
        cleaned = from_tables(*self.kept_and_rejected(), self.group_col)
        groups = split_groups(
            cleaned.frame, self.group_col, self.value_col, str(self.input_file), cleaned.labels
        )
        return groups, cleaned.rows_read, cleaned.rows_dropped


class SummarizeScores(GroupsMixin):
    """Describe each group (n, mean, std, quartiles...)."""

    stage = "summary"

    def output(self) -> luigi.LocalTarget:
        return self.stage_target("summary", ".json")

    def compute(self) -> tuple[dict[str, GroupSummary], int, int]:
        """The summaries, rows read and rows dropped, from the cleaning stage (nothing written)."""
        groups, rows_read, rows_dropped = self.groups()
        summaries = summarize_groups(groups, self.value_col, str(self.input_file))
        return summaries, rows_read, rows_dropped

    def run(self) -> None:
        summaries, rows_read, rows_dropped = self.compute()
        groups = {label: asdict(s) for label, s in summaries.items()}
        data = {"rows_read": rows_read, "rows_dropped": rows_dropped, "groups": groups}
        with self.output().open("w") as handle:
            json.dump(data, handle, indent=2)


class TTestScores(GroupsMixin):
    """The independent t-test, first group minus second."""

    stage = "ttest"
    test = luigi.ChoiceParameter(choices=["welch", "student"], default="welch")

    def output(self) -> luigi.LocalTarget:
        return self.stage_target("ttest", ".json")

    def compute(self) -> TTestResult:
        """The t-test from the cleaning stage (nothing written)."""
        groups, _, _ = self.groups()
        first, second = groups.values()
        return ttest(first, second, self.test, self.value_col, str(self.input_file))

    def run(self) -> None:
        result = self.compute()
        with self.output().open("w") as handle:
            json.dump(asdict(result), handle, indent=2)


def read_summaries(target: luigi.LocalTarget) -> tuple[dict[str, GroupSummary], int, int]:
    """The summary stage: per-group summaries, rows read, rows dropped."""
    with target.open("r") as handle:
        data = json.load(handle)
    groups = {label: GroupSummary(**values) for label, values in data["groups"].items()}
    return groups, data["rows_read"], data["rows_dropped"]


class PlotScores(ExamTask):
    """The boxplot, drawn from the summaries."""

    stage = "boxplot"

    def requires(self) -> SummarizeScores:
        return self.clone(SummarizeScores)

    def output(self) -> luigi.LocalTarget:
        return self.stage_target("boxplot", ".png", binary=True)

    def run(self) -> None:
        summaries, _, _ = read_summaries(self.input())
        figure = boxplot_figure(summaries, xlabel=self.group_col, ylabel=self.value_col)
        save_figure(figure, self.output().path)  # atomic too (files.atomic_path)


class BuildReport(ExamTask):
    """report.json and report.md for this run (as stage files; Publish puts them in place)."""

    stage = "report"
    test = luigi.ChoiceParameter(choices=["welch", "student"], default="welch")
    alpha = luigi.FloatParameter(default=0.05)

    def requires(self) -> dict[str, ExamTask]:
        return {"summary": self.clone(SummarizeScores), "ttest": self.clone(TTestScores)}

    def output(self) -> dict[str, luigi.LocalTarget]:
        return {
            "json": self.stage_target("report", ".json"),
            "md": self.stage_target("report", ".md"),
        }

    def run(self) -> None:
        summaries, rows_read, rows_dropped = read_summaries(self.input()["summary"])
        with self.input()["ttest"].open("r") as handle:
            result = TTestResult(**json.load(handle))
        report = report_mod.build_report(
            ENGINE, summaries, result, self.alpha, rows_read, rows_dropped
        )
        with self.output()["md"].open("w") as handle:
            handle.write(report_mod.to_markdown(report))
        with self.output()["json"].open("w") as handle:
            handle.write(report_mod.to_json(report))


class RunRowTarget(luigi.Target):
    """Done when the database already holds the row of this report: loading twice adds nothing.

    A target is anything with ``exists()``. The row is recognised by its content (engine, test,
    figures), so the ETL "load" step is idempotent without a marker file that could disagree.
    """

    def __init__(self, url: str, report_path: str) -> None:
        self.url = url
        self.report_path = report_path

    def exists(self) -> bool:
        path = Path(self.report_path)
        if not path.is_file():
            return False
        row = run_row(Report.from_json(path.read_text(encoding="utf-8")))
        engine = make_engine(self.url)
        try:
            if not sa.inspect(engine).has_table(runs.name):
                return False
            query = sa.select(sa.func.count()).select_from(runs)
            query = query.where(*(runs.c[name] == value for name, value in row.items()))
            with engine.connect() as conn:
                return bool(conn.execute(query).scalar())
        except SQLAlchemyError as exc:
            raise PipelineInputError(
                f"--db {self.url}: could not read the saved runs ({exc})"
            ) from None
        finally:
            engine.dispose()


class SaveRun(ExamTask):
    """Load: one row in the ``pipeline_runs`` table of ``db``."""

    stage = "db"
    test = luigi.ChoiceParameter(choices=["welch", "student"], default="welch")
    alpha = luigi.FloatParameter(default=0.05)
    db = luigi.Parameter(description="SQLAlchemy URL")

    def requires(self) -> BuildReport:
        return self.clone(BuildReport)

    def output(self) -> RunRowTarget:
        return RunRowTarget(self.db, self.input()["json"].path)

    def run(self) -> None:
        save_run(self.db, Report.from_json(Path(self.input()["json"].path).read_text("utf-8")))


class Publish(ExamTask):
    """Copy the finished files into ``<out>``; done when every copy equals its stage file.

    The names in ``<out>`` are fixed (report.json...), so existence alone cannot say which
    run they belong to: comparing the bytes does, and only missing or stale copies are made.
    """

    test = luigi.ChoiceParameter(choices=["welch", "student"], default="welch")
    alpha = luigi.FloatParameter(default=0.05)
    db = luigi.Parameter(default="", description="SQLAlchemy URL, or '' for no database row")

    def requires(self) -> dict[str, luigi.Task]:
        deps: dict[str, luigi.Task] = {
            "plot": self.clone(PlotScores),
            "clean": self.clone(CleanScores),
            "report": self.clone(BuildReport),
        }
        if self.db:
            deps["db"] = self.clone(SaveRun)
        return deps

    def sources(self) -> dict[str, str]:
        """Final file name -> the stage file it is a copy of (report.json last)."""
        deps = self.requires()
        return {
            BOXPLOT_PNG: deps["plot"].output().path,
            REJECTED_CSV: deps["clean"].output()["rejected"].path,
            REPORT_MD: deps["report"].output()["md"].path,
            REPORT_JSON: deps["report"].output()["json"].path,
        }

    def output(self) -> dict[str, luigi.LocalTarget]:
        return {name: luigi.LocalTarget(str(Path(self.out_dir) / name)) for name in self.sources()}

    def stale(self) -> list[str]:
        """The final files that are missing or differ from their stage file."""
        return [
            name
            for name, source in self.sources().items()
            if not (
                Path(source).is_file()
                and (Path(self.out_dir) / name).is_file()
                and filecmp.cmp(source, Path(self.out_dir) / name, shallow=False)
            )
        ]

    def complete(self) -> bool:
        return not self.stale()

    def run(self) -> None:
        for name in self.stale():
            with atomic_path(Path(self.out_dir) / name) as tmp:
                shutil.copyfile(self.sources()[name], tmp)


# --- building the graph and running it ------------------------------------------------------


def pipeline_task(config: RunConfig) -> Publish:
    """The last task of the pipeline for ``config``; Luigi works out everything it needs."""
    return publish_task(config.checked())


def publish_task(config: RunConfig) -> Publish:
    """:func:`pipeline_task` of a config that is already checked (``engines.run`` checks it)."""
    return Publish(  # type: ignore[call-arg]  # Luigi parameters, which mypy cannot see
        out_dir=str(config.out),
        input_file=str(config.source),
        input_digest=file_digest(config.source),
        group_col=config.group_col,
        value_col=config.value_col,
        encoding=config.encoding or "",
        test=config.test,
        alpha=config.alpha,
        db=config.db_url or "",
    )


def walk(root: luigi.Task) -> list[luigi.Task]:
    """Every task ``root`` needs, each once, dependencies before the tasks that need them."""
    order: list[luigi.Task] = []
    seen: set[str] = set()

    def visit(task: luigi.Task) -> None:
        if task.task_id in seen:
            return
        seen.add(task.task_id)
        for dep in luigi.task.flatten(task.requires()):
            visit(dep)
        order.append(task)

    visit(root)
    return order


def edges(root: luigi.Task) -> list[tuple[str, str]]:
    """(upstream, downstream) pairs of task class names: the dependency graph."""
    return [
        (dep.get_task_family(), task.get_task_family())
        for task in walk(root)
        for dep in luigi.task.flatten(task.requires())
    ]


def _layout(tasks: list[luigi.Task]) -> dict[str, tuple[float, float]]:
    """x: the task's depth (longest chain of dependencies); y: spread within a column.

    A task alone in its column sits level with its dependencies (rounded to half steps);
    several share the column, ordered by where their dependencies sit, to limit crossings.
    """
    level: dict[str, int] = {}
    pos: dict[str, tuple[float, float]] = {}
    for task in tasks:  # dependencies come first, so their levels are known
        deps = luigi.task.flatten(task.requires())
        level[task.task_id] = 1 + max((level[d.task_id] for d in deps), default=-1)
    for x in range(max(level.values()) + 1):
        column = [t for t in tasks if level[t.task_id] == x]

        def barycentre(task: luigi.Task) -> float:
            ys = [pos[d.task_id][1] for d in luigi.task.flatten(task.requires())]
            return sum(ys) / len(ys) if ys else 0.0

        if len(column) == 1:
            pos[column[0].task_id] = (x, round(barycentre(column[0]) * 2) / 2)
            continue
        column.sort(key=barycentre, reverse=True)  # stable: ties keep the walk order
        for i, task in enumerate(column):
            pos[task.task_id] = (x, (len(column) - 1) / 2 - i)
    return pos


def graph_figure(root: luigi.Task, title: str = "Luigi dependency graph") -> Figure:
    """Draw the task graph left to right; green boxes are complete, grey ones still to run."""
    tasks = walk(root)
    pos = _layout(tasks)
    width = max(x for x, _ in pos.values()) + 1
    fig = NotebookFigure(figsize=(1.9 * width + 0.5, 2.2), dpi=100)
    ax = fig.add_subplot()
    boxes = {}
    for task in tasks:
        colour = "#b7e4c7" if task.complete() else "#e9ecef"
        x, y = pos[task.task_id]
        text = ax.text(
            x,
            y,
            task.get_task_family(),
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "0.3"},
        )
        boxes[task.task_id] = text.get_bbox_patch()
    for task in tasks:  # drawn after the boxes, so each arrow is clipped at their edges
        for dep in luigi.task.flatten(task.requires()):
            ax.annotate(
                "",
                xy=pos[task.task_id],
                xytext=pos[dep.task_id],
                arrowprops={
                    "arrowstyle": "->",
                    "color": "0.4",
                    "patchA": boxes[dep.task_id],
                    "patchB": boxes[task.task_id],
                },
            )
    ax.set_xlim(-0.6, width - 0.4)
    ys = [y for _, y in pos.values()]
    ax.set_ylim(min(ys) - 0.45, max(ys) + 0.45)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return fig


@contextmanager
def quiet_luigi() -> Iterator[None]:
    """Keep Luigi's own logging out of the way while the engine runs.

    Luigi installs a DEBUG console handler the first time it builds in a process, and its worker
    lines carry the pid, host, user and a random salt. The engine reports through its return
    value and one-line errors instead; afterwards every logger is as it was.
    """
    config = luigi.configuration.get_config()
    had = config.has_option("core", "no_configure_logging")
    before = config.get("core", "no_configure_logging", None)
    config.set("core", "no_configure_logging", "true")
    names = ["luigi", "luigi-interface"] + [
        name for name in logging.root.manager.loggerDict if name.startswith("luigi.")
    ]
    loggers = [logging.getLogger(name) for name in names]
    disabled = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, was in zip(loggers, disabled, strict=True):
            logger.disabled = was
        if had:
            config.set("core", "no_configure_logging", before)
        else:
            config.remove_option("core", "no_configure_logging")


def check_scheduler(url: str, timeout: float = 5.0, origin: str = "--scheduler") -> None:
    """Fail fast, in one line, when no ``luigid`` answers at ``url`` (Luigi itself retries 90 s).

    ``origin`` says where the URL came from (``--scheduler`` or the environment variable), so
    the message names the setting to change.
    """
    api = url.rstrip("/") + "/api/task_list?data=%7B%7D"
    if origin == SCHEDULER_ENV:
        where, instead = f"{SCHEDULER_ENV}={url}", "unset the variable"
    else:
        where, instead = f"{origin} {url}", f"leave out {origin}"
    try:
        with urllib.request.urlopen(api, timeout=timeout) as response:  # noqa: S310 (http only)
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PipelineInputError(
            f"{where}: no Luigi scheduler answers there ({exc}); start one with "
            f"`luigid --address 127.0.0.1 --port 8082`, or {instead} to run locally"
        ) from None


def build(tasks: list[luigi.Task], scheduler_url: str = "") -> LuigiRunResult:
    """``luigi.build`` with a detailed result: local scheduler, or the central one at ``scheduler_url``."""
    where: dict[str, Any] = (
        {"scheduler_url": scheduler_url} if scheduler_url else {"local_scheduler": True}
    )
    return luigi.build(tasks, detailed_summary=True, **where)


def stage_analysis(root: Publish) -> Analysis:
    """The Analysis of a finished run, read back from its stage files.

    A middle stage deleted by hand after a complete run is not rebuilt (Luigi stops at the
    first complete task): its figures are then computed again in memory from the cleaning
    stage, and nothing is written.
    """
    report = root.requires()["report"].requires()
    summary, test = report["summary"], report["ttest"]
    if summary.output().exists():
        summaries, rows_read, rows_dropped = read_summaries(summary.output())
    else:
        summaries, rows_read, rows_dropped = summary.compute()
    if test.output().exists():
        with test.output().open("r") as handle:
            result = TTestResult(**json.load(handle))
    else:
        result = test.compute()
    rejected_stage = Path(root.requires()["clean"].output()["rejected"].path)
    source = rejected_stage if rejected_stage.is_file() else Path(root.out_dir) / REJECTED_CSV
    rejected = pd.read_csv(source, dtype=str, keep_default_na=False)
    return Analysis(
        summaries=summaries,
        ttest=result,
        rows_read=rows_read,
        rejected=rejected,
        rows_dropped=rows_dropped,
        drop_reasons=drop_reasons(rejected),
        labels=tuple(summaries),  # a finished run has exactly its two groups
    )


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """The ``luigi`` engine (``Engine.analyze``): build the task graph; the Analysis from its stages.

    Luigi writes the final files (``Publish``) and the database row (``SaveRun``) as targets of
    its own, so a second run rewrites nothing; they are byte-identical to what the run path's
    publish writes (tests/test_luigi.py). The central scheduler's URL comes from
    ``config.scheduler`` (``--scheduler``), else ``$EXAM_PIPELINE_LUIGI_SCHEDULER``; none or
    empty: the local scheduler.
    """
    if config.scheduler:
        scheduler_url, origin = config.scheduler, "--scheduler"
    else:
        scheduler_url, origin = os.environ.get(SCHEDULER_ENV, ""), SCHEDULER_ENV
    scheduler_url = scheduler_url.strip()
    if scheduler_url:
        check_scheduler(scheduler_url, origin=origin)
    root = publish_task(config)
    for task in walk(root):
        task.error = None  # type: ignore[attr-defined]  # Luigi reuses equal task instances
    with quiet_luigi():
        result = build([root], scheduler_url)
    if result.status not in SUCCEEDED:
        errors = [e for t in walk(root) if (e := getattr(t, "error", None)) is not None]
        input_errors = [e for e in errors if isinstance(e, PipelineInputError)]
        if input_errors:
            raise input_errors[0]
        raise LuigiRunError(
            f"the Luigi run did not finish: {result.status.name}\n{result.summary_text}"
        )
    return stage_analysis(root)


def run_luigi(config: RunConfig) -> Report:
    """Run the ``luigi`` engine through the run path (lesson 05): the report."""
    from exam_pipeline import engines

    return engines.run(replace(config, engine="luigi"))
