"""The analysis as plain functions: load -> clean -> analyze -> plot -> report (the ``pandas`` engine).

Lesson 01 builds these by hand; every other engine reuses them or their pieces.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from exam_pipeline.core.analysis import (
    GroupSummary,
    TTestResult,
    compare,
    split_groups,
    summarize_groups,
)
from exam_pipeline.core.clean import CleanResult, clean_scores
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import CsvFormat, read_scores
from exam_pipeline.core.outputs import publish


def load(config: RunConfig) -> tuple[pd.DataFrame, CsvFormat]:
    """Read the raw group and score columns as text."""
    return read_scores(config.source, config.group_col, config.value_col, encoding=config.encoding)


def clean(raw: pd.DataFrame, fmt: CsvFormat, config: RunConfig) -> CleanResult:
    """Numeric scores only; every dropped row kept with its reason."""
    return clean_scores(raw, config.group_col, config.value_col, decimal=fmt.decimal)


def analyze(cleaned: CleanResult, config: RunConfig) -> tuple[dict[str, GroupSummary], TTestResult]:
    """Per-group summaries and the t-test (first group minus second, labels sorted)."""
    source = str(config.source)
    groups = split_groups(cleaned.frame, config.group_col, config.value_col, source, cleaned.labels)
    summaries = summarize_groups(groups, config.value_col, source)
    return summaries, compare(summaries, config.test, config.value_col, source)


def run_pipeline(config: RunConfig) -> dict[str, Any]:
    """Run every step and write the outputs; return the report."""
    config = config.checked()
    raw, fmt = load(config)
    cleaned = clean(raw, fmt, config)
    summaries, result = analyze(cleaned, config)
    return publish(config, summaries, result, cleaned.rows_read, cleaned.rejected)
