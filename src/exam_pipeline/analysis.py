"""Describe each group and compare the two with an independent t-test (from scipy.stats).

Two ways in, one result: from the cleaned values (batch engines) or from value counts
(streaming engines, which never hold the rows). Both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .validate import require_group_sizes, require_test, require_two_groups

#: The per-group keys written to report.json.
REPORT_KEYS: tuple[str, ...] = ("n", "mean", "std", "median", "min", "max")


@dataclass(frozen=True)
class GroupSummary:
    """Descriptive statistics of one group, plus the box-plot quartiles and whisker ends."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1), as pandas .std() gives
    median: float
    min: float
    max: float
    q1: float
    q3: float
    whislo: float  # lowest value within 1.5 IQR of Q1 (Tukey)
    whishi: float  # highest value within 1.5 IQR of Q3

    def to_report(self) -> dict[str, float | int]:
        """The keys report.json keeps for a group."""
        return {key: value for key, value in asdict(self).items() if key in REPORT_KEYS}


@dataclass(frozen=True)
class TTestResult:
    """Outcome of an independent two-sample t-test (group A minus group B)."""

    test: str  # "welch" or "student"
    t: float
    df: float
    p: float


def _quantile_from_counts(values: np.ndarray, cum: np.ndarray, q: float) -> float:
    """Linear-interpolated quantile (numpy's default) of sorted ``values`` with cumulative counts."""
    n = int(cum[-1])
    pos = (n - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    v_lo = values[np.searchsorted(cum, lo, side="right")]
    v_hi = values[np.searchsorted(cum, hi, side="right")]
    return float(v_lo + (v_hi - v_lo) * (pos - lo))


def summarize_counts(counts: Mapping[float, int]) -> GroupSummary:
    """Summarise a group from ``{value: how many times}``: exact, without keeping the rows.

    Exam scores take few distinct values, so counts stay small however many rows stream by.
    """
    items = sorted((float(v), int(c)) for v, c in counts.items() if c > 0)
    values = np.array([v for v, _ in items], dtype=float)
    weights = np.array([c for _, c in items], dtype=float)
    n = int(weights.sum())
    cum = np.cumsum(weights)
    mean = float(np.dot(values, weights) / n) if n else math.nan
    var = float(np.dot(weights, (values - mean) ** 2) / (n - 1)) if n > 1 else math.nan
    q1 = _quantile_from_counts(values, cum, 0.25)
    q3 = _quantile_from_counts(values, cum, 0.75)
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return GroupSummary(
        n=n,
        mean=mean,
        std=math.sqrt(var),
        median=_quantile_from_counts(values, cum, 0.5),
        min=float(values[0]),
        max=float(values[-1]),
        q1=q1,
        q3=q3,
        whislo=float(inside.min()),
        whishi=float(inside.max()),
    )


def summarize_values(values: pd.Series) -> GroupSummary:
    """Summarise a group from its cleaned scores."""
    values = values.astype(float)
    q1, median, q3 = (float(x) for x in values.quantile([0.25, 0.5, 0.75]))
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return GroupSummary(
        n=int(values.count()),
        mean=float(values.mean()),
        std=float(values.std(ddof=1)),
        median=median,
        min=float(values.min()),
        max=float(values.max()),
        q1=q1,
        q3=q3,
        whislo=float(inside.min()),
        whishi=float(inside.max()),
    )


def split_groups(
    clean: pd.DataFrame,
    group_col: str = "Class",
    value_col: str = "Score",
    source: str = "input",
    labels: Iterable[str] | None = None,
) -> dict[str, pd.Series]:
    """The scores of each of the two groups, keyed by label in sorted order.

    ``labels`` are the groups seen before cleaning, so a group whose every score was junk
    is reported as "has 0 valid values" rather than silently missing.
    """
    seen = clean[group_col].unique() if labels is None else labels
    first, second = require_two_groups(seen, group_col, source)
    groups = {label: clean.loc[clean[group_col] == label, value_col] for label in (first, second)}
    require_group_sizes({k: int(v.count()) for k, v in groups.items()}, value_col, source)
    return groups


def summarize_groups(groups: Mapping[str, pd.Series]) -> dict[str, GroupSummary]:
    """Per-group descriptive statistics, in the order of ``groups``."""
    return {label: summarize_values(values) for label, values in groups.items()}


def ttest(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray, test: str = "welch") -> TTestResult:
    """Independent t-test of ``a`` against ``b``: Welch's (unequal variances) or Student's."""
    from scipy import stats  # here, not at the top: see ttest_from_summaries

    require_test(test)
    result = stats.ttest_ind(
        np.asarray(a, float), np.asarray(b, float), equal_var=test == "student"
    )
    return TTestResult(
        test=test, t=float(result.statistic), df=float(result.df), p=float(result.pvalue)
    )


def degrees_of_freedom(a: GroupSummary, b: GroupSummary, test: str = "welch") -> float:
    """n1 + n2 - 2 for Student; the Welch-Satterthwaite approximation for Welch."""
    if test == "student":
        return float(a.n + b.n - 2)
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    return (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))


def ttest_from_summaries(a: GroupSummary, b: GroupSummary, test: str = "welch") -> TTestResult:
    """The same t-test from each group's n, mean and std alone (what a stream can keep).

    SciPy is imported by the two t-test functions, not with this module: importing
    ``scipy.stats`` costs about 1 s of CPU, and the worker processes of a process pool or a Dask
    cluster import this module only to count rows.
    """
    from scipy import stats

    require_test(test)
    result = stats.ttest_ind_from_stats(
        a.mean, a.std, a.n, b.mean, b.std, b.n, equal_var=test == "student"
    )
    return TTestResult(
        test=test,
        t=float(result.statistic),
        df=degrees_of_freedom(a, b, test),
        p=float(result.pvalue),
    )
