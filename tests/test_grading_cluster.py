"""`exam-pipeline grade --scheduler`: a batch on a real Dask cluster, a worker killed mid-batch.

A real ``dask scheduler`` and two ``dask worker`` processes (one thread each, no nanny, so a
killed worker stays dead like a lost machine) on 127.0.0.1. Slow (a looping submission holds
a worker for its whole time limit, and the same batch is graded locally to compare), so it
runs in ``make grade-lessons`` (EXAM_GRADE_LESSONS=1), which CI runs after ``make test``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from test_grading import DEMO, variants

from exam_pipeline.course import grading, grading_cluster
from exam_pipeline.engines import dask_engine
from support.processes import still_alive

TIMEOUT = 10.0
NAMES = ["loop", "solution", "student", "syntax_error", "killed", "invalid_json", "gutted"]
BIN = Path(sys.executable).parent


@pytest.fixture
def cluster(tmp_path):
    """Scheduler and two workers on loopback; stopped (process groups killed) afterwards."""
    file = tmp_path / "scheduler.json"
    common = {"cwd": tmp_path, "start_new_session": True, "stdout": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", file],
            stderr=open(tmp_path / "scheduler.log", "wb"), **common,
        )
    ]  # fmt: skip
    deadline = time.monotonic() + 60
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = {}
    for name in ("w1", "w2"):
        workers[name] = subprocess.Popen(
            [BIN / "dask", "worker", "--scheduler-file", file, "--nthreads", "1",
             "--no-nanny", "--no-dashboard", "--name", name, "--host", "127.0.0.1"],
            stderr=open(tmp_path / f"{name}.log", "wb"), **common,
        )  # fmt: skip
    procs += workers.values()
    address = __import__("json").loads(file.read_text())["address"]
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    try:
        yield address, workers
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def kill_a_busy_worker(address: str, workers: dict, done: threading.Event, killed: dict) -> None:
    """Kill (SIGKILL) the first worker seen grading something other than the looping copy.

    It waits until that worker's grading subprocess runs, so something is lost with it.
    """
    from distributed import Client

    with Client(address, timeout=30) as client:
        while not done.is_set():
            info = client.scheduler_info()["workers"]
            for worker, keys in client.processing().items():
                if keys and not any("loop" in str(k) for k in keys) and worker in info:
                    name = info[worker]["name"]
                    tree = psutil.Process(workers[name].pid).children(recursive=True)
                    if not tree:
                        continue  # its grading has not started yet
                    killed.update(
                        name=name, keys=[str(k) for k in keys], tree={p.pid for p in tree}
                    )
                    workers[name].kill()
                    return
            time.sleep(0.05)


@pytest.mark.skipif(not os.environ.get("EXAM_GRADE_LESSONS"), reason="slow: EXAM_GRADE_LESSONS=1")
def test_dask_batch_grades_for_real(cluster, tmp_path):
    address, workers = cluster
    built = variants()
    paths = []
    for name in NAMES:
        path = tmp_path / f"{name}.ipynb"
        if isinstance(built[name], str):
            path.write_text(built[name], encoding="utf-8")
        else:
            nbformat.write(built[name], path)
        paths.append(path)

    finished: list[tuple[float, str]] = []
    killed: dict = {}
    done = threading.Event()
    killer = threading.Thread(target=kill_a_busy_worker, args=(address, workers, done, killed))
    killer.start()
    try:
        remote = grading_cluster.grade_on_cluster(
            address,
            DEMO,
            paths,
            timeout=TIMEOUT,
            progress=lambda g: finished.append((time.monotonic(), g.submission)),
        )
    finally:
        done.set()
        killer.join()
    local = grading.grade_all(DEMO, paths, timeout=TIMEOUT, jobs=2)

    assert killed, "no worker was killed while grading"
    assert workers[killed["name"]].poll() is not None
    assert grading.to_csv(remote, gradebook=True) == grading.to_csv(local, gradebook=True)
    by_name = {Path(g.submission).stem: g for g in remote}
    assert by_name["loop"].status == f"timeout: stopped after {TIMEOUT:g} s"
    assert by_name["solution"].score == 100
    # Streamed back as each finished, not all at the end (the looping copy alone takes 10 s).
    assert sorted(name for _, name in finished) == sorted(map(str, paths))
    assert finished[-1][0] - finished[0][0] > 5
    # The killed worker's grading (pytest and its kernel) did not outlive it.
    assert killed["tree"], "the killed worker was grading nothing"
    assert still_alive(killed["tree"], timeout=10) == set()


def test_no_scheduler_is_one_clear_line(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "1s")  # nothing listens on port 9
    code, _, err = run_cli(
        "grade", "--scheduler", "tcp://127.0.0.1:9", "--solution", DEMO, DEMO,
        "--out", tmp_path / "g.csv",
    )  # fmt: skip
    assert code == 2
    assert "--scheduler tcp://127.0.0.1:9: could not connect to a Dask scheduler" in err
