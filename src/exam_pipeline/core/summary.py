"""A group's summary from chunks of its values, in fixed memory: the one definition every engine uses.

A summary is built in a few passes over the cleaned values of each group, and every pass only
ever holds a fixed-size partial result per chunk, which merges with the next chunk's:

1. the extent: n, min and max (they merge by adding and comparing);
2. the moments: the mean and the sum of squared deviations ``m2``, merged with Chan et al.'s
   parallel formula (Welford's update, one chunk at a time), and a histogram of ``BINS`` bins;
3. the exact order statistics that the median and quartiles need: the histogram says which bin
   holds each of them; the values of those bins (at most ``CAP`` each) are collected and sorted,
   or, when a bin is too full, a finer histogram of that bin is made in another pass;
4. the box-plot whiskers: the lowest and highest values inside Tukey's fences.

A chunk is whatever an engine has at hand: the whole column (``pandas``), a block of rows read
from disk (``stream``) or a partition on a Dask worker (``dask``). ``run_pass(f)`` applies ``f`` to
every chunk and returns the partial results; the merge is here, so all engines merge alike. The
order statistics are exact, so every engine reports the same median and quartiles to the bit;
the moments agree to about 1e-13 whatever the chunking, because each chunk's deviations are
taken from the group's minimum (the same shift in every engine) and then from the chunk mean.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from exam_pipeline.core.validate import PipelineInputError

#: Bins of the histogram that locates the order statistics (three arrays of this size a group).
BINS = 4096
#: The most values held at once to sort one bin; a fuller bin gets a finer histogram instead.
CAP = 1 << 16
#: The quantiles a summary reports (the box and its median).
QUANTILES: tuple[float, float, float] = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Counted:
    """A group's values as distinct values and how often each occurs (a compressed chunk).

    The stream keeps scores this way while they repeat (whole points take about a hundred
    values); every summary below accepts either form and gives the same result.
    """

    values: np.ndarray
    counts: np.ndarray


#: One group's values in a chunk: plain, or counted.
Values = np.ndarray | Counted
#: The values of each group in one chunk, by label.
Chunk = Mapping[str, Values]


def unpack(values: Values) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, how many times each; None when each occurs once)."""
    if isinstance(values, Counted):
        return values.values, values.counts
    return values, None


#: Apply a function to every chunk of the data and return the results (one per chunk).
RunPass = Callable[[Callable[[Chunk], dict[str, Any]]], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class Extent:
    """How many values a group has, and the smallest and largest."""

    n: int = 0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, values: Values) -> Extent:
        v, w = unpack(values)
        if len(v) == 0:
            return cls()
        return cls(len(v) if w is None else int(w.sum()), float(v.min()), float(v.max()))

    def merge(self, other: Extent) -> Extent:
        return Extent(self.n + other.n, min(self.min, other.min), max(self.max, other.max))


def chan_merge(
    n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float
) -> tuple[int, float, float]:
    """(n, mean, m2) of two parts together: Chan, Golub and LeVeque's pairwise update.

    Exact in algebra and stable in floats; the one merge of running statistics in the package.
    """
    if n_b == 0:
        return n_a, mean_a, m2_a
    if n_a == 0:
        return n_b, mean_b, m2_b
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


@dataclass(frozen=True)
class Moments:
    """Mean and sum of squared deviations (``m2``) of values taken relative to ``shift``.

    Subtracting a value of the data (the group's minimum) first keeps the deviations small,
    so a group such as 1e12 + a few points keeps its variance exact to many digits.
    """

    shift: float
    n: int = 0
    dmean: float = 0.0  # mean of (value - shift)
    m2: float = 0.0

    @classmethod
    def of(cls, values: Values, shift: float) -> Moments:
        v, w = unpack(values)
        if len(v) == 0:
            return cls(shift)
        d = v - shift
        if w is None:
            dmean = float(d.mean())
            return cls(shift, len(v), dmean, float(np.square(d - dmean).sum()))
        n = int(w.sum())
        dmean = float((w * d).sum() / n)
        return cls(shift, n, dmean, float((w * np.square(d - dmean)).sum()))

    def merge(self, other: Moments) -> Moments:
        n, dmean, m2 = chan_merge(self.n, self.dmean, self.m2, other.n, other.dmean, other.m2)
        return Moments(self.shift, n, dmean, m2)

    @property
    def mean(self) -> float:
        return self.shift + self.dmean

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1, as pandas' ``.var()``)."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan


@dataclass(frozen=True)
class Histogram:
    """Counts of the values in ``[lo, hi]`` in ``BINS`` equal bins, with each bin's min and max.

    Knowing each bin's smallest and largest value lets the next pass look only at the values
    actually there, and tells when a full bin holds one value many times (nothing to refine).
    """

    lo: float
    hi: float
    counts: np.ndarray = field(repr=False)
    mins: np.ndarray = field(repr=False)
    maxs: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, values: Values, lo: float, hi: float) -> Histogram:
        counts = np.zeros(BINS, np.int64)
        mins = np.full(BINS, math.inf)
        maxs = np.full(BINS, -math.inf)
        v, w = unpack(values)
        mask = (v >= lo) & (v <= hi)
        if w is None:
            inside = np.sort(v[mask])
        else:
            order = np.argsort(v[mask], kind="stable")
            inside, weights = v[mask][order], w[mask][order]
        if len(inside):
            bins, starts, sizes = np.unique(
                bin_index(inside, lo, hi), return_index=True, return_counts=True
            )
            counts[bins] = sizes if w is None else np.add.reduceat(weights, starts)
            mins[bins] = inside[starts]
            maxs[bins] = inside[starts + sizes - 1]
        return cls(lo, hi, counts, mins, maxs)

    def merge(self, other: Histogram) -> Histogram:
        return Histogram(
            self.lo,
            self.hi,
            self.counts + other.counts,
            np.minimum(self.mins, other.mins),
            np.maximum(self.maxs, other.maxs),
        )


def bin_index(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The bin of each value in ``[lo, hi]``: the same arithmetic in every engine, so counts add."""
    if hi <= lo:
        return np.zeros(len(values), np.int64)
    index = np.floor((values - lo) / (hi - lo) * BINS).astype(np.int64)
    return np.clip(index, 0, BINS - 1)


@dataclass(frozen=True)
class Collected:
    """The sorted values of a group that fall in ``[lo, hi]``, with how often each occurs.

    ``counts`` is None while every value stands for one row.
    """

    lo: float
    hi: float
    values: np.ndarray = field(repr=False)
    counts: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, values: Values, lo: float, hi: float) -> Collected:
        v, w = unpack(values)
        mask = (v >= lo) & (v <= hi)
        if w is None:
            return cls(lo, hi, np.sort(v[mask]))
        order = np.argsort(v[mask], kind="stable")
        return cls(lo, hi, v[mask][order], w[mask][order])

    def merge(self, other: Collected) -> Collected:
        values = np.concatenate([self.values, other.values])
        if self.counts is None and other.counts is None:
            return Collected(self.lo, self.hi, np.sort(values))
        counts = np.concatenate([self._counts(), other._counts()])
        order = np.argsort(values, kind="stable")
        return Collected(self.lo, self.hi, values[order], counts[order])

    def _counts(self) -> np.ndarray:
        return np.ones(len(self.values), np.int64) if self.counts is None else self.counts

    def value_at(self, rank: int) -> float:
        """The value of the ``rank``-th smallest row here (0-based)."""
        if self.counts is None:
            return float(self.values[rank])
        return float(self.values[np.searchsorted(np.cumsum(self.counts), rank, side="right")])


@dataclass(frozen=True)
class Whiskers:
    """The lowest value at or above ``lo`` and the highest at or below ``hi`` (Tukey's fences)."""

    lo: float
    hi: float
    low: float = math.inf
    high: float = -math.inf

    @classmethod
    def of(cls, values: Values, lo: float, hi: float) -> Whiskers:
        v, _ = unpack(values)
        above, below = v[v >= lo], v[v <= hi]
        return cls(
            lo,
            hi,
            float(above.min()) if len(above) else math.inf,
            float(below.max()) if len(below) else -math.inf,
        )

    def merge(self, other: Whiskers) -> Whiskers:
        return Whiskers(self.lo, self.hi, min(self.low, other.low), max(self.high, other.high))


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

    @property
    def variance(self) -> float:
        return self.std * self.std

    def to_report(self) -> dict[str, float | int]:
        """The keys report.json keeps for a group."""
        return {key: getattr(self, key) for key in ("n", "mean", "std", "median", "min", "max")}


# -- the passes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Several:
    """Several partial results of one group made in the same pass, merged side by side."""

    parts: tuple[Any, ...]

    @classmethod
    def of(cls, values: Values, makers: tuple[Callable[[Values], Any], ...]) -> Several:
        return cls(tuple(make(values) for make in makers))

    def merge(self, other: Several) -> Several:
        return Several(tuple(a.merge(b) for a, b in zip(self.parts, other.parts, strict=True)))


Maker = Callable[[Values], Any]


def _per_group(makers: Mapping[str, Maker], chunk: Chunk) -> dict[str, Any]:
    """What each group's maker makes of this chunk (a group the chunk lacks gives nothing)."""
    return {label: make(chunk[label]) for label, make in makers.items() if label in chunk}


def run_merged(run_pass: RunPass, makers: Mapping[str, Maker]) -> dict[str, Any]:
    """One pass: every chunk makes a partial result per group; they merge per group.

    ``makers`` must pickle (a Dask worker runs them): partials of top-level callables do.
    """
    merged: dict[str, Any] = {label: make(np.empty(0)) for label, make in makers.items()}
    for result in run_pass(partial(_per_group, dict(makers))):
        for label, part in result.items():
            merged[label] = merged[label].merge(part)
    return merged


def extents(run_pass: RunPass, labels: Sequence[str]) -> dict[str, Extent]:
    """Pass 1: n, min and max of each group."""
    return run_merged(run_pass, {label: Extent.of for label in labels})


def order_ranks(n: int) -> list[int]:
    """The 0-based ranks whose values the quantiles interpolate between (numpy's 'linear')."""
    ranks: set[int] = set()
    for q in QUANTILES:
        pos = (n - 1) * q
        ranks |= {math.floor(pos), math.ceil(pos)}
    return sorted(ranks)


def interpolate(order: Mapping[int, float], n: int, q: float) -> float:
    """The q-quantile from the order statistics around it, as numpy and pandas interpolate."""
    pos = (n - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    frac = pos - lo
    a, b = order[lo], order[hi]
    return a + (b - a) * frac if frac < 0.5 else b - (b - a) * (1 - frac)


@dataclass
class _Window:
    """Where one wanted rank is known to lie: a histogram of values, ``below`` of them smaller."""

    histogram: Histogram
    below: int


def order_statistics(
    run_pass: RunPass, ext: Mapping[str, Extent], first: Mapping[str, Histogram]
) -> dict[str, dict[int, float]]:
    """The exact values at the ranks the quartiles need, for each group, in as few passes as it takes.

    ``first`` is each group's histogram over its whole range (made in pass 2, with the moments).
    Each further pass either sorts the few values of the bins that hold a wanted rank, or, for a
    bin with more than ``CAP`` values, makes a finer histogram of it. A bin whose smallest and
    largest values are equal needs no pass at all.
    """
    found: dict[str, dict[int, float]] = {label: {} for label in ext}
    pending = {
        (label, rank): _Window(first[label], 0)
        for label in ext
        for rank in order_ranks(ext[label].n)
    }
    while pending:
        wanted: dict[str, dict[tuple[str, float, float], Maker]] = {}
        plan: dict[tuple[str, int], tuple[str, float, float, int]] = {}
        for (label, rank), window in pending.items():
            h = window.histogram
            cum = np.cumsum(h.counts)
            b = int(np.searchsorted(cum, rank - window.below, side="right"))
            below = window.below + (int(cum[b - 1]) if b else 0)
            lo, hi = float(h.mins[b]), float(h.maxs[b])
            if lo == hi:
                found[label][rank] = lo
                continue
            kind = "collect" if h.counts[b] <= CAP else "refine"
            maker = Collected.of if kind == "collect" else Histogram.of
            wanted.setdefault(label, {})[(kind, lo, hi)] = partial(maker, lo=lo, hi=hi)
            plan[(label, rank)] = (kind, lo, hi, below)
        if not plan:
            break
        keys = {label: tuple(makers) for label, makers in wanted.items()}
        results = run_merged(
            run_pass,
            {
                label: partial(Several.of, makers=tuple(makers.values()))
                for label, makers in wanted.items()
            },
        )
        pending = {}
        for (label, rank), (kind, lo, hi, below) in plan.items():
            part = results[label].parts[keys[label].index((kind, lo, hi))]
            if kind == "collect":
                found[label][rank] = part.value_at(rank - below)
            else:
                pending[(label, rank)] = _Window(part, below)
    return found


@dataclass(frozen=True)
class Spread:
    """Pass 2's partial result: the moments and the histogram of one group."""

    moments: Moments
    histogram: Histogram

    @classmethod
    def of(cls, values: Values, extent: Extent) -> Spread:
        return cls(Moments.of(values, extent.min), Histogram.of(values, extent.min, extent.max))

    def merge(self, other: Spread) -> Spread:
        return Spread(self.moments.merge(other.moments), self.histogram.merge(other.histogram))


#: The largest n * (max - min)**2 a summary accepts: every sum of squares stays finite below it.
MAX_SQUARES = sys.float_info.max / 8


def require_finite_squares(
    ext: Mapping[str, Extent], value_col: str = "Score", source: str = "input"
) -> None:
    """Refuse values so far apart that their squared deviations would overflow a float.

    Decided from n, min and max alone, which every engine computes exactly, so every engine
    refuses the same files; and checked before any square is taken, so nothing overflows.
    """
    low = min(e.min for e in ext.values())
    high = max(e.max for e in ext.values())
    n = sum(e.n for e in ext.values())
    span = high - low
    if not math.isfinite(span) or n * span * span > MAX_SQUARES:
        raise PipelineInputError(
            f"{source}: the {value_col!r} values run from {low:g} to {high:g}, too far apart "
            "to square and add in 64-bit floating point; rescale them (for example to other units)"
        )


def summarize(
    run_pass: RunPass, ext: Mapping[str, Extent], value_col: str = "Score", source: str = "input"
) -> dict[str, GroupSummary]:
    """Passes 2 to 4: moments, exact quartiles and whiskers of each group (``ext`` from pass 1).

    Every group needs at least one value; the callers check the sizes first.
    """
    require_finite_squares(ext, value_col, source)
    spread = run_merged(run_pass, {g: partial(Spread.of, extent=e) for g, e in ext.items()})
    order = order_statistics(run_pass, ext, {g: s.histogram for g, s in spread.items()})
    quartiles = {g: [interpolate(order[g], e.n, q) for q in QUANTILES] for g, e in ext.items()}
    # Tukey's fences come from the exact quartiles, so the whiskers need a pass of their own.
    whiskers = run_merged(
        run_pass,
        {
            g: partial(Whiskers.of, lo=q1 - 1.5 * (q3 - q1), hi=q3 + 1.5 * (q3 - q1))
            for g, (q1, _, q3) in quartiles.items()
        },
    )
    summaries = {}
    for g, e in ext.items():
        moments = spread[g].moments
        # A group whose values are all equal has no spread at all, not a rounding error's worth.
        variance = 0.0 if e.min == e.max else moments.variance
        summaries[g] = GroupSummary(
            n=e.n,
            mean=e.min if e.min == e.max else moments.mean,
            std=math.sqrt(variance) if e.n > 1 else math.nan,
            median=quartiles[g][1],
            min=e.min,
            max=e.max,
            q1=quartiles[g][0],
            q3=quartiles[g][2],
            whislo=whiskers[g].low,
            whishi=whiskers[g].high,
        )
    return summaries


def summarize_chunk(
    chunk: Chunk, value_col: str = "Score", source: str = "input"
) -> dict[str, GroupSummary]:
    """Summaries of groups held in memory (plain or counted): the passes over one chunk."""

    def run_pass(f: Callable[[Chunk], dict[str, Any]]) -> list[dict[str, Any]]:
        return [f(chunk)]

    return summarize(run_pass, extents(run_pass, list(chunk)), value_col, source)


def summarize_arrays(
    groups: Mapping[str, Any], value_col: str = "Score", source: str = "input"
) -> dict[str, GroupSummary]:
    """Summaries of groups held in memory: the same passes over one chunk (the pandas engine)."""
    chunk = {label: np.asarray(values, dtype=float) for label, values in groups.items()}
    return summarize_chunk(chunk, value_col, source)
