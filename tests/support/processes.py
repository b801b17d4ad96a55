"""Free ports, waiting until something answers, and stopping a process: written once.

Every server a test starts (Prefect, JupyterLab, luigid, Dask, PostgreSQL) listens on
127.0.0.1 on a port nobody uses, is polled until it answers rather than slept for, and is
stopped politely first (it may have children or a database to close) and killed if it does not
stop in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it when we bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers(url: str, timeout: float = 2) -> bool:
    """True when an HTTP GET of ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def log_tail(log: Path | None, size: int = 3000) -> str:
    """The end of a server's log, for a failure message."""
    if log is None:
        return ""
    try:
        return log.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def wait_until(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float = 60,
    every: float = 0.25,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> T:
    """Call ``probe()`` until it returns something truthy, and return that.

    Fails at once with RuntimeError if ``process`` (the server being waited for) exits, and with
    TimeoutError after ``timeout`` seconds; both messages name ``what`` and end with ``log``'s
    tail. A probe that raises OSError counts as "not yet" (a port that refuses connections).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := probe():
                return result
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}) early:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout} s:\n{log_tail(log)}")
        time.sleep(every)


def stop(
    process: subprocess.Popen,
    *,
    timeout: float = 15,
    group: bool = False,
    how: int = signal.SIGTERM,
) -> int:
    """Ask ``process`` to stop (SIGTERM, or ``how``), wait ``timeout`` s, then kill it.

    ``group=True`` signals its whole process group (start it with ``start_new_session=True``),
    so a server's own children stop with it. Returns the exit status.
    """
    if process.poll() is not None:
        return process.returncode
    group = group and hasattr(os, "killpg")
    try:
        if group:
            os.killpg(process.pid, how)
        else:
            process.send_signal(how)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
    except ProcessLookupError:  # it exited meanwhile
        process.wait()
    return process.returncode


def still_alive(pids: set[int], timeout: float = 20.0) -> set[int]:
    """The PIDs among ``pids`` that have not exited after waiting up to ``timeout`` seconds."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return {p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}
