"""The spark engine on a real standalone master and worker on loopback (``make test-landscape``).

Like the Dask scheduler test: the test starts ``spark-class ...deploy.master.Master`` and
``...deploy.worker.Worker`` on 127.0.0.1 (free ports, no web UIs), runs ``--engine spark
--scheduler spark://...`` in a subprocess, compares the figures with pandas, and stops both
servers, checking that nothing is left running. Slow (two JVMs and the driver's, about a
minute): it runs with EXAM_LANDSCAPE_SLOW=1, which ``make test-landscape`` sets and CI runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from exam_pipeline import engines
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import generate_scores
from exam_pipeline.core.report import read_report
from exam_pipeline.engines.base import install_hint
from exam_pipeline.engines.pipeline import run_pipeline
from support.processes import NEW_GROUP, free_port, log_tail, still_alive, stop, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.landscape,
    pytest.mark.skipif(
        "spark" not in engines.available(),
        reason=f"--engine spark needs {', '.join(engines.missing('spark'))}: "
        f"{install_hint(engines.ENGINES['spark'])}",
    ),
    pytest.mark.skipif(
        not os.environ.get("EXAM_LANDSCAPE_SLOW"), reason="slow: EXAM_LANDSCAPE_SLOW=1"
    ),
]


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def test_spark_engine_on_a_standalone_cluster(tmp_path, run_cli):
    csv = generate_scores(tmp_path / "messy.csv", rows=20_000, seed=7, effect=1.5)
    conf = tmp_path / "conf"
    conf.mkdir()
    from exam_pipeline.engines.spark_engine import LOG4J2

    # The servers log at INFO into their own files: the test waits for the worker's line.
    (conf / "log4j2.properties").write_text(LOG4J2.replace("error", "info"), encoding="utf-8")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_CONF_DIR": str(conf),
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
        "SPARK_WORKER_DIR": str(tmp_path / "work"),
        "SPARK_LOCAL_DIRS": str(tmp_path / "local"),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }
    java_tmp = f"-Djava.io.tmpdir={tmp_path}"
    master_port = free_port()
    master_cmd = [
        str(spark_class()), "org.apache.spark.deploy.master.Master",
        "--host", "127.0.0.1", "--port", str(master_port), "--webui-port", str(free_port()),
    ]  # fmt: skip
    worker_cmd = [
        str(spark_class()), "org.apache.spark.deploy.worker.Worker",
        f"spark://127.0.0.1:{master_port}", "--host", "127.0.0.1", "--cores", "2",
        "--memory", "1g", "--webui-port", str(free_port()), "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("master", "worker")}
    procs = []
    try:
        master = subprocess.Popen(
            master_cmd, env={**env, "SPARK_MASTER_OPTS": java_tmp}, stdout=logs["master"],
            stderr=subprocess.STDOUT, **NEW_GROUP,
        )  # fmt: skip
        procs.append(master)
        wait_until(
            lambda: _listening(master_port),
            "the Spark master",
            timeout=90,
            process=master,
            log=tmp_path / "master.log",
        )
        worker = subprocess.Popen(
            worker_cmd, env={**env, "SPARK_WORKER_OPTS": java_tmp}, stdout=logs["worker"],
            stderr=subprocess.STDOUT, **NEW_GROUP,
        )  # fmt: skip
        procs.append(worker)
        wait_until(
            lambda: "Successfully registered with master" in (tmp_path / "worker.log").read_text(),
            "the Spark worker to register",
            timeout=90,
            process=worker,
            log=tmp_path / "worker.log",
        )
        out = tmp_path / "out"
        code, stdout, stderr = run_cli(
            "run", "--engine", "spark", "--scheduler", f"spark://127.0.0.1:{master_port}",
            "--input", csv, "--out", out, "--db", "none",
        )  # fmt: skip
        assert (code, stderr) == (0, ""), (stderr, log_tail(tmp_path / "worker.log"))
        assert "Engine: spark." in stdout
        got = read_report(out / "report.json")
        want = run_pipeline(RunConfig(input=csv, out=tmp_path / "pandas", db="none"))
        for key in ("t", "df", "p", "rows_read", "rows_dropped"):
            assert got[key] == pytest.approx(want[key], rel=1e-9), key
        for label, group in want["groups"].items():
            assert got["groups"][label] == pytest.approx(group, rel=1e-9), label
        assert (out / "rejected.csv").read_bytes() == (
            tmp_path / "pandas" / "rejected.csv"
        ).read_bytes()
        assert "app-" in "".join(p.name for p in (tmp_path / "work").iterdir()), (
            "the worker ran no application: the run did not use the cluster"
        )
    finally:
        pids = {p.pid for p in procs}
        for proc in procs:
            pids |= {child.pid for child in psutil.Process(proc.pid).children(recursive=True)}
        for proc in reversed(procs):
            stop(proc, group=True)
        for handle in logs.values():
            handle.close()
    assert still_alive(pids) == set()


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_an_unreachable_master_is_one_line(run_cli, tmp_path):
    """Spark itself would retry for about a minute; the engine checks the port first."""
    code, stdout, stderr = run_cli(
        "run", "--engine", "spark", "--scheduler", f"spark://127.0.0.1:{free_port()}",
        "--out", tmp_path / "out", "--db", "none",
    )  # fmt: skip
    assert code == 2 and stdout == ""
    assert stderr.startswith("exam-pipeline: error: --scheduler spark://127.0.0.1:")
    assert "could not connect to a Spark master" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_no_spark_scratch_is_left_behind():
    import tempfile

    assert shutil.which("java") or os.environ.get("JAVA_HOME")
    leftovers = [p for p in Path(tempfile.gettempdir()).glob("spark-*") if p.is_dir()]
    assert not [p for p in leftovers if p.stat().st_uid == os.getuid() and _recent(p)], leftovers


def _recent(path: Path) -> bool:
    import time

    return time.time() - path.stat().st_mtime < 600
