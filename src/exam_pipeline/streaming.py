"""The ``stream`` engine: read a CSV row by row and never hold the whole file (lesson 02).

Lesson 02 builds these pieces by hand: a generator of rows, per-row cleaning with the same
rules and reasons as :mod:`exam_pipeline.clean`, running statistics (Welford), and a t-test
from summary statistics. :func:`run_stream` is the finished engine. Its hot loop is written
out inline on purpose: a chain of generators pays for one Python call per row and per stage,
which costs more than the parsing itself (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import csv
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .analysis import GroupSummary, TTestResult, summarize_counts, ttest_from_summaries
from .clean import REJECTED_COLUMNS, clean_scores
from .config import RunConfig
from .data import CsvFormat, csv_errors, inspect_csv, read_csv_options
from .validate import PipelineInputError, require_group_sizes, require_two_groups

#: Fields ``pandas.read_csv`` turns into NaN by default (its ``STR_NA_VALUES``), so a stream
#: reads "n/a" or "NULL" exactly as the pandas engine does: as a *missing* value, not as junk.
NA_TOKENS: frozenset[str] = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip

#: Distinct rejected (group, score) pairs remembered; beyond this each one is re-checked, so
#: memory stays bounded even if every row of a file is a different kind of junk.
BAD_CACHE_LIMIT = 10_000

#: One raw row: (file line, group text or None, score text or None).
RawRow = tuple[int, "str | None", "str | None"]


@dataclass(frozen=True)
class CleanRow:
    """One row after cleaning: a numeric ``score``, or a ``reason`` why the row is dropped."""

    line: int
    group: str
    score: float | None
    text: str
    reason: str | None


# -- per-row rules (the same as clean.clean_scores, one value at a time) ------------------


def parse_score(text: str, decimal: str = ".") -> float | None:
    """The number in ``text``, or None: what ``pd.to_numeric(errors="coerce")`` would say.

    ``float()`` alone is more lenient than pandas: it accepts "1_000", "nan" and non-ASCII
    digits, which pandas treats as not a number.
    """
    if decimal != ".":
        text = text.replace(decimal, ".")
    if not text.isascii() or "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _missing(value: str | None) -> bool:
    return value is None or value in NA_TOKENS


def clean_fields(
    group: str | None, text: str | None, decimal: str = "."
) -> tuple[str, float | None, str, str | None]:
    """(group, score, score text, reason) for one row, with the reasons of ``clean_scores``.

    ``None`` or a pandas NA token (``"n/a"``, ``""``) counts as missing. The checks run in the
    order of :data:`exam_pipeline.clean.REASONS`; the first that applies is the reason.
    """
    label = "" if _missing(group) else group.strip()  # type: ignore[union-attr]
    raw = "" if _missing(text) else text.strip()  # type: ignore[union-attr]
    if not label:
        return "", None, raw, "missing group"
    if not raw:
        return label, None, raw, "missing score"
    score = parse_score(raw, decimal)
    if score is None:
        return label, None, raw, "non-numeric score"
    return label, score, raw, None


# -- the teaching pieces: generators that compose --------------------------------------


def read_rows(
    path: str | Path, fmt: CsvFormat, group_col: str = "Class", value_col: str = "Score"
) -> Iterator[RawRow]:
    """Yield (line, group, score) for each data row, lazily: one row in memory at a time.

    Blank lines are skipped (as ``read_csv`` does); a short row gives None for what is missing.
    """
    gi, vi = fmt.columns.index(group_col), fmt.columns.index(value_col)
    with _open_csv(path) as handle, _reading(path):
        reader = csv.reader(handle, delimiter=fmt.sep, skipinitialspace=True)
        next(reader, None)  # the header, already checked by inspect_csv
        for row in reader:
            if not row or row == [""]:
                continue
            group = row[gi] if gi < len(row) else None
            text = row[vi] if vi < len(row) else None
            yield reader.line_num, group, text


def clean_rows(rows: Iterable[RawRow], decimal: str = ".") -> Iterator[CleanRow]:
    """Clean each raw row as it passes (kept and dropped rows alike, so nothing is lost)."""
    for line, group, text in rows:
        label, score, raw, reason = clean_fields(group, text, decimal)
        yield CleanRow(line, label, score, raw, reason)


@dataclass
class RunningStats:
    """Welford's online mean and variance: one pass, O(1) memory, numerically stable.

    The naive ``sum(x*x) - n*mean**2`` subtracts two huge, nearly equal numbers and loses
    digits; Welford updates the mean and the sum of squared deviations (``m2``) instead.
    """

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def merge(self, other: RunningStats) -> RunningStats:
        """Combine two partial results (Chan et al.), e.g. from two chunks or two processes."""
        n = self.n + other.n
        if n == 0:
            return RunningStats()
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta**2 * self.n * other.n / n
        return RunningStats(n, mean, m2)

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1, as pandas ``.var()``); NaN below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


# -- the engine's scan: the same rules, written as one tight loop -------------------------


@dataclass
class Scan:
    """What one pass over a file leaves behind: value counts per group, never the rows."""

    counts: dict[str, dict[float, int]] = field(default_factory=dict)
    #: Every group seen, even one whose scores were all junk (reported as "has 0 valid values").
    labels: set[str] = field(default_factory=set)
    rows_read: int = 0
    rows_dropped: int = 0


RejectSink = Callable[[tuple[Any, ...]], Any]


def scan_counts(
    path: str | Path,
    fmt: CsvFormat,
    group_col: str = "Class",
    value_col: str = "Score",
    on_reject: RejectSink | None = None,
) -> Scan:
    """Count each (group, value) in one pass; hand every dropped row to ``on_reject``.

    The loop does two dict operations per row and calls no Python function: a row is keyed
    by its raw (group, score) text, and each distinct key is cleaned only once. Scores take
    few distinct values, so the dicts stay small however long the file is.
    """
    gi, vi = fmt.columns.index(group_col), fmt.columns.index(value_col)
    pick = itemgetter(gi, vi)
    good: dict[tuple[str | None, str | None], int] = {}
    bad: dict[tuple[str | None, str | None], tuple[str, str, str]] = {}
    labels: set[str] = set()
    dropped = 0
    with _open_csv(path) as handle, _reading(path):
        reader = csv.reader(handle, delimiter=fmt.sep, skipinitialspace=True)
        next(reader, None)
        for row in reader:
            try:
                key = pick(row)
            except IndexError:  # a blank line or a short row: rare, so handled off the fast path
                if not row or row == [""]:
                    continue
                key = (row[gi] if gi < len(row) else None, row[vi] if vi < len(row) else None)
            if key in good:
                good[key] += 1
                continue
            verdict = bad.get(key)
            if verdict is None:
                label, _, raw, reason = clean_fields(*key, decimal=fmt.decimal)
                if label:
                    labels.add(label)
                if reason is None:
                    good[key] = 1
                    continue
                verdict = (label, raw, reason)
                if len(bad) < BAD_CACHE_LIMIT:
                    bad[key] = verdict
            dropped += 1
            if on_reject is not None:
                on_reject((reader.line_num, *verdict))
    counts: dict[str, dict[float, int]] = {}
    for (group, text), n in good.items():
        label, score, _, _ = clean_fields(group, text, fmt.decimal)
        per_group = counts.setdefault(label, {})
        per_group[score] = per_group.get(score, 0) + n  # type: ignore[index]
    return Scan(counts, labels, sum(good.values()) + dropped, dropped)


def scan_file(path: str | Path, group_col: str = "Class", value_col: str = "Score") -> Scan:
    """Scan one file (format detected). Importable, so a process pool can run it (lesson 02)."""
    fmt = inspect_csv(path, (group_col, value_col))
    return scan_counts(path, fmt, group_col, value_col)


def merge_scans(scans: Iterable[Scan]) -> Scan:
    """Add up scans of several files or shards: counts simply add (the reduce of map-reduce)."""
    total = Scan()
    for scan in scans:
        for label, values in scan.counts.items():
            per_group = total.counts.setdefault(label, {})
            for value, n in values.items():
                per_group[value] = per_group.get(value, 0) + n
        total.labels |= scan.labels
        total.rows_read += scan.rows_read
        total.rows_dropped += scan.rows_dropped
    return total


def analyze_scan(
    scan: Scan,
    test: str = "welch",
    group_col: str = "Class",
    value_col: str = "Score",
    source: str = "input",
) -> tuple[dict[str, GroupSummary], TTestResult]:
    """Per-group summaries and the t-test from counts, with the checks of ``split_groups``."""
    first, second = require_two_groups(scan.labels, group_col, source)
    sizes = {label: sum(scan.counts.get(label, {}).values()) for label in (first, second)}
    require_group_sizes(sizes, value_col, source)
    summaries = {label: summarize_counts(scan.counts[label]) for label in (first, second)}
    return summaries, ttest_from_summaries(summaries[first], summaries[second], test)


def scan_chunks(
    path: str | Path,
    fmt: CsvFormat,
    group_col: str = "Class",
    value_col: str = "Score",
    chunksize: int = 100_000,
    on_reject: Callable[[Iterable[tuple[Any, ...]]], Any] | None = None,
) -> Scan:
    """Chunked pandas: ``read_csv(chunksize=...)``, ``clean_scores`` per chunk, keep only counts.

    Memory grows with the chunk size, not the file; each chunk is vectorised pandas work.
    """
    scan = Scan()
    options = read_csv_options(fmt, [group_col, value_col])
    with csv_errors(path), pd.read_csv(path, chunksize=chunksize, **options) as chunks:
        for chunk in chunks:  # the index runs on across chunks, so line numbers stay right
            cleaned = clean_scores(chunk, group_col, value_col, decimal=fmt.decimal)
            part = Scan(rows_read=cleaned.rows_read, rows_dropped=cleaned.rows_dropped)
            labels = chunk[group_col].dropna().astype(str).str.strip()
            part.labels = set(labels[labels != ""])
            for (label, value), n in cleaned.frame.value_counts([group_col, value_col]).items():
                part.counts.setdefault(label, {})[value] = int(n)
            scan = merge_scans([scan, part])
            if on_reject is not None:
                on_reject(cleaned.rejected.itertuples(index=False, name=None))
    return scan


Scanner = Callable[[CsvFormat, Any], Scan]


def _run_one_pass(config: RunConfig, scanner: Scanner) -> dict[str, Any]:
    """Scan once while rejected rows go to a temp file in --out; then publish the counts."""
    # Imported here: publishing pulls in Matplotlib and SQLAlchemy, which the process-pool
    # workers that import this module only to scan files (lesson 02) never need.
    from .outputs import publish

    config = config.checked()
    source = config.source
    fmt = inspect_csv(source, (config.group_col, config.value_col))
    out = Path(config.out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".rejected.", suffix=".tmp", dir=out)
    tmp = Path(name)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(REJECTED_COLUMNS)
            scan = scanner(fmt, writer)
        summaries, result = analyze_scan(
            scan, config.test, config.group_col, config.value_col, str(source)
        )
        return publish(config, summaries, result, scan.rows_read, tmp, scan.rows_dropped)
    finally:
        tmp.unlink(missing_ok=True)  # already moved into place on success
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed run leaves no trace in --out


def run_stream(config: RunConfig) -> dict[str, Any]:
    """The ``stream`` engine: one pass, constant memory; rejected rows go to disk as they come."""

    def scanner(fmt: CsvFormat, writer: Any) -> Scan:
        return scan_counts(config.source, fmt, config.group_col, config.value_col, writer.writerow)

    return _run_one_pass(config, scanner)


def run_chunks(config: RunConfig, chunksize: int = 100_000) -> dict[str, Any]:
    """The same run with chunked pandas (lesson 02 and the benchmark compare it with ``stream``)."""

    def scanner(fmt: CsvFormat, writer: Any) -> Scan:
        return scan_chunks(
            config.source, fmt, config.group_col, config.value_col, chunksize, writer.writerows
        )

    return _run_one_pass(config, scanner)


# -- small helpers -----------------------------------------------------------------------


def _open_csv(path: str | Path) -> TextIO:
    return open(path, encoding="utf-8-sig", newline="")


@contextmanager
def _reading(path: str | Path) -> Iterator[None]:
    """Turn decoding and CSV errors met mid-stream into one clear PipelineInputError.

    Wrapped around the whole loop, not each row, so it costs nothing per row.
    """
    try:
        yield
    except UnicodeDecodeError as exc:
        raise PipelineInputError(
            f"{path}: is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise PipelineInputError(f"{path}: is not a well-formed CSV file ({exc})") from None
