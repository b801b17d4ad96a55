"""Describe each group and compare the two: Welch's or Student's t-test, the difference of the
means with its confidence interval, and Hedges' g.

Every engine ends here the same way: it summarises each group (``exam_pipeline.core.summary``, in
memory or in passes over chunks) and :func:`ttest_from_summaries` compares the two summaries. So
the figures agree whatever the engine, and a data set a t-test cannot handle is refused the same
way by all of them, with one sentence that says why.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exam_pipeline.core.clean import CleanResult
from exam_pipeline.core.summary import GroupSummary, summarize_arrays
from exam_pipeline.core.validate import (
    PipelineInputError,
    require_group_sizes,
    require_test,
    require_two_groups,
)

#: The per-group keys written to report.json.
REPORT_KEYS: tuple[str, ...] = ("n", "mean", "std", "median", "min", "max")

#: R's ``t.test`` stops with "data are essentially constant" when the standard error is below
#: this many machine epsilons times the larger mean: the t statistic would be rounding noise.
CONSTANT_EPS = 10 * sys.float_info.epsilon

HEDGES_G = "Hedges' g = J * (mean_A - mean_B) / s_pooled, J = 1 - 3 / (4 * (n_A + n_B) - 9)"


@dataclass(frozen=True)
class TTestResult:
    """Outcome of an independent two-sample t-test of the first group minus the second."""

    test: str  # "welch" or "student"
    t: float
    df: float
    p: float
    difference: float  # mean of the first group minus mean of the second
    se: float  # standard error of the difference (Welch's or the pooled one)
    hedges_g: float  # standardised difference, small-sample corrected (see HEDGES_G)

    def interval(self, alpha: float) -> tuple[float, float]:
        """The ``1 - alpha`` confidence interval of the difference (the test's own df and se)."""
        from scipy import stats

        half = float(stats.t.isf(alpha / 2, self.df)) * self.se
        low, high = self.difference - half, self.difference + half
        if not (math.isfinite(low) and math.isfinite(high)):
            raise PipelineInputError(
                f"--alpha {alpha} is too small to give a finite confidence interval"
            )
        return low, high


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


def summarize_values(values: pd.Series | np.ndarray) -> GroupSummary:
    """Summarise one group from its cleaned scores."""
    return summarize_arrays({"": values})[""]


def summarize_groups(
    groups: Mapping[str, pd.Series], value_col: str = "Score", source: str = "input"
) -> dict[str, GroupSummary]:
    """Per-group descriptive statistics, in the order of ``groups``."""
    return summarize_arrays(groups, value_col, source)


def ttest(
    a: pd.Series | np.ndarray,
    b: pd.Series | np.ndarray,
    test: str = "welch",
    value_col: str = "Score",
    source: str = "input",
) -> TTestResult:
    """Independent t-test of ``a`` against ``b``: Welch's (unequal variances) or Student's."""
    summaries = summarize_arrays({"a": a, "b": b}, value_col, source)
    return ttest_from_summaries(summaries["a"], summaries["b"], test, value_col, source)


def degrees_of_freedom(a: GroupSummary, b: GroupSummary, test: str = "welch") -> float:
    """n1 + n2 - 2 for Student; the Welch-Satterthwaite approximation for Welch.

    Welch's is written with the two variance terms as shares of their sum, so squaring them
    cannot overflow however large the scores are.
    """
    if test == "student":
        return float(a.n + b.n - 2)
    va, vb = a.variance / a.n, b.variance / b.n
    total = va + vb
    return 1.0 / ((va / total) ** 2 / (a.n - 1) + (vb / total) ** 2 / (b.n - 1))


def pooled_variance(a: GroupSummary, b: GroupSummary) -> float:
    """The two groups' variances averaged with weights n - 1 (Student's test, Hedges' g)."""
    return ((a.n - 1) * a.variance + (b.n - 1) * b.variance) / (a.n + b.n - 2)


def standard_error(a: GroupSummary, b: GroupSummary, test: str = "welch") -> float:
    """Standard error of the difference of the means."""
    if test == "student":
        return math.sqrt(pooled_variance(a, b) * (1 / a.n + 1 / b.n))
    return math.sqrt(a.variance / a.n + b.variance / b.n)


def require_spread(
    a: GroupSummary,
    b: GroupSummary,
    se: float,
    value_col: str,
    source: str,
    labels: tuple[str, str],
) -> None:
    """Refuse two groups whose t statistic would be undefined or rounding noise.

    Both groups constant: t is 0/0 or infinite, so there is nothing to test. Values that vary by
    less than what a float can tell apart at their size: R's "data are essentially constant".
    One constant group next to one that varies is fine: the other group gives the spread.
    """
    if a.min == a.max and b.min == b.max:
        raise PipelineInputError(
            f"{source}: column {value_col!r} does not vary within either group (every "
            f"{labels[0]!r} value is {a.min:g}, every {labels[1]!r} value is {b.min:g}); "
            "a t-test needs spread within at least one group"
        )
    if se == 0:
        raise PipelineInputError(
            f"{source}: the {value_col!r} values are too close together to compute their spread "
            "in 64-bit floating point (the standard error comes out as 0)"
        )
    if not se > CONSTANT_EPS * max(abs(a.mean), abs(b.mean)):
        raise PipelineInputError(
            f"{source}: the {value_col!r} values vary too little for their size to test "
            f"(standard error {se:.3g} at means of {a.mean:.6g} and {b.mean:.6g}); "
            "the data are essentially constant"
        )


def ttest_from_summaries(
    a: GroupSummary,
    b: GroupSummary,
    test: str = "welch",
    value_col: str = "Score",
    source: str = "input",
    labels: tuple[str, str] = ("A", "B"),
) -> TTestResult:
    """The t-test, the difference with its standard error, and Hedges' g, from two summaries.

    The two-sided p is ``2 * stats.t.sf(|t|, df)``, as in ``scipy.stats.ttest_ind``. A summary is all a t-test needs (n, mean, standard deviation): this is how a stream or a
    cluster, which never holds the rows, tests them. SciPy is imported here, not with the
    module: importing ``scipy.stats`` costs about 1 s of CPU, and the worker processes of a
    process pool or a Dask cluster import this module only to count rows.
    """
    from scipy import stats

    require_test(test)
    se = standard_error(a, b, test)
    require_spread(a, b, se, value_col, source, labels)
    # What scipy.stats.ttest_ind_from_stats computes, written out with an overflow-safe df: SciPy
    # squares the variance terms and gives df = nan (and a warning) for scores near 1e100.
    t = (a.mean - b.mean) / se
    df = degrees_of_freedom(a, b, test)
    correction = 1 - 3 / (4 * (a.n + b.n) - 9)
    return TTestResult(
        test=test,
        t=t,
        df=df,
        p=float(2 * stats.t.sf(abs(t), df)),
        difference=a.mean - b.mean,
        se=se,
        hedges_g=correction * (a.mean - b.mean) / math.sqrt(pooled_variance(a, b)),
    )


def compare(
    summaries: Mapping[str, GroupSummary],
    test: str = "welch",
    value_col: str = "Score",
    source: str = "input",
) -> TTestResult:
    """:func:`ttest_from_summaries` of the first group against the second, by label order."""
    (la, a), (lb, b) = summaries.items()
    return ttest_from_summaries(a, b, test, value_col, source, (la, lb))


@dataclass(frozen=True, eq=False)
class Analysis:
    """What an engine found, before anything is written: all the run path needs to publish.

    ``summaries`` holds the two groups in label order and ``ttest`` compares the first with the
    second. ``rejected`` is the quarantine table, or the path of a finished temporary CSV in
    ``--out`` that publishing moves into place as rejected.csv (the stream writes its rejected
    rows to disk as they come). ``drop_reasons`` counts the rejected rows by reason and
    ``labels`` are the groups seen before cleaning (both come out of cleaning).
    """

    summaries: Mapping[str, GroupSummary]
    ttest: TTestResult
    rows_read: int
    rejected: pd.DataFrame | Path
    rows_dropped: int
    drop_reasons: Mapping[str, int] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, cleaned: CleanResult, summaries: Mapping[str, GroupSummary], ttest: TTestResult
    ) -> Analysis:
        """The analysis of rows cleaned in memory."""
        return cls(
            summaries=dict(summaries),
            ttest=ttest,
            rows_read=cleaned.rows_read,
            rejected=cleaned.rejected,
            rows_dropped=cleaned.rows_dropped,
            drop_reasons=cleaned.drop_reasons(),
            labels=cleaned.labels,
        )
