"""The ``dask`` engine: the same analysis with dask.dataframe, on a local or a remote Dask cluster.

The CSV is read in partitions (blocks of lines). Each partition is cleaned by the shared
``clean_scores`` and shrunk, inside its own task, to what the report needs: its row count, the
value counts of each group, and the rows it dropped. Only those small pieces travel back to the
client, so the client never holds the file; the statistics come from ``summarize_counts`` and
``ttest_from_summaries``, as in the streaming engine.

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
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster

from .analysis import GroupSummary, summarize_counts, ttest_from_summaries
from .clean import REJECTED_COLUMNS, clean_scores
from .config import RunConfig
from .data import CsvFormat, inspect_csv
from .outputs import publish
from .validate import PipelineInputError, require_group_sizes, require_two_groups

#: How long to wait for a remote scheduler to answer (a distributed time string).
CONNECT_TIMEOUT = "10s"

#: Partition size bounds: big enough that per-task overhead stays small, small enough to spread.
MIN_BLOCKSIZE = 4 * 2**20
MAX_BLOCKSIZE = 64 * 2**20

#: Files at least this big get worker processes; smaller ones run on threads in this process.
#: Processes sidestep the GIL but take seconds to start and stop; below this size that costs more
#: than it saves (benchmarks/RESULTS.md).
PROCESS_THRESHOLD_BYTES = 256 * 2**20

#: Partitions per worker thread we aim for (a few, so a slow one does not hold up the rest).
PARTITIONS_PER_THREAD = 2

#: What one partition sends back: rows read, counts per (group, score), rejected rows.
PartitionSummary = tuple[int, pd.Series, pd.DataFrame]


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
    """A lazy dask DataFrame of the two columns as untouched text (nothing is read yet)."""
    return dd.read_csv(
        str(path),
        sep=fmt.sep,
        usecols=[group_col, value_col],
        dtype=str,
        encoding="utf-8-sig",
        skipinitialspace=True,
        blocksize=blocksize,
    )


def summarize_partition(
    part: pd.DataFrame, group_col: str, value_col: str, decimal: str
) -> PartitionSummary:
    """Clean one partition and keep only its size, its value counts per group and its dropped rows.

    Lines in the rejected table count from 0 within the partition; ``combine`` shifts them.
    """
    result = clean_scores(part.reset_index(drop=True), group_col, value_col, decimal, first_line=0)
    counts = result.frame.groupby([group_col, value_col], sort=False).size()
    return result.rows_read, counts, result.rejected


def combine(
    parts: Iterable[PartitionSummary], first_line: int = 2
) -> tuple[int, pd.Series, pd.DataFrame]:
    """Add up the partition summaries in file order; give rejected rows their line in the file."""
    offset = first_line
    counts: list[pd.Series] = []
    rejected: list[pd.DataFrame] = []
    for rows, part_counts, part_rejected in parts:
        counts.append(part_counts)
        rejected.append(part_rejected.assign(line=part_rejected["line"] + offset))
        offset += rows
    total = pd.concat(counts).groupby(level=[0, 1]).sum() if counts else pd.Series(dtype=int)
    table = (
        pd.concat(rejected, ignore_index=True)
        if rejected
        else pd.DataFrame(columns=list(REJECTED_COLUMNS))
    )
    return offset - first_line, total, table


def group_summaries(
    counts: pd.Series, rejected: pd.DataFrame, config: RunConfig
) -> dict[str, GroupSummary]:
    """Per-group summaries from the value counts, after the same checks the other engines make.

    The labels include groups seen only in dropped rows, so a group whose every score was junk
    is reported as "has 0 valid values" rather than silently missing.
    """
    by_group: dict[str, Counter[float]] = {}
    for (label, value), n in counts.items():
        by_group.setdefault(str(label), Counter())[float(value)] += int(n)
    labels = set(by_group) | {str(g) for g in rejected["group"] if str(g) != ""}
    source = str(config.source)
    pair = require_two_groups(labels, config.group_col, source)
    require_group_sizes(
        {label: sum(by_group.get(label, {}).values()) for label in pair}, config.value_col, source
    )
    return {label: summarize_counts(by_group[label]) for label in pair}


@contextmanager
def dask_client(scheduler: str | None = None, processes: bool = False) -> Iterator[Client]:
    """A Client to ``scheduler``, or to a private LocalCluster on 127.0.0.1 that is closed on exit.

    The local cluster listens on loopback only, on free ports (port 0) for the scheduler and its
    HTTP server/dashboard, so two runs never fight over an address; closing it stops its workers.
    """
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, ValueError, TypeError) as exc:
            raise PipelineInputError(
                f"--scheduler {scheduler}: could not connect to a Dask scheduler ({exc})"
            ) from None
        with client:
            yield client
        return
    # Threads talk in-process (no sockets at all); worker processes use TCP on loopback.
    network = {"host": "127.0.0.1", "scheduler_port": 0} if processes else {}
    with (
        LocalCluster(
            processes=processes,
            dashboard_address="127.0.0.1:0",  # None would still bind the HTTP server to :8787
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
        yield
    except UnicodeDecodeError:
        raise PipelineInputError(
            f"{source}: is not UTF-8 text (bad byte at offset {first_bad_utf8(source)}); "
            "save it as UTF-8 CSV"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise PipelineInputError(f"{source}: is not a well-formed CSV file ({exc})") from None
    except FileNotFoundError:
        raise PipelineInputError(
            f"{source}: a Dask worker cannot open this file; every worker must see it at the same path"
        ) from None


def compute_summaries(
    client: Client, ddf: dd.DataFrame, config: RunConfig, decimal: str
) -> list[PartitionSummary]:
    """One graph: read, clean and summarise every partition on the cluster; gather the summaries."""
    summarize = dask.delayed(summarize_partition, pure=True)
    tasks = [
        summarize(part, config.group_col, config.value_col, decimal) for part in ddf.to_delayed()
    ]
    return client.gather(client.compute(tasks))


def run_dask(config: RunConfig) -> dict[str, Any]:
    """Run the analysis on a Dask cluster and write the outputs; return the report."""
    config = config.checked()
    fmt = inspect_csv(config.source, (config.group_col, config.value_col))
    processes = config.source.stat().st_size >= PROCESS_THRESHOLD_BYTES
    with dask_client(config.scheduler, processes=processes) as client:
        blocksize = choose_blocksize(config.source.stat().st_size, total_threads(client))
        with csv_errors(config.source):
            ddf = read_partitions(
                config.source.resolve(), fmt, config.group_col, config.value_col, blocksize
            )
            parts = compute_summaries(client, ddf, config, fmt.decimal)
    rows_read, counts, rejected = combine(parts)
    summaries = group_summaries(counts, rejected, config)
    first, second = summaries.values()
    result = ttest_from_summaries(first, second, config.test)
    return publish(config, summaries, result, rows_read, rejected)
