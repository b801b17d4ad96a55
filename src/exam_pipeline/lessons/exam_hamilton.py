"""The exam analysis as a Hamilton dataflow (lesson 12): one function per value.

Hamilton reads a module of plain functions: each function's name is a node of the graph, and
its parameter names are the nodes it depends on. Nothing here imports Hamilton; the driver
(``hamilton.driver.Builder().with_modules(exam_hamilton).build()``) wires the functions
together and computes only what ``execute([...])`` asks for. Inputs that no function produces
(``source``, ``test``) come from ``execute(..., inputs={...})``.
"""

from __future__ import annotations

import pandas as pd

from exam_pipeline.core.analysis import (
    GroupSummary,
    TTestResult,
    compare,
    split_groups,
    summarize_groups,
)
from exam_pipeline.core.clean import CleanResult, clean_scores
from exam_pipeline.core.data import CsvFormat, read_scores


def raw_and_format(source: str) -> tuple[pd.DataFrame, CsvFormat]:
    """The Class and Score columns as text, and the file's format."""
    return read_scores(source)


def raw_scores(raw_and_format: tuple[pd.DataFrame, CsvFormat]) -> pd.DataFrame:
    """The raw rows, untouched."""
    return raw_and_format[0]


def decimal_mark(raw_and_format: tuple[pd.DataFrame, CsvFormat]) -> str:
    """ "." or "," as the file writes its decimals."""
    return raw_and_format[1].decimal


def cleaned(raw_scores: pd.DataFrame, decimal_mark: str) -> CleanResult:
    """The course's cleaning rules."""
    return clean_scores(raw_scores, "Class", "Score", decimal=decimal_mark)


def summaries(cleaned: CleanResult, source: str) -> dict[str, GroupSummary]:
    """n, mean, std, median, quartiles per class."""
    groups = split_groups(cleaned.frame, "Class", "Score", source, cleaned.labels)
    return summarize_groups(groups, "Score", source)


def ttest(summaries: dict[str, GroupSummary], test: str, source: str) -> TTestResult:
    """Welch's (or Student's) t-test of A minus B."""
    return compare(summaries, test, "Score", source)
