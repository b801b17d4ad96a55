"""The statistics, checked against values worked out by hand, not against the code itself."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from exam_pipeline.core.analysis import (
    degrees_of_freedom,
    summarize_values,
    ttest,
    ttest_from_summaries,
)
from exam_pipeline.core.data import LESSON_SCORES
from exam_pipeline.core.summary import extents, summarize

A = pd.Series(LESSON_SCORES["A"], dtype=float)
B = pd.Series(LESSON_SCORES["B"], dtype=float)


def two_sided_p(t: float, df: float) -> float:
    """p = I_{df/(df+t^2)}(df/2, 1/2): the t distribution's tail via the incomplete beta."""
    return float(special.betainc(df / 2, 0.5, df / (df + t * t)))


def test_lesson_group_summaries_by_hand():
    # A: 65 70 68 72 66 -> mean 68.2, squared deviations sum to 32.8, variance 8.2
    a = summarize_values(A)
    assert a.n == 5 and a.mean == pytest.approx(68.2)
    assert a.std == pytest.approx(math.sqrt(8.2))
    assert (a.median, a.min, a.max, a.q1, a.q3) == (68.0, 65.0, 72.0, 66.0, 70.0)
    # B: 78 82 80 79 81 -> mean 80, squared deviations sum to 10, variance 2.5
    b = summarize_values(B)
    assert b.mean == pytest.approx(80.0) and b.std == pytest.approx(math.sqrt(2.5))


def test_student_ttest_matches_lesson_numbers():
    # pooled variance (32.8 + 10) / 8 = 5.35; se = sqrt(5.35 * (1/5 + 1/5)) = sqrt(2.14)
    t_hand = (68.2 - 80.0) / math.sqrt(2.14)
    result = ttest(A, B, "student")
    assert result.t == pytest.approx(t_hand)
    assert round(result.t, 2) == -8.07
    assert result.df == 8
    assert result.p == pytest.approx(two_sided_p(t_hand, 8))
    assert f"{result.p:.1e}" == "4.1e-05"


def test_welch_ttest_by_hand():
    # se^2 = 8.2/5 + 2.5/5 = 2.14; df = 2.14^2 / ((1.64^2 + 0.5^2) / 4) = 6.2316...
    df_hand = 2.14**2 / ((1.64**2 + 0.5**2) / 4)
    result = ttest(A, B, "welch")
    assert result.t == pytest.approx((68.2 - 80.0) / math.sqrt(2.14))
    assert result.df == pytest.approx(df_hand)
    assert result.p == pytest.approx(two_sided_p(result.t, df_hand))


def test_textbook_welch_example():
    # Welch (1947)-style worked example used in many texts: equal n, unequal spread.
    x = np.array([19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0])
    y = np.array([28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7])
    vx, vy = x.var(ddof=1) / 10, y.var(ddof=1) / 10
    t_hand = (x.mean() - y.mean()) / math.sqrt(vx + vy)
    df_hand = (vx + vy) ** 2 / (vx**2 / 9 + vy**2 / 9)
    result = ttest(x, y, "welch")
    assert result.t == pytest.approx(t_hand) and result.df == pytest.approx(df_hand)


@pytest.mark.parametrize("test", ["welch", "student"])
def test_summary_path_equals_data_path(test):
    sa, sb = summarize_values(A), summarize_values(B)
    from_data, from_stats = ttest(A, B, test), ttest_from_summaries(sa, sb, test)
    for key in ("t", "df", "p"):
        assert getattr(from_stats, key) == pytest.approx(getattr(from_data, key), rel=1e-12)
    assert degrees_of_freedom(sa, sb, "student") == 8


@pytest.mark.parametrize("chunks", [1, 7, 500])
def test_chunked_passes_give_the_same_summary_as_pandas(chunks):
    """Integers (many ties) and six-decimal reals (no ties): the same summary in any chunking."""
    rng = np.random.default_rng(1)
    groups = {
        "ints": rng.integers(0, 101, size=4999).astype(float),
        "reals": rng.normal(70, 10, size=3001).round(6),
    }
    parts = {label: np.array_split(values, chunks) for label, values in groups.items()}

    def run_pass(f):
        return [f({label: parts[label][i] for label in parts}) for i in range(chunks)]

    got = summarize(run_pass, extents(run_pass, list(groups)))
    for label, values in groups.items():
        s = pd.Series(values)
        q1, median, q3 = s.quantile([0.25, 0.5, 0.75])
        assert (got[label].q1, got[label].median, got[label].q3) == (q1, median, q3)
        assert (got[label].min, got[label].max, got[label].n) == (s.min(), s.max(), len(s))
        assert got[label].mean == pytest.approx(s.mean(), rel=1e-13)
        assert got[label].std == pytest.approx(s.std(), rel=1e-12)
        fence_lo, fence_hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
        assert got[label].whislo == s[s >= fence_lo].min()
        assert got[label].whishi == s[s <= fence_hi].max()


def test_unknown_test_is_rejected():
    from exam_pipeline.core.validate import PipelineInputError

    with pytest.raises(PipelineInputError, match="welch"):
        ttest(A, B, "paired")


def test_counted_values_give_the_same_summary_as_plain_ones():
    """Whole points kept as (value, count) pairs, as the stream counts them: the same summary."""
    from exam_pipeline.core.summary import CAP, Counted, summarize_arrays, summarize_chunk

    rng = np.random.default_rng(3)
    plain = {"A": rng.integers(0, 101, 20_001).astype(float), "B": np.full(CAP + 5, 7.0)}
    plain["B"][:3] = [1.0, 2.0, 9.0]  # one value more often than a bin may hold: no refinement
    counted = {}
    for label, values in plain.items():
        distinct, counts = np.unique(values, return_counts=True)
        counted[label] = Counted(distinct, counts)
    want, got = summarize_arrays(plain), summarize_chunk(counted)
    for label in plain:
        for field in ("n", "median", "q1", "q3", "min", "max", "whislo", "whishi"):
            assert getattr(got[label], field) == getattr(want[label], field), (label, field)
        assert got[label].mean == pytest.approx(want[label].mean, rel=1e-13)
        assert got[label].std == pytest.approx(want[label].std, rel=1e-12)
