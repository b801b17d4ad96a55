"""The ``dask`` engine: the same analysis with dask.dataframe, on a local or a remote Dask cluster.

The CSV is read in partitions (blocks of lines). Each partition is cleaned by the shared
``clean_scores`` on a worker, and its cleaned numbers stay there (as futures). Then every pass of
``exam_pipeline.core.summary`` is a map over the partitions, each answering with a fixed-size partial
summary (n, mean and m2, a histogram, a few values), and a reduce on the client that merges them:
the client never holds the file, nor one value per row, so the work spreads over a cluster's
memory as well as its cores. The figures are those of every other engine, to the bit for the
median and quartiles.

With ``config.scheduler`` set, the run uses that cluster (``tcp://host:8786``): every worker
must be able to read ``--input`` at the same path and import ``exam_pipeline``. Without it, the
run starts a private ``LocalCluster`` on 127.0.0.1 (free ports only) and shuts it down before
returning, so nothing is left running. Worker processes are started with "spawn": a script that
calls this engine needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import codecs
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster

from exam_pipeline.core.analysis import Analysis, compare
from exam_pipeline.core.clean import (
    REJECTED_COLUMNS,
    CleanedPart,
    clean_part,
    clean_scores,
    drop_reasons,
)
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import CsvFormat, inspect_csv, read_csv_options
from exam_pipeline.core.data import csv_errors as data_csv_errors
from exam_pipeline.core.summary import Chunk
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.base import Hooks
from exam_pipeline.engines.streaming import Scan, summarize_spilled

#: How long to wait for a remote scheduler to answer (a distributed time string).
CONNECT_TIMEOUT = "10s"

#: Partition size bounds: big enough that per-task overhead stays small, small enough to spread.
#: 8 MB of CSV is about 400 k rows, about 80 MB while a worker cleans them: at 64 MB two threads
#: cleaning at once held more memory than the pandas engine's whole file at 4 M rows.
MIN_BLOCKSIZE = 4 * 2**20
MAX_BLOCKSIZE = 8 * 2**20

#: Files at least this big get worker processes; smaller ones run on threads in this process.
#: Processes sidestep the GIL but take seconds to start and stop, and every partition is pickled
#: to them: at 51 MB they took twice as long as threads (benchmarks/RESULTS.md, lesson 08).
#: Where exactly they start to pay is a judgement; the benchmark did not go that far.
PROCESS_THRESHOLD_BYTES = 256 * 2**20

#: Partitions per worker thread we aim for (a few, so a slow one does not hold up the rest).
PARTITIONS_PER_THREAD = 2


def choose_blocksize(size_bytes: int, threads: int) -> int:
    """Bytes per partition: a couple of partitions per worker thread, within sane bounds.

    Dask's default (64 MiB) would put a 50 MB file in one partition, on one core; far smaller
    blocks make thousands of tiny tasks whose scheduling costs more than their work.
    """
    wanted = math.ceil(size_bytes / max(1, threads * PARTITIONS_PER_THREAD))
    return int(min(MAX_BLOCKSIZE, max(MIN_BLOCKSIZE, wanted)))


def read_partitions(
    path: Path, fmt: CsvFormat, group_col: str, value_col: str, blocksize: int
) -> dd.DataFrame:
    """A lazy dask DataFrame of the two columns as untouched text (nothing is read yet).

    A UTF-16 file is one partition: its two-byte line ends cannot be split at a byte offset.
    """
    return dd.read_csv(
        str(path),
        blocksize=None if fmt.encoding == "utf-16" else blocksize,
        **read_csv_options(fmt, [group_col, value_col]),
    )


def clean_partition(
    part: pd.DataFrame, group_col: str, value_col: str, decimal: str
) -> CleanedPart:
    """Clean one partition; keep its numbers per group, its dropped rows and its labels.

    Lines in the rejected table count from 0 within the partition; ``combine_rejected`` shifts them.
    """
    return clean_part(part.reset_index(drop=True), group_col, value_col, decimal, first_line=0)


def summarize_partition(part: pd.DataFrame, group_col: str, value_col: str, decimal: str) -> Scan:
    """Lesson 08's map step: one partition cleaned and shrunk to a fixed-size :class:`Scan`.

    Enough for the t-test (n, mean and m2 per group); the engine's exact median and quartiles
    need the cleaned numbers once more, so the engine keeps them on the workers instead.
    """
    cleaned = clean_scores(part.reset_index(drop=True), group_col, value_col, decimal, first_line=0)
    return Scan.of(cleaned, group_col, value_col)


def partition_head(part: CleanedPart) -> tuple[int, tuple[str, ...], pd.DataFrame]:
    """What the client needs of a cleaned partition: rows read, labels, dropped rows."""
    return part.rows_read, part.labels, part.rejected


def apply_pass(f: Callable[[Chunk], dict[str, Any]], part: CleanedPart) -> dict[str, Any]:
    """One pass of the summary on one partition, run where the partition lives."""
    return f(part.values)


def combine_rejected(
    heads: Iterable[tuple[int, tuple[str, ...], pd.DataFrame]], first_line: int = 2
) -> pd.DataFrame:
    """The partitions' dropped rows as one table, each with its line in the file."""
    rejected: list[pd.DataFrame] = []
    offset = first_line
    for rows_read, _, part_rejected in heads:
        rejected.append(part_rejected.assign(line=part_rejected["line"] + offset))
        offset += rows_read
    if not rejected:
        return pd.DataFrame(columns=list(REJECTED_COLUMNS))
    return pd.concat(rejected, ignore_index=True)


@contextmanager
def quiet_logger(name: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise ``name``'s log level for the block, then restore it.

    ``silence_logs`` only quiets distributed's own console handler; once another library has
    set up logging (Prefect does, on its first flow run), the cluster's INFO lines would reach
    that library's handler instead and land in a command's output.
    """
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def connect(scheduler: str) -> Client:
    """A Client of the scheduler at ``scheduler``, or one line saying why there is none."""
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, ValueError, TypeError) as exc:
        raise PipelineInputError(
            f"--scheduler {scheduler}: could not connect to a Dask scheduler ({exc})"
        ) from None


@contextmanager
def dask_client(scheduler: str | None = None, processes: bool = False) -> Iterator[Client]:
    """A Client to ``scheduler``, or to a private LocalCluster on 127.0.0.1 that is closed on exit.

    The local cluster listens on loopback only, on free ports (port 0) for the scheduler and its
    HTTP server/dashboard, so two runs never fight over an address; closing it stops its workers.
    """
    if scheduler:
        with connect(scheduler) as client:
            yield client
        return
    # Threads talk in-process (no sockets at all); worker processes use TCP on loopback.
    network = {"host": "127.0.0.1", "scheduler_port": 0} if processes else {}
    with (
        quiet_logger("distributed", logging.CRITICAL),  # as silence_logs, whoever logs it
        LocalCluster(
            processes=processes,
            dashboard_address="127.0.0.1:0",  # None would still bind the HTTP server to :8787
            # Nobody watches a private cluster: no dashboard, so bokeh (0.8 s to import) stays out.
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.CRITICAL,  # a failed task is reported once, by us, as one line
            **network,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def total_threads(client: Client) -> int:
    """Worker threads the cluster has right now (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def first_bad_utf8(path: Path, chunk: int = 2**20) -> int:
    """The file offset of the first byte that is not UTF-8 (-1 if none); only run on the error path."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return offset + exc.start - len(decoder.getstate()[0])
            offset += len(block)
    return -1


@contextmanager
def csv_errors(source: Path) -> Iterator[None]:
    """Turn a parser's complaint about the file (on the client or on a worker) into one line."""
    try:
        # A worker's decode error knows the offset in its block only: find it in the file.
        with data_csv_errors(source, bad_offset=lambda _: first_bad_utf8(source)):
            yield
    except FileNotFoundError:
        raise PipelineInputError(
            f"{source}: a Dask worker cannot open this file; every worker must see it at the same path"
        ) from None


def clean_on_cluster(client: Client, ddf: dd.DataFrame, config: RunConfig, decimal: str) -> list:
    """Futures of every cleaned partition: they are computed, and stay, on the workers."""
    clean = dask.delayed(clean_partition, pure=True)
    tasks = [clean(part, config.group_col, config.value_col, decimal) for part in ddf.to_delayed()]
    return client.compute(tasks)


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """The ``dask`` engine (``Engine.analyze``): clean and summarise on a Dask cluster."""
    fmt = inspect_csv(config.source, (config.group_col, config.value_col), config.encoding)
    processes = config.source.stat().st_size >= PROCESS_THRESHOLD_BYTES
    with dask_client(config.scheduler, processes=processes) as client:
        blocksize = choose_blocksize(config.source.stat().st_size, total_threads(client))
        with csv_errors(config.source):
            ddf = read_partitions(
                config.source.resolve(), fmt, config.group_col, config.value_col, blocksize
            )
            parts = clean_on_cluster(client, ddf, config, fmt.decimal)
            heads = client.gather(client.map(partition_head, parts))

        def run_pass(f: Callable[[Chunk], dict[str, Any]]) -> list[dict[str, Any]]:
            return client.gather(client.map(apply_pass, [f] * len(parts), parts, pure=False))

        labels = {label for _, part_labels, _ in heads for label in part_labels}
        summaries = summarize_spilled(run_pass, labels, config)
    rejected = combine_rejected(heads)
    return Analysis(
        summaries=summaries,
        ttest=compare(summaries, config.test, config.value_col, str(config.source)),
        rows_read=sum(h[0] for h in heads),
        rejected=rejected,
        rows_dropped=len(rejected),
        drop_reasons=drop_reasons(rejected),
        labels=tuple(sorted(labels)),
    )
