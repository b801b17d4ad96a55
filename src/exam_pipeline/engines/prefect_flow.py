"""The exam analysis as a Prefect 3 flow (the ``prefect`` engine, lessons 06-07).

Each task is a thin wrapper around a shared function, so the analysis itself lives in one
place; what Prefect adds is the run record: a state per step, logs, timings and artifacts,
visible in the server UI. Call ``some_task.fn(...)`` to run a task's plain function without
Prefect (that is how the tests check the logic).

Call :func:`exam_pipeline.engines.prefect_settings.configure` before importing this module for the
course's quiet, offline settings; :func:`run_analysis` (the engine) does it for the CLI.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from exam_pipeline.core import analysis, outputs
from exam_pipeline.core import report as report_mod
from exam_pipeline.core.analysis import Analysis, GroupSummary, TTestResult
from exam_pipeline.core.clean import CleanResult, clean_scores
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import CsvFormat, read_scores
from exam_pipeline.core.report import Report
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.base import Hooks, Publish
from exam_pipeline.engines.prefect_settings import configure

# Lesson 06 runs every task every time; caching (and why it hashes whole DataFrames) is lesson 07.
TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE}


@task(task_run_name="load", **TASK_OPTIONS)
def load(config: RunConfig) -> tuple[pd.DataFrame, CsvFormat]:
    """Read the group and score columns as text (the shared reader checks the columns)."""
    raw, fmt = read_scores(
        config.source, config.group_col, config.value_col, encoding=config.encoding
    )
    get_run_logger().info("read %d rows from %s", len(raw), Path(config.source).name)
    return raw, fmt


@task(task_run_name="clean", **TASK_OPTIONS)
def clean(raw: pd.DataFrame, fmt: CsvFormat, config: RunConfig) -> CleanResult:
    """Numeric scores only; dropped rows are kept with their reason."""
    cleaned = clean_scores(raw, config.group_col, config.value_col, decimal=fmt.decimal)
    logger = get_run_logger()
    logger.info("kept %d rows, dropped %d", len(cleaned.frame), len(cleaned.rejected))
    if len(cleaned.rejected):
        logger.warning("%d rows were not valid scores (see rejected.csv)", len(cleaned.rejected))
    return cleaned


@task(task_run_name="split", **TASK_OPTIONS)
def split(cleaned: CleanResult, config: RunConfig) -> dict[str, pd.Series]:
    """The scores of each of the two classes (fails clearly if there are not exactly two)."""
    return analysis.split_groups(
        cleaned.frame, config.group_col, config.value_col, str(config.source), cleaned.labels
    )


@task(task_run_name="summarize", **TASK_OPTIONS)
def summarize(groups: dict[str, pd.Series], config: RunConfig) -> dict[str, GroupSummary]:
    """Descriptive statistics per class."""
    summaries = analysis.summarize_groups(groups, config.value_col, str(config.source))
    for label, s in summaries.items():
        get_run_logger().info("class %s: n=%d, mean=%.2f, std=%.2f", label, s.n, s.mean, s.std)
    return summaries


@task(task_run_name="ttest", **TASK_OPTIONS)
def ttest(summaries: dict[str, GroupSummary], config: RunConfig) -> TTestResult:
    """The independent t-test, first class minus second, from the two summaries."""
    result = analysis.compare(summaries, config.test, config.value_col, str(config.source))
    get_run_logger().info(
        "%s t-test: t=%.2f, %s, difference %.2f (%s)",
        config.test,
        result.t,
        report_mod.format_p(result.p),
        result.difference,
        f"Hedges' g = {result.hedges_g:.2f}",
    )
    return result


@task(task_run_name="publish", **TASK_OPTIONS)
def publish(config: RunConfig, found: Analysis, write: Publish | None = None) -> Report:
    """Write report.json, report.md, the boxplot, rejected.csv and the database row.

    ``write`` is the run path's publish step when ``exam-pipeline run`` runs the flow; on its
    own the flow calls the same ``outputs.publish``.
    """
    report = write(found) if write is not None else outputs.publish(config, found)
    get_run_logger().info("wrote the report and the boxplot to %s", Path(config.out).name)
    return report


def report_table(report: Report) -> list[dict[str, Any]]:
    """One row per class, rounded for reading: the table artifact's content."""
    return [
        {"class": label, **{k: round(float(v), 2) for k, v in stats.items()}}
        for label, stats in report.groups.items()
    ]


@task(task_run_name="artifacts", **TASK_OPTIONS)
def artifacts(report: Report) -> None:
    """Attach the report to the flow run, as Markdown and as a table, for the server UI."""
    create_markdown_artifact(
        markdown=report.to_markdown(),
        key="exam-report",
        description="The exam score report (report.md)",
    )
    create_table_artifact(
        table=report_table(report),
        key="exam-groups",
        description="Descriptive statistics per class",
    )


@flow(name="exam-scores", flow_run_name="exam-report", validate_parameters=False)
def exam_flow(config: RunConfig, write: Publish | None = None) -> Analysis:
    """Load, clean, split, summarize, test, publish: the same steps as ``--engine pandas``.

    Returns the Analysis; ``write`` is the publish step (default: ``outputs.publish``).
    """
    raw, fmt = load(config)
    cleaned = clean(raw, fmt, config)
    groups = split(cleaned, config)
    summaries = summarize(groups, config)
    result = ttest(summaries, config)
    found = Analysis.of(cleaned, summaries, result)
    report = publish(config, found, write)
    artifacts(report)
    return found


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """The ``prefect`` engine (``Engine.analyze``): the analysis as a Prefect flow.

    With ``PREFECT_API_URL`` set (``prefect config set`` or the environment) the run is recorded
    by that server and shows in its UI; without it Prefect starts a temporary local server. The
    flow's ``publish`` task is the run path's publish step (``hooks.publish``).
    """
    configure(ui_links=True)
    require_api()

    def report_only(found: Analysis) -> Report:
        return Report.of(config, found)

    found: Analysis = exam_flow(config, hooks.publish or report_only)
    return found


def require_api(timeout: float = 5.0) -> None:
    """Fail in one line if ``PREFECT_API_URL`` names a server that does not answer.

    Prefect itself would end the run with a traceback ("Failed to reach API"). With no URL set,
    Prefect starts a temporary server of its own, and there is nothing to check.
    """
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            response.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PipelineInputError(
            f"PREFECT_API_URL {url}: the Prefect server does not answer ({reason}); start it "
            "with `prefect server start`, or unset PREFECT_API_URL for a temporary server"
        ) from None
