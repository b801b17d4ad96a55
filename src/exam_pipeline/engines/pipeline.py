"""The analysis as plain functions: load -> clean -> analyze (the ``pandas`` engine).

Lesson 01 builds these by hand; every other engine reuses them or their pieces. Writing the
outputs is the run path's (``exam_pipeline.engines.run``), the same for every engine.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from exam_pipeline.core.analysis import (
    Analysis,
    GroupSummary,
    TTestResult,
    compare,
    split_groups,
    summarize_groups,
)
from exam_pipeline.core.clean import CleanResult, clean_scores
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import CsvFormat, read_scores
from exam_pipeline.core.report import Report
from exam_pipeline.engines.base import Hooks


def load(config: RunConfig) -> tuple[pd.DataFrame, CsvFormat]:
    """Read the raw group and score columns as text."""
    return read_scores(config.source, config.group_col, config.value_col, encoding=config.encoding)


def clean(raw: pd.DataFrame, fmt: CsvFormat, config: RunConfig) -> CleanResult:
    """Numeric scores only; every dropped row kept with its reason."""
    return clean_scores(raw, config.group_col, config.value_col, decimal=fmt.decimal)


def analyze(cleaned: CleanResult, config: RunConfig) -> tuple[dict[str, GroupSummary], TTestResult]:
    """Per-group summaries and the t-test (first group minus second, labels sorted).

    The one function that turns cleaned rows in memory into summaries and a test: the
    ``steps`` and ``prefect`` engines call it too.
    """
    source = str(config.source)
    groups = split_groups(cleaned.frame, config.group_col, config.value_col, source, cleaned.labels)
    summaries = summarize_groups(groups, config.value_col, source)
    return summaries, compare(summaries, config.test, config.value_col, source)


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """The ``pandas`` engine (``Engine.analyze``): load, clean and summarise in memory."""
    raw, fmt = load(config)
    cleaned = clean(raw, fmt, config)
    summaries, result = analyze(cleaned, config)
    return Analysis.of(cleaned, summaries, result)


def run_pipeline(config: RunConfig) -> Report:
    """Run the ``pandas`` engine through the run path (lessons 01, 02, 04, 05, 08): the report."""
    from exam_pipeline import engines

    return engines.run(replace(config, engine="pandas"))
