"""The ``dagster`` engine: the analysis as Dagster software-defined assets, run with ``materialize``.

Each step is an asset: ``raw_scores -> cleaned_scores -> group_summaries -> ttest``. Dagster
works out the order from the parameter names, the same way it draws the asset graph in its UI.
The assets call the course's own functions (``read_scores``, ``clean_scores``,
``summarize_groups``, ``compare``), so rows are rejected for the same reasons as in every other
engine; what Dagster adds is the orchestration: an asset graph, a run with one event per step,
and lineage it could keep in an instance's database.

A run here keeps nothing: ``materialize`` uses an ephemeral instance (no ``DAGSTER_HOME``, no
files, no telemetry) and ``mem_io_manager`` hands each asset's value to the next in memory.
Dagster's console logger is set to CRITICAL, so a run prints nothing; a failure inside an
asset comes back as the course's own one-line error.

Install with ``pip install -e ".[dagster]"`` (lesson 12). ``run_analysis`` is what ``--engine
dagster`` calls (through ``exam_pipeline.engines.run``, which checks the config and publishes).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from exam_pipeline.core.analysis import Analysis, compare, split_groups, summarize_groups
from exam_pipeline.core.clean import clean_scores
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import read_scores
from exam_pipeline.engines.base import Hooks

#: The assets, in the order the graph runs them (the lesson prints the same list).
ASSET_NAMES = ("raw_scores", "cleaned_scores", "group_summaries", "ttest")


def build_assets(config: RunConfig) -> list[Any]:
    """The four assets of one run, closed over ``config`` (input file, columns, test)."""
    import dagster as dg

    source = str(config.source)

    @dg.asset
    def raw_scores():
        """The group and score columns as text, and the file's format (separator, decimal)."""
        return read_scores(
            config.source, config.group_col, config.value_col, encoding=config.encoding
        )

    @dg.asset
    def cleaned_scores(raw_scores):
        """The course's cleaning rules: numeric scores kept, every other row with its reason."""
        raw, fmt = raw_scores
        return clean_scores(raw, config.group_col, config.value_col, decimal=fmt.decimal)

    @dg.asset
    def group_summaries(cleaned_scores):
        """n, mean, std, quartiles and whiskers per group."""
        groups = split_groups(
            cleaned_scores.frame,
            config.group_col,
            config.value_col,
            source,
            cleaned_scores.labels,
        )
        return summarize_groups(groups, config.value_col, source)

    @dg.asset
    def ttest(group_summaries):
        """The t-test between the two groups (first label minus second)."""
        return compare(group_summaries, config.test, config.value_col, source)

    return [raw_scores, cleaned_scores, group_summaries, ttest]


#: Dagster's run configuration that keeps its console logger silent below CRITICAL.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def materialize_quietly(assets: Sequence[Any], selection: Sequence[str] | None = None) -> Any:
    """``dagster.materialize`` in memory, with nothing on the console; the user's error re-raised.

    Dagster wraps an exception raised inside an asset in ``DagsterExecutionStepExecutionError``;
    the course's own errors (a bad file, too few values) are unwrapped so the command line can
    print them as one line.
    """
    import dagster as dg

    with warnings.catch_warnings():
        # Beta/preview warnings about APIs the engine does not use directly.
        warnings.simplefilter("ignore", category=Warning)
        logging.getLogger("dagster").setLevel(logging.CRITICAL)
        try:
            return dg.materialize(
                list(assets),
                resources={"io_manager": dg.mem_io_manager},
                run_config=QUIET_RUN_CONFIG,
                selection=list(selection) if selection else None,
            )
        except dg.DagsterExecutionStepExecutionError as exc:
            if exc.user_exception is not None:
                raise exc.user_exception from None
            raise


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """Materialize the assets in memory; the run path checks the config and publishes."""
    result = materialize_quietly(build_assets(config))
    cleaned = result.output_for_node("cleaned_scores")
    return Analysis.of(
        cleaned, result.output_for_node("group_summaries"), result.output_for_node("ttest")
    )
