"""The ``spark`` engine: the analysis on Apache Spark (PySpark), ``local[N]`` or a standalone cluster.

The driver reads the file with the course's own reader (so every separator, decimal comma and
encoding reads as in the other engines) and cuts it into slices; Spark ships each slice to an
executor, which cleans it with the shared ``clean_scores`` (rows rejected for the same reasons,
each with its line in the file) and keeps the cleaned numbers there (a cached RDD). Every pass of
``exam_pipeline.core.summary`` is then a map over those partitions and a merge on the driver,
as in the ``dask`` engine: the median and quartiles are exact, the same to the bit as pandas.

Without ``--scheduler`` the run uses ``local[N]`` (N = the cores, at most 4); with
``--scheduler spark://host:7077`` it uses that standalone master, whose workers must have this
package and the same Python installed.

Quiet and local by construction: ``SPARK_LOCAL_IP=127.0.0.1``, the driver bound to 127.0.0.1,
no web UI, log4j at ERROR through a ``SPARK_CONF_DIR`` of our own, and every ``spark-*`` scratch
folder (and the JVM's temporary folder) in one ``exam-spark-<pid>-*`` folder under the system's
temporary folder, removed when the process exits; one left by a process that was killed is
removed by the next run. The JVM starts once per process (5-15 s) and is reused by later runs.

Needs ``pip install -e ".[spark]"`` and a Java runtime (Debian: ``openjdk-17-jre-headless``).
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import socket
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from exam_pipeline.core.analysis import Analysis, compare
from exam_pipeline.core.clean import (
    REJECTED_COLUMNS,
    CleanedPart,
    clean_part,
    drop_reasons,
)
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import read_scores
from exam_pipeline.core.summary import Chunk
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.base import Hooks

#: log4j2 settings: only errors, on stderr (Spark's default prints INFO and WARN lines).
LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %c: %m%n
logger.spark.name = org.apache.spark
logger.spark.level = error
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
"""

# PySpark 4.3 warns on import that it "does not yet fully support pandas >= 3.0.0". This engine
# ships pickled pandas frames to Python workers and never converts between pandas and Spark.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

#: Prefix of the one temporary folder a process's Spark writes into.
SCRATCH_PREFIX = "exam-spark-"

#: Rows per slice sent to an executor: enough that Spark's per-task cost stays small.
ROWS_PER_SLICE = 200_000

#: Seconds to wait for a standalone master to accept a TCP connection.
CONNECT_TIMEOUT = 5.0


def local_master() -> str:
    """``local[N]`` with N the cores of this machine, at most 4."""
    return f"local[{max(1, min(4, os.cpu_count() or 1))}]"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_scratch(tmp: Path | None = None) -> list[Path]:
    """Remove ``exam-spark-<pid>-*`` folders whose process is gone (a killed kernel's)."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            pid = int(folder.name[len(SCRATCH_PREFIX) :].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@dataclass
class _Jvm:
    """The process's one Spark JVM (py4j gateway) and the folder it writes into."""

    scratch: Path | None = None


_JVM = _Jvm()


def scratch_dir() -> Path:
    """This process's Spark folder (created on first use, removed at exit)."""
    if _JVM.scratch is None or not _JVM.scratch.is_dir():
        remove_stale_scratch()
        scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        (scratch / "conf").mkdir()
        (scratch / "conf" / "log4j2.properties").write_text(LOG4J2, encoding="utf-8")
        (scratch / "tmp").mkdir()
        _JVM.scratch = scratch
        atexit.register(shutdown)
    return _JVM.scratch


def shutdown() -> None:
    """Stop the JVM this process started, and remove its scratch folder."""
    try:
        from pyspark import SparkContext

        if SparkContext._active_spark_context is not None:
            SparkContext._active_spark_context.stop()
        gateway = SparkContext._gateway
        if gateway is not None:
            proc = getattr(gateway, "proc", None)
            gateway.shutdown()
            if proc is not None:
                proc.stdin.close()  # the JVM's PythonGatewayServer exits when stdin closes
                try:
                    proc.wait(timeout=20)
                except Exception:
                    proc.kill()
            SparkContext._gateway = None
            SparkContext._jvm = None
    except ImportError:
        pass
    if _JVM.scratch is not None:
        shutil.rmtree(_JVM.scratch, ignore_errors=True)
        _JVM.scratch = None


def spark_environment(scratch: Path) -> dict[str, str]:
    """The variables the JVM (and the Python workers it starts) must see when it starts."""
    return {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_CONF_DIR": str(scratch / "conf"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        # Spark's launcher scripts read this; without it they look for a home folder's ivy cache.
        "SPARK_LOCAL_DIRS": str(scratch / "tmp"),
    }


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send file descriptor 2 to ``path`` for the block (the JVM inherits it while it starts).

    A notebook kernel forwards its fd 2 into the cell's output, and the JVM's start-up lines
    (module warnings, native library notes) vary from run to run.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as sink:
        os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def require_master(master: str) -> None:
    """A ``spark://host:port`` master must accept a TCP connection, or one line says so.

    Spark itself would retry for about a minute before giving up.
    """
    if not master.startswith("spark://"):
        if master.startswith("local"):
            return
        raise PipelineInputError(
            f"--scheduler {master}: not a Spark master URL (expected spark://host:port)"
        )
    parts = urlsplit(master)
    host, port = parts.hostname or "", parts.port or 7077
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise PipelineInputError(
            f"--scheduler {master}: could not connect to a Spark master ({exc})"
        ) from None


@contextmanager
def spark_session(master: str | None = None, app_name: str = "exam-scores") -> Iterator[Any]:
    """A SparkSession on ``master`` (default ``local[N]``), quiet and on loopback.

    A local session stays up for the next run in this process (a new one costs seconds; the
    JVM's start 5-15 s); one on a cluster is stopped after the run, so it does not hold the
    cluster's executors. ``shutdown()`` (at exit) stops everything.
    """
    master = master or local_master()
    require_master(master)
    scratch = scratch_dir()
    os.environ.update(spark_environment(scratch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the pandas 3 warning, see above
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

    active = SparkContext._active_spark_context
    if active is not None and active.master != master:
        active.stop()
    java_opts = f"-Djava.io.tmpdir={scratch / 'tmp'}"
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.local.dir", str(scratch / "tmp"))
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.executor.extraJavaOptions", java_opts)
        .config("spark.pyspark.python", sys.executable)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.eventLog.enabled", "false")
    )
    with _stderr_to(scratch / "jvm-start.log"):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        if not master.startswith("local"):
            spark.stop()


def clean_slice(raw: pd.DataFrame, group_col: str, value_col: str, decimal: str) -> CleanedPart:
    """Clean one slice with the course's rules; its index is the row number in the file.

    ``clean_scores`` numbers rejected rows from the frame's index, so each keeps its file line.
    """
    return clean_part(raw, group_col, value_col, decimal, first_line=2)


def slices(raw: pd.DataFrame, rows: int = ROWS_PER_SLICE, at_least: int = 2) -> list[pd.DataFrame]:
    """Consecutive slices of ``raw`` (index kept), at least ``at_least`` when there are rows."""
    count = max(at_least, math.ceil(len(raw) / rows)) if len(raw) else 1
    size = max(1, math.ceil(len(raw) / count))
    return [raw.iloc[i : i + size] for i in range(0, max(len(raw), 1), size)]


def analyze_spark(config: RunConfig, spark: Any) -> Analysis:
    """Clean and summarise on ``spark``: the Analysis the run path publishes."""
    from exam_pipeline.engines.streaming import summarize_spilled

    raw, fmt = read_scores(
        config.source, config.group_col, config.value_col, encoding=config.encoding
    )
    raw = raw.reset_index(drop=True)
    group_col, value_col, decimal = config.group_col, config.value_col, fmt.decimal
    pieces = slices(raw, at_least=spark.sparkContext.defaultParallelism)
    parts = (
        spark.sparkContext.parallelize(pieces, len(pieces))
        .map(lambda piece: clean_slice(piece, group_col, value_col, decimal))
        .cache()
    )
    try:
        heads = parts.map(lambda p: (p.rows_read, p.labels, p.rejected)).collect()

        def run_pass(f: Callable[[Chunk], dict[str, Any]]) -> list[dict[str, Any]]:
            return parts.map(lambda p: f(p.values)).collect()

        labels = {label for _, part_labels, _ in heads for label in part_labels}
        summaries = summarize_spilled(run_pass, labels, config)
    finally:
        parts.unpersist()
    frames = [rejected for _, _, rejected in heads if len(rejected)]
    rejected = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(REJECTED_COLUMNS))
    )
    return Analysis(
        summaries=summaries,
        ttest=compare(summaries, config.test, config.value_col, str(config.source)),
        rows_read=sum(h[0] for h in heads),
        rejected=rejected,
        rows_dropped=len(rejected),
        drop_reasons=drop_reasons(rejected),
        labels=tuple(sorted(labels)),
    )


def run_analysis(config: RunConfig, hooks: Hooks) -> Analysis:
    """The analysis on ``config.scheduler`` (a ``spark://`` master) or ``local[N]``."""
    with spark_session(config.scheduler) as spark:
        return analyze_spark(config, spark)
