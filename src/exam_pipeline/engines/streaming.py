"""The ``stream`` engine: read a CSV a block of rows at a time and never hold the whole file.

Lesson 02 builds the pieces by hand: a generator of rows (:func:`read_rows`), per-row cleaning
with the rules of :func:`exam_pipeline.core.clean.clean_scores` (:func:`clean_rows`), and running
statistics that merge (:class:`RunningStats`, Welford's update and Chan's merge). A t-test needs
only n, mean and variance per group, so one pass in O(1) memory is enough for it (:class:`Scan`).

The engine, :func:`run_stream`, does the same a block of rows at a time (pandas' chunked reader and
the shared ``clean_scores``: a Python call per row costs more than the parsing), sends rejected
rows to disk as they come, and writes each group's cleaned numbers to a temporary binary file.
The median and quartiles need a second look at the values: ``exam_pipeline.core.summary`` takes
them from that file in a few passes with fixed-size histograms, so they are exact and memory stays
flat however many rows there are and however many distinct values they have.
"""

from __future__ import annotations

import csv
import math
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np
import pandas as pd

from exam_pipeline.core.analysis import Analysis, GroupSummary, TTestResult, compare
from exam_pipeline.core.clean import (
    NA_TOKENS,
    NAN_WORD,
    REASONS,
    REJECTED_COLUMNS,
    CleanResult,
    clean_scores,
)
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import (
    CsvFormat,
    csv_errors,
    encoding_name,
    inspect_csv,
    read_csv_options,
)
from exam_pipeline.core.report import Report
from exam_pipeline.core.summary import Chunk, Counted, Extent, chan_merge, extents, summarize
from exam_pipeline.core.validate import PipelineInputError, require_group_sizes, require_two_groups
from exam_pipeline.engines.base import Hooks

#: Rows the engine reads, cleans and forgets at a time (a few MB of text).
CHUNK_ROWS = 50_000
#: Distinct (group, score) texts the counting loop keeps before it gives up (see count_scores).
COUNT_LIMIT = 10_000
#: Values read back from a group's temporary file at a time (1 MB).
BLOCK_VALUES = 1 << 17

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

    ``float()`` alone is more lenient than pandas: it accepts "1_000" and non-ASCII digits,
    which pandas treats as not a number. "inf" is a number to both; "nan" is None here.
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


def clean_fields(
    group: str | None, text: str | None, decimal: str = "."
) -> tuple[str, float | None, str, str | None]:
    """(group, score, score text, reason) for one row, with the reasons of ``clean_scores``.

    ``None`` or a pandas NA token (``"n/a"``, ``""``) counts as missing; "nan" and "inf" (any
    case, any sign) are not finite numbers. The checks run in the order of
    :data:`exam_pipeline.core.clean.REASONS`; the first that applies is the reason.
    """
    label = "" if group is None or group.strip() in NA_TOKENS else group.strip()
    raw = "" if text is None else text.strip()
    nan_word = re.fullmatch(NAN_WORD, raw, re.IGNORECASE) is not None
    if not label:
        return "", None, raw, "missing group"
    if raw in NA_TOKENS and not nan_word:
        return label, None, raw, "missing score"
    score = parse_score(raw, decimal)
    if nan_word or (score is not None and not math.isfinite(score)):
        return label, None, raw, "not a finite number"
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
    with open(path, encoding=fmt.encoding, newline="") as handle, _reading(path):
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

    @classmethod
    def of(cls, values: np.ndarray) -> RunningStats:
        """The same three numbers for a whole block of values at once (numpy, two passes)."""
        if len(values) == 0:
            return cls()
        mean = float(values.mean())
        return cls(len(values), mean, float(np.square(values - mean).sum()))

    def merge(self, other: RunningStats) -> RunningStats:
        """Combine two partial results (Chan et al.), e.g. from two chunks or two processes."""
        return RunningStats(*chan_merge(self.n, self.mean, self.m2, other.n, other.mean, other.m2))

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1, as pandas ``.var()``); NaN below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


# -- one pass, fixed size: what a t-test needs -------------------------------------------------


@dataclass
class Scan:
    """What one pass over rows leaves behind: per group n, mean and m2, whatever the values."""

    stats: dict[str, RunningStats] = field(default_factory=dict)
    #: Every group seen, even one whose scores were all junk (reported as "has 0 valid values").
    labels: set[str] = field(default_factory=set)
    rows_read: int = 0
    rows_dropped: int = 0

    @classmethod
    def of(cls, cleaned: CleanResult, group_col: str = "Class", value_col: str = "Score") -> Scan:
        """The scan of one cleaned chunk: a few numbers per group, however long the chunk."""
        frame = cleaned.frame
        stats = {
            str(label): RunningStats.of(values.to_numpy(float))
            for label, values in frame.groupby(group_col, sort=True)[value_col]
        }
        return cls(stats, set(cleaned.labels), cleaned.rows_read, cleaned.rows_dropped)


def merge_scans(scans: Iterable[Scan]) -> Scan:
    """Add up scans of several chunks, files or partitions (the reduce of map-reduce)."""
    total = Scan()
    for scan in scans:
        for label, stats in scan.stats.items():
            total.stats[label] = total.stats.get(label, RunningStats()).merge(stats)
        total.labels |= scan.labels
        total.rows_read += scan.rows_read
        total.rows_dropped += scan.rows_dropped
    return total


def scan_file(
    path: str | Path,
    group_col: str = "Class",
    value_col: str = "Score",
    chunksize: int = CHUNK_ROWS,
) -> Scan:
    """Scan one file a chunk at a time. Importable, so a process pool can run it (lesson 03)."""
    fmt = inspect_csv(path, (group_col, value_col))
    return merge_scans(
        Scan.of(cleaned, group_col, value_col)
        for cleaned in clean_chunks(path, fmt, group_col, value_col, chunksize)
    )


def ttest_from_scan(
    scan: Scan, test: str = "welch", group_col: str = "Class", value_col: str = "Score"
) -> TTestResult:
    """The t-test from a scan's n, mean and variance per group (the median needs more passes)."""
    first, second = require_two_groups(scan.labels, group_col, "input")
    sizes = {label: scan.stats.get(label, RunningStats()).n for label in (first, second)}
    require_group_sizes(sizes, value_col, "input")
    summaries = {
        label: GroupSummary(
            n=s.n,
            mean=s.mean,
            std=s.std,
            median=math.nan,
            min=math.nan,
            max=math.nan,
            q1=math.nan,
            q3=math.nan,
            whislo=math.nan,
            whishi=math.nan,
        )  # fmt: skip
        for label, s in ((label, scan.stats[label]) for label in (first, second))
    }
    return compare(summaries, test, value_col)


# -- the engine -------------------------------------------------------------------------------


def clean_chunks(
    path: str | Path,
    fmt: CsvFormat,
    group_col: str = "Class",
    value_col: str = "Score",
    chunksize: int = CHUNK_ROWS,
) -> Iterator[CleanResult]:
    """``read_csv(chunksize=...)`` and ``clean_scores`` on each chunk, lazily.

    The chunks share one running index, so rejected rows keep the line numbers of the file.
    """
    options = read_csv_options(fmt, [group_col, value_col])
    with csv_errors(path), pd.read_csv(path, chunksize=chunksize, **options) as chunks:
        for chunk in chunks:
            yield clean_scores(chunk, group_col, value_col, decimal=fmt.decimal)


class Spill:
    """Each group's cleaned numbers in a temporary binary file (8 bytes a value), read back in blocks.

    Only the first two groups are kept: a file with more is refused once it has been read.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, Path] = {}
        self._handles: dict[str, BinaryIO] = {}
        self._stack = ExitStack()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def add(self, cleaned: CleanResult, group_col: str, value_col: str) -> None:
        """Append a cleaned chunk's scores to their groups' files."""
        frame = cleaned.frame
        for label, values in frame.groupby(group_col, sort=False)[value_col]:
            label = str(label)
            if label not in self._handles:
                if len(self._handles) == 2:
                    continue
                self.files[label] = self.folder / f"group-{len(self.files)}.f8"
                self._handles[label] = self._stack.enter_context(self.files[label].open("wb"))
            values.to_numpy(np.float64).tofile(self._handles[label])

    def close(self) -> None:
        self._stack.close()

    def run_pass(self, f: Callable[[Chunk], dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``f`` of every block: block i of each group's file (``exam_pipeline.core.summary``'s passes)."""
        with ExitStack() as stack:
            handles = {label: stack.enter_context(p.open("rb")) for label, p in self.files.items()}
            while handles:
                chunk = {}
                for label, handle in list(handles.items()):
                    # read() then frombuffer: only what is there is allocated, not a full block
                    block = np.frombuffer(handle.read(BLOCK_VALUES * 8), np.float64)
                    if len(block):
                        chunk[label] = block
                    else:
                        del handles[label]
                if chunk:
                    yield f(chunk)


class RejectedRows:
    """``rejected.csv`` written as the dropped rows come, one at a time or a table at a time.

    It can start over: the stream gives up counting repeated scores on a file whose scores do
    not repeat, and reads it again in chunks.
    """

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.writer = csv.writer(handle, lineterminator="\n")
        self.writer.writerow(REJECTED_COLUMNS)
        #: How many rows were written for each reason (for the run's metrics).
        self.reasons: Counter[str] = Counter()

    def row(self, row: tuple[Any, ...]) -> None:
        self.writer.writerow(row)
        self.reasons[row[-1]] += 1

    def table(self, rejected: pd.DataFrame) -> None:
        self.writer.writerows(rejected.itertuples(index=False, name=None))
        self.reasons.update(rejected["reason"].tolist())

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.writer.writerow(REJECTED_COLUMNS)
        self.reasons.clear()

    def drop_reasons(self) -> dict[str, int]:
        """Rows written per reason, in the order of ``clean.REASONS``."""
        return {reason: self.reasons[reason] for reason in REASONS if self.reasons[reason]}


@dataclass
class Counts:
    """One pass of the counting loop: how often each score occurs per group, and the rest."""

    chunk: dict[str, Counted]
    labels: set[str]
    rows_read: int
    rows_dropped: int


def count_scores(
    path: str | Path,
    fmt: CsvFormat,
    group_col: str = "Class",
    value_col: str = "Score",
    on_reject: Callable[[tuple[Any, ...]], Any] | None = None,
    limit: int | None = None,
) -> Counts | None:
    """Count each distinct (group, score) text in one pass; None past ``limit`` (COUNT_LIMIT).

    Whole-point scores repeat, so a dict of a few hundred counts holds the whole file and the
    loop does two dict operations per row, each distinct text cleaned once (``clean_fields``,
    the rules of ``clean_scores``). Scores with decimals rarely repeat: past ``limit`` distinct
    texts the loop gives up, so memory stays bounded whatever the values. Rejected rows get
    the line numbers the pandas reader gives (blank lines are not counted), like every engine.
    """
    limit = COUNT_LIMIT if limit is None else limit
    gi, vi = fmt.columns.index(group_col), fmt.columns.index(value_col)
    pick = itemgetter(gi, vi)
    good: dict[tuple[str | None, str | None], int] = {}
    bad: dict[tuple[str | None, str | None], tuple[str, str, str]] = {}
    labels: set[str] = set()
    dropped = blank = 0
    index = -1
    with open(path, encoding=fmt.encoding, newline="") as handle, _reading(path):
        reader = csv.reader(handle, delimiter=fmt.sep, skipinitialspace=True)
        next(reader, None)
        for index, row in enumerate(reader):
            try:
                key = pick(row)
            except IndexError:  # a blank line or a short row: rare, so off the fast path
                if not row or row == [""]:
                    blank += 1
                    continue
                key = (row[gi] if gi < len(row) else None, row[vi] if vi < len(row) else None)
            if key in good:
                good[key] += 1
                continue
            verdict = bad.get(key)
            if verdict is None:
                label, _, raw, reason = clean_fields(key[0], key[1], fmt.decimal)
                if label:
                    labels.add(label)
                if reason is None:
                    if len(good) >= limit:
                        return None
                    good[key] = 1
                    continue
                verdict = (label, raw, reason)
                if len(bad) < limit:
                    bad[key] = verdict
            dropped += 1
            if on_reject is not None:
                on_reject((index - blank + 2, *verdict))
    per_group: dict[str, dict[float, int]] = {}
    for (group, text), n in good.items():
        label, score, _, _ = clean_fields(group, text, fmt.decimal)
        if score is None:  # cannot happen: only rows that cleaned to a number are counted
            continue
        counts = per_group.setdefault(label, {})
        counts[score] = counts.get(score, 0) + n
    chunk = {
        label: Counted(np.fromiter(c, float, len(c)), np.fromiter(c.values(), np.int64, len(c)))
        for label, c in per_group.items()
    }
    return Counts(chunk, labels, index + 1 - blank, dropped)


def stream_summaries(
    config: RunConfig, rejected: RejectedRows | None = None, chunksize: int | None = None
) -> tuple[dict[str, GroupSummary], TTestResult, int, int]:
    """Summaries, the t-test, rows read and rows dropped, in fixed memory; rejects to ``rejected``."""
    found = stream_analysis(config, rejected, chunksize)
    return dict(found.summaries), found.ttest, found.rows_read, found.rows_dropped


def stream_analysis(
    config: RunConfig,
    rejected: RejectedRows | None = None,
    chunksize: int | None = None,
    rejected_path: Path | None = None,
) -> Analysis:
    """The stream's Analysis, in fixed memory; rejected rows go to ``rejected`` as they come.

    First the counting loop (fast while scores repeat); on a file whose scores do not repeat,
    chunks, a temporary file of the cleaned numbers, and the summary passes over it.
    ``rejected_path`` is the file ``rejected`` writes to (the Analysis names it).
    """
    source = config.source
    cols = (config.group_col, config.value_col)
    fmt = inspect_csv(source, cols, config.encoding)
    counted = count_scores(source, fmt, *cols, on_reject=rejected.row if rejected else None)
    if counted is not None:
        chunk = counted.chunk
        summaries = summarize_spilled(lambda f: [f(chunk)], counted.labels, config)
        rows_read, rows_dropped, labels = counted.rows_read, counted.rows_dropped, counted.labels
    else:
        if rejected is not None:
            rejected.restart()
        summaries, rows_read, rows_dropped, labels = _summarize_chunks(
            config, fmt, rejected, chunksize or CHUNK_ROWS
        )
    result = compare(summaries, config.test, config.value_col, str(source))
    return Analysis(
        summaries=summaries,
        ttest=result,
        rows_read=rows_read,
        rejected=rejected_path if rejected_path is not None else pd.DataFrame(),
        rows_dropped=rows_dropped,
        drop_reasons=rejected.drop_reasons() if rejected is not None else {},
        labels=tuple(sorted(labels)),
    )


def _summarize_chunks(
    config: RunConfig, fmt: CsvFormat, rejected: RejectedRows | None, chunksize: int
) -> tuple[dict[str, GroupSummary], int, int, set[str]]:
    """Clean in chunks, spill the numbers to a temporary file, summarise them in passes."""
    rows_read = rows_dropped = 0
    labels: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="exam-stream-") as folder, Spill(Path(folder)) as spill:
        for cleaned in clean_chunks(
            config.source, fmt, config.group_col, config.value_col, chunksize
        ):
            rows_read += cleaned.rows_read
            rows_dropped += cleaned.rows_dropped
            labels.update(cleaned.labels)
            spill.add(cleaned, config.group_col, config.value_col)
            if rejected is not None:
                rejected.table(cleaned.rejected)
        spill.close()
        summaries = summarize_spilled(spill.run_pass, labels, config)
    return summaries, rows_read, rows_dropped, labels


def summarize_spilled(
    run_pass: Callable[[Callable[[Chunk], dict[str, Any]]], Iterable[dict[str, Any]]],
    labels: Iterable[str],
    config: RunConfig,
) -> dict[str, GroupSummary]:
    """The checks every engine makes (two groups, two values each), then the summary passes."""
    source = str(config.source)
    first, second = require_two_groups(labels, config.group_col, source)
    ext: Mapping[str, Extent] = extents(run_pass, [first, second])
    require_group_sizes({g: e.n for g, e in ext.items()}, config.value_col, source)
    return summarize(run_pass, ext, config.value_col, source)


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """The ``stream`` engine (``Engine.analyze``): fixed memory; rejected rows go to disk as they come.

    They go to a temporary file in ``--out`` (``.rejected.*.tmp``), which the Analysis names
    and publishing moves into place as rejected.csv; removed here if the run fails.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".rejected.", suffix=".tmp", dir=out)
    tmp = Path(name)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            return stream_analysis(config, RejectedRows(handle), rejected_path=tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_stream(config: RunConfig) -> Report:
    """Run the ``stream`` engine through the run path (lesson 02): the report."""
    from exam_pipeline import engines

    return engines.run(replace(config, engine="stream"))


# -- small helpers -----------------------------------------------------------------------


@contextmanager
def _reading(path: str | Path) -> Iterator[None]:
    """Turn decoding and CSV errors met mid-stream into one clear PipelineInputError.

    Wrapped around the whole loop, not each row, so it costs nothing per row.
    """
    try:
        yield
    except UnicodeDecodeError as exc:
        raise PipelineInputError(
            f"{path}: is not {encoding_name(exc.encoding)} text (bad byte at offset {exc.start}); "
            "save it as "
            "UTF-8 CSV, or name its encoding, e.g. --encoding cp1252"
        ) from None
    except csv.Error as exc:
        raise PipelineInputError(f"{path}: is not a well-formed CSV file ({exc})") from None
