"""Local servers, written once: a free port, waiting until a server answers, stopping it, and a
real ``prefect server start`` on 127.0.0.1.

``make lab`` (:mod:`exam_pipeline.course.lab`), the screenshot script and the tests start servers the
same way: on loopback, on a port nobody uses, polled until they answer rather than slept for,
and stopped politely first (a server may have children or a database to close), killed if it
does not stop in time. A server runs in a process group of its own so that stopping it stops
its children too: a new session on POSIX, ``CREATE_NEW_PROCESS_GROUP`` plus the process tree
(found with psutil) on Windows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from exam_pipeline.engines.prefect_settings import defaults

T = TypeVar("T")

#: Debian's chromium, which the browser test and the screenshot script drive with Playwright
#: (Playwright's own browser download cannot work offline).
CHROMIUM = Path("/usr/bin/chromium")
#: Flags measured on these machines: no sandbox as root, and no background calls to the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]

#: Popen arguments that start a process in a group of its own (see :func:`stop`).
NEW_GROUP: dict[str, Any] = (
    {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    if sys.platform == "win32"
    else {"start_new_session": True}
)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it when we bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` (so a server can take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def answers(url: str, timeout: float = 2) -> bool:
    """True when an HTTP GET of ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
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
    process: subprocess.Popen[Any] | None = None,
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


def _tree(pid: int) -> list[psutil.Process]:
    """The live descendants of ``pid`` (empty if it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def stop(
    process: subprocess.Popen[Any],
    *,
    timeout: float = 15,
    group: bool = False,
    how: int = signal.SIGTERM,
) -> int:
    """Ask ``process`` to stop (SIGTERM, or ``how``), wait ``timeout`` s, then kill it.

    ``group=True`` stops its children too (start it with ``**NEW_GROUP``): on POSIX its whole
    process group is signalled; on Windows, which has no such signal, its process tree is
    terminated. Returns the exit status.
    """
    if process.poll() is not None:
        return process.returncode
    posix_group = group and hasattr(os, "killpg")
    children = _tree(process.pid) if group and not posix_group else []
    try:
        if posix_group:
            os.killpg(process.pid, how)
        else:
            process.send_signal(how)
            for child in children:
                _quietly(child.terminate)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if posix_group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
            for child in children:
                _quietly(child.kill)
        process.wait()
    except ProcessLookupError:  # it exited meanwhile
        process.wait()
    return process.returncode


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except psutil.Error:
        pass


# --- Prefect --------------------------------------------------------------------------------

#: Server settings for a server a served flow runs on: Prefect's scheduler looks for new
#: deployments every second instead of every 5 s, so their first scheduled runs come at once.
SCHEDULE_QUICKLY = {"PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1"}


def healthy(api_url: str) -> bool:
    """True when the Prefect server at ``api_url`` answers its health check."""
    return answers(f"{api_url}/health")


def server_environment(api_url: str, home: str | Path) -> dict[str, str]:
    """The environment variables that point a client (or a notebook kernel) at a running server."""
    env = defaults()
    env["PREFECT_API_URL"] = api_url
    env["PREFECT_HOME"] = str(Path(home).resolve())
    return env


@dataclass
class ServerProcess:
    """A ``prefect server start`` running in its own process group (see :func:`start_server`)."""

    process: subprocess.Popen[bytes]
    api_url: str
    home: Path

    @property
    def ui_url(self) -> str:
        """Where the server's UI is (when it was started with one)."""
        return self.api_url.removesuffix("/api")

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def environment(self) -> dict[str, str]:
        """The client environment for this server (:func:`server_environment`)."""
        return server_environment(self.api_url, self.home)

    def wait_until_healthy(self, timeout: float = 120) -> None:
        """Block until the server answers its health check; fail early if it died."""
        wait_until(
            lambda: healthy(self.api_url),
            "answer from prefect server",
            timeout=timeout,
            process=self.process,
            log=self.log,
        )

    def stop(self) -> None:
        """Stop the server and everything it started (its whole process group)."""
        stop(self.process, group=True)


def start_server(
    home: str | Path,
    *,
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    ui: bool = False,
) -> ServerProcess:
    """Start ``prefect server start`` on 127.0.0.1 and return at once, without waiting for it.

    Starting takes 5-20 s, so the caller can do other things meanwhile and call
    :meth:`ServerProcess.wait_until_healthy` only when it needs the server. The server keeps its
    database in ``home`` (unless ``extra_env`` names another); its output goes to
    ``home/server.log``. No ``PREFECT_*`` variable of the caller reaches it except those of
    :func:`~exam_pipeline.engines.prefect_settings.defaults` and ``extra_env``: a ``PREFECT_API_URL``
    or ``PREFECT_HOME`` meant for clients must not move its database. ``ui=True`` serves the
    web UI too (at :attr:`ServerProcess.ui_url`).
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(defaults(), PREFECT_HOME=str(home), **(extra_env or {}))
    api_url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--analytics-off"]
    if ui:  # the UI asks the API on port 4200 unless told otherwise, whatever --port says
        env.setdefault("PREFECT_SERVER_UI_API_URL", api_url)
    else:
        command.append("--no-ui")
    with open(home / "server.log", "ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **NEW_GROUP,
        )
    return ServerProcess(process, api_url, home)


@contextmanager
def api_with_scheduler(home: str | Path, timeout: float = 180) -> Iterator[str]:
    """The URL of a Prefect API whose server schedules runs: the configured one, or one started
    in ``home`` for the block (and stopped after it).

    Prefect's temporary server, which a process gets without ``PREFECT_API_URL``, runs no
    scheduler service, so a served flow's schedule would never produce a run on it. With a
    ``PREFECT_API_URL`` (``make lab``, the tests, a ``prefect server start`` of your own) nothing
    is started.
    """
    from prefect.settings import PREFECT_API_URL  # the settings, not only the environment

    if url := PREFECT_API_URL.value():
        yield str(url)
        return
    server = start_server(home, extra_env=SCHEDULE_QUICKLY)
    try:
        server.wait_until_healthy(timeout)
        yield server.api_url
    finally:
        server.stop()
