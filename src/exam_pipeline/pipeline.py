"""The analysis as plain functions: load -> clean -> analyze -> plot -> report (the ``pandas`` engine).

Lesson 01 builds these by hand; every other engine reuses them or their pieces.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .analysis import GroupSummary, TTestResult, split_groups, summarize_groups, ttest
from .clean import CleanResult, clean_scores
from .config import RunConfig
from .data import CsvFormat, read_scores
from .outputs import publish


def load(config: RunConfig) -> tuple[pd.DataFrame, CsvFormat]:
    """Read the raw group and score columns as text."""
    return read_scores(config.source, config.group_col, config.value_col)


def clean(raw: pd.DataFrame, fmt: CsvFormat, config: RunConfig) -> CleanResult:
    """Numeric scores only; every dropped row kept with its reason."""
    return clean_scores(raw, config.group_col, config.value_col, decimal=fmt.decimal)


def analyze(
    cleaned: CleanResult, config: RunConfig, labels: list[str] | None = None
) -> tuple[dict[str, GroupSummary], TTestResult]:
    """Per-group summaries and the t-test (first group minus second, labels sorted)."""
    groups = split_groups(
        cleaned.frame, config.group_col, config.value_col, str(config.source), labels
    )
    first, second = groups.values()
    return summarize_groups(groups), ttest(first, second, config.test)


def run_pipeline(config: RunConfig) -> dict[str, Any]:
    """Run every step and write the outputs; return the report."""
    config = config.checked()
    raw, fmt = load(config)
    cleaned = clean(raw, fmt, config)
    labels = raw[config.group_col].dropna().astype(str).str.strip()
    summaries, result = analyze(cleaned, config, sorted(set(labels[labels != ""])))
    return publish(config, summaries, result, cleaned.rows_read, cleaned.rejected)
