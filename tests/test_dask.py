"""The dask engine: same figures as pandas, on a LocalCluster and on a hand-started scheduler + worker.

Every cluster a test starts is stopped by the test (also on failure), and the tests check that
no process is left behind. Clusters listen on 127.0.0.1 only, on free ports.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from exam_pipeline import engines
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import generate_scores, inspect_csv
from exam_pipeline.core.report import read_report
from exam_pipeline.engines.pipeline import run_pipeline
from support.processes import free_port, still_alive, stop, wait_until

FIGURES = ("t", "df", "p", "significant", "rows_read", "rows_dropped")


def live_children() -> set[int]:
    """PIDs of this process's descendants, except multiprocessing's resource tracker.

    The tracker is started once by the first spawned process and lives, idle, until this
    interpreter exits; it is not a worker and holds no port.
    """
    kids = psutil.Process().children(recursive=True)
    return {p.pid for p in kids if "resource_tracker" not in " ".join(_cmdline(p))}


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


@pytest.fixture
def dask_engine():
    """The engine module, imported by the tests that use it.

    Importing Dask takes about a second, and every pytest-xdist worker collects this file.
    """
    from exam_pipeline.engines import dask_engine

    return dask_engine


@pytest.fixture
def messy_csv(tmp_path: Path) -> Path:
    """A generated file with junk and blank scores: 20,000 rows, about 250 kB."""
    return generate_scores(tmp_path / "messy.csv", rows=20_000, seed=7, effect=1.5)


@pytest.fixture
def small_partitions(monkeypatch: pytest.MonkeyPatch, dask_engine) -> None:
    """Cut files into many small partitions, so line numbers must cross partition borders."""
    monkeypatch.setattr(dask_engine, "MIN_BLOCKSIZE", 2**14)
    monkeypatch.setattr(dask_engine, "PARTITIONS_PER_THREAD", 8)


def assert_same_as_pandas(csv: Path, dask_out: Path, tmp_path: Path, **options: str) -> None:
    """report.json figures and rejected.csv of the dask run equal those of the pandas engine."""
    pandas_out = tmp_path / "pandas_out"
    expected = run_pipeline(RunConfig(input=csv, out=pandas_out, db="none", **options))
    got = read_report(dask_out / "report.json")
    assert got["engine"] == "dask"
    for key in FIGURES:
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key
    for label, stats in expected["groups"].items():
        assert got["groups"][label] == pytest.approx(stats, rel=1e-9), label
    assert (dask_out / "rejected.csv").read_bytes() == (pandas_out / "rejected.csv").read_bytes()


# -- pure pieces -----------------------------------------------------------------------------


def test_blocksize_spreads_work_but_not_into_tiny_tasks(dask_engine):
    assert dask_engine.choose_blocksize(10, threads=2) == dask_engine.MIN_BLOCKSIZE
    assert dask_engine.choose_blocksize(10**11, threads=2) == dask_engine.MAX_BLOCKSIZE
    size = 20 * 2**20  # a couple of partitions per thread, within the bounds
    assert dask_engine.choose_blocksize(size, threads=2) == size // 4


def test_first_bad_utf8_finds_the_file_offset_across_chunks(dask_engine, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"Class,Score\n" + "A,é\n".encode() * 50 + b"A,\xff\n")
    expected = path.read_bytes().index(b"\xff")
    assert dask_engine.first_bad_utf8(path, chunk=7) == expected  # chunks split "é" too
    path.write_bytes("Class,Score\nA,é\n".encode())
    assert dask_engine.first_bad_utf8(path, chunk=3) == -1


def test_partitions_add_up_with_file_line_numbers(dask_engine, messy_csv, small_partitions):
    fmt = inspect_csv(messy_csv)
    blocksize = dask_engine.choose_blocksize(messy_csv.stat().st_size, threads=2)
    ddf = dask_engine.read_partitions(messy_csv, fmt, "Class", "Score", blocksize)
    assert ddf.npartitions >= 8
    parts = [
        dask_engine.clean_partition(p.compute(), "Class", "Score", ".") for p in ddf.to_delayed()
    ]
    heads = [dask_engine.partition_head(part) for part in parts]
    rejected = dask_engine.combine_rejected(heads)
    kept = sum(len(values) for part in parts for values in part.values.values())
    assert sum(h[0] for h in heads) == 20_000 and kept + len(rejected) == 20_000
    assert {label for h in heads for label in h[1]} == {"A", "B"}
    lines = messy_csv.read_text().splitlines()
    for line, group, score in zip(
        rejected["line"], rejected["group"], rejected["score"], strict=True
    ):
        _, file_group, file_score = lines[line - 1].split(",")  # line N of the file is lines[N - 1]
        assert file_group == group and not file_score.isdigit()
        assert score in ("", file_score)  # "" where read_csv reads the token as NA ("n/a")


# -- the engine on a LocalCluster ------------------------------------------------------------


def test_local_threads_cluster_matches_pandas(dask_engine, messy_csv, small_partitions, tmp_path):
    before = live_children()
    out = tmp_path / "dask_out"
    engines.run(RunConfig(input=messy_csv, out=out, engine="dask", db="none"))
    assert_same_as_pandas(messy_csv, out, tmp_path)
    assert still_alive(live_children() - before, timeout=30) == set()


def test_local_process_cluster_leaves_nothing_running(
    dask_engine, messy_csv, small_partitions, monkeypatch, tmp_path
):
    """Worker processes (spawned) give the same figures and are stopped on exit.

    Every address the cluster listens on is port 0 (a free one), so a second run cannot
    collide with the first; one run is enough, and a process cluster costs seconds.
    """
    monkeypatch.setattr(dask_engine, "PROCESS_THRESHOLD_BYTES", 0)
    before = live_children()
    out = tmp_path / "out"
    engines.run(RunConfig(input=messy_csv, out=out, engine="dask", db="none"))
    assert still_alive(live_children() - before, timeout=30) == set()
    assert_same_as_pandas(messy_csv, out, tmp_path)


def test_decimal_comma_and_custom_columns(dask_engine, write_csv, tmp_path):
    path = write_csv("\ufeffSection;Mark\nX;1,5\nX;2,5\nX;3\nY;7\nY;8,5\nY;junk\nY;9\n")
    options = {"group_col": "Section", "value_col": "Mark", "test": "student"}
    out = tmp_path / "dask_out"
    engines.run(RunConfig(input=path, out=out, engine="dask", db="none", **options))
    assert_same_as_pandas(path, out, tmp_path, **options)


# -- bad input: one line, exit 2, nothing written --------------------------------------------


def bad_utf8_far_in(tmp_path: Path) -> Path:
    """A file whose first bad byte sits far past the 64 kB the up-front check reads."""
    path = generate_scores(tmp_path / "late_bad.csv", rows=50_000, seed=1)
    data = path.read_bytes()
    cut = data.index(b"\n", 400_000) + 1
    path.write_bytes(data[:cut] + b"A,\xff\n" + data[cut:])
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Class,Points\nA,1\nB,2\n", "missing column 'Score'"),
        ("Class,Score\nA,1\nA,2\nB,1\nB,2\nC,3\n", "must hold exactly 2 groups"),
        ("Class,Score\nA,x\nA,y\nB,1\nB,2\n", "'A' has 0"),
        (None, "is not UTF-8 text (bad byte at offset "),
    ],
    ids=["missing-column", "three-groups", "no-valid-scores", "bad-byte-in-a-later-block"],
)
def test_bad_input_is_one_line_and_exit_2(
    run_cli, write_csv, small_partitions, tmp_path, content, message
):
    path = bad_utf8_far_in(tmp_path) if content is None else write_csv(content)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("run", "--engine", "dask", "--input", path, "--out", out)
    assert code == 2 and stdout == ""
    assert (
        stderr.count("\n") == 1
        and stderr.startswith("exam-pipeline: error: ")
        and message in stderr
    )
    assert "Traceback" not in stderr and not out.exists()
    if content is None:
        offset = path.read_bytes().index(b"\xff")
        assert f"offset {offset})" in stderr


def test_unreachable_scheduler_is_a_user_error(dask_engine, run_cli, monkeypatch, tmp_path):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "1s")
    address = f"tcp://127.0.0.1:{free_port()}"
    code, _, stderr = run_cli(
        "run", "--engine", "dask", "--scheduler", address, "--out", tmp_path / "out"
    )
    assert code == 2 and stderr.count("\n") == 1
    assert f"--scheduler {address}: could not connect to a Dask scheduler" in stderr
    assert not (tmp_path / "out").exists()


# -- the engine against a separately started `dask scheduler` + `dask worker` ----------------


def start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start ``python -m dask ARGS`` in ``cwd`` with its output in ``log``."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args], cwd=cwd, stdout=sink, stderr=subprocess.STDOUT
        )


def descendants(procs: list[subprocess.Popen]) -> set[int]:
    """PIDs of ``procs`` and every process they started (the nanny's worker, for one)."""
    pids = set()
    for proc in procs:
        try:
            parent = psutil.Process(proc.pid)
            pids |= {proc.pid} | {p.pid for p in parent.children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
    return pids


@pytest.fixture
def scheduler_and_worker(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and one ``dask worker`` (with its nanny) on loopback; yields the address.

    The worker runs in its own folder, as it would on another machine. Both stop at the end,
    also when the test fails; ``--idle-timeout`` and ``--death-timeout`` are a last safety net.
    """
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    workdir = tmp_path / "worker"
    workdir.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            start(
                [
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    address.rsplit(":", 1)[1],
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--idle-timeout",
                    "300s",
                ],
                workdir,
                tmp_path / "scheduler.log",
            )
        )
        procs.append(
            start(
                [
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "2",
                    "--no-dashboard",
                    "--death-timeout",
                    "60s",
                    "--local-directory",
                    str(workdir),
                ],
                workdir,
                tmp_path / "worker.log",
            )
        )

        def one_worker_ready() -> bool:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[2:4]} exited early; see {tmp_path}")
            with Client(address, timeout="5s", set_as_default=False) as client:
                client.wait_for_workers(1, timeout=60)
            return True

        wait_until(one_worker_ready, "Dask scheduler with a worker", timeout=90, every=0.1)
        yield address
    finally:
        tree = descendants(procs)
        for proc in reversed(procs):  # the worker first, then the scheduler
            stop(proc, timeout=30)
        left = still_alive(tree, timeout=30)
        for pid in left:
            psutil.Process(pid).kill()
        assert left == set(), "dask scheduler/worker processes outlived the test"


def test_external_scheduler_and_worker(
    run_cli, scheduler_and_worker, messy_csv, small_partitions, monkeypatch, tmp_path
):
    before = live_children()
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    monkeypatch.chdir(client_dir)
    relative = (
        Path("..") / messy_csv.name
    )  # the worker runs elsewhere: the engine sends absolute paths
    code, stdout, stderr = run_cli(
        "run",
        "--engine",
        "dask",
        "--scheduler",
        scheduler_and_worker,
        "--input",
        relative,
        "--out",
        "out",
        "--db",
        "none",
    )
    assert code == 0, stderr
    assert "Engine: dask." in stdout
    assert_same_as_pandas(messy_csv, client_dir / "out", tmp_path)
    assert live_children() - before == set(), "the client must not start processes of its own"


# -- Prefect tasks on Dask (prefect-dask's DaskTaskRunner) -----------------------------------


@pytest.mark.slow
def test_prefect_tasks_run_on_a_dask_task_runner(messy_csv, tmp_path):
    """A Prefect flow maps the engine's per-partition summary over a Dask cluster: same figures.

    The code lesson 08 shows; it runs here in the test process, against the session's Prefect
    server (or, without one, the temporary server Prefect starts and stops itself).
    """
    from exam_pipeline.engines.prefect_settings import configure

    configure()  # before Prefect is imported (a no-op if this process did it already)
    import pandas as pd
    from prefect import flow, task
    from prefect_dask import DaskTaskRunner

    from exam_pipeline.engines.dask_engine import summarize_partition
    from exam_pipeline.engines.streaming import merge_scans, ttest_from_scan

    @task
    def summarize(part):
        return summarize_partition(part, "Class", "Score", ".")

    runner = DaskTaskRunner(
        cluster_kwargs={
            "processes": False,
            "n_workers": 1,
            "threads_per_worker": 2,
            "dashboard_address": "127.0.0.1:0",
        }
    )

    @flow(task_runner=runner)
    def exam_on_dask(path):
        frame = pd.read_csv(path, usecols=["Class", "Score"], dtype=str)
        parts = [frame.iloc[i : i + 5000] for i in range(0, len(frame), 5000)]
        scan = merge_scans(future.result() for future in summarize.map(parts))
        return {
            "rows_read": scan.rows_read,
            "rows_dropped": scan.rows_dropped,
            "t": ttest_from_scan(scan).t,
            "tasks": len(parts),
        }

    before = live_children()
    got = exam_on_dask(messy_csv)
    expected = run_pipeline(RunConfig(input=messy_csv, out=tmp_path / "pandas", db="none"))
    assert got["tasks"] == 4
    assert (got["rows_read"], got["rows_dropped"]) == (
        expected["rows_read"],
        expected["rows_dropped"],
    )
    assert got["t"] == pytest.approx(expected["t"], rel=1e-12)
    assert still_alive(live_children() - before, timeout=30) == set()
