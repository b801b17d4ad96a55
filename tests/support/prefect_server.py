"""A real ``prefect server start`` for the tests: the session's shared one, or a test's own.

Lessons and the CLI never start one themselves (with no ``PREFECT_API_URL`` Prefect starts a
temporary server per process, see ``prefect_settings.start_api``); this is what the tests do so
that they all share one server instead of waiting 20-30 s each for their own.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from exam_pipeline.prefect_settings import defaults

from .processes import answers, free_port, stop, wait_until


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
            log=self.home / "server.log",
        )

    def stop(self) -> None:
        """Stop the server and everything it started (its whole process group)."""
        stop(self.process, group=True)


def start_server(
    home: str | Path,
    *,
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Start ``prefect server start`` on 127.0.0.1 and return at once, without waiting for it.

    Starting takes 5-20 s, so the test session can run other tests meanwhile and call
    :meth:`ServerProcess.wait_until_healthy` only when it needs the server. The server keeps its
    database in ``home`` (unless ``extra_env`` names another); its output goes to
    ``home/server.log``.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(defaults(), PREFECT_HOME=str(home), **(extra_env or {}))
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--analytics-off", "--no-ui"]
    with open(home / "server.log", "ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return ServerProcess(process, f"http://127.0.0.1:{port}/api", home)


@contextmanager
def local_server(home: str | Path, timeout: float = 120) -> Iterator[dict[str, str]]:
    """A server of the block's own; yields its client environment, always stops it afterwards."""
    server = start_server(home)
    try:
        server.wait_until_healthy(timeout)
        yield server.environment()
    finally:
        server.stop()


def migrate(home: Path, extra_env: Mapping[str, str] | None = None) -> str:
    """Run ``prefect server database upgrade`` for a server with this home (and database URL).

    Returns "" when it worked, else the end of what it printed.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(defaults(), PREFECT_HOME=str(home), **(extra_env or {}))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stdout + done.stderr)[-2000:] or "failed"


def empty_database() -> Path | None:
    """A migrated, empty Prefect SQLite database for the installed Prefect, built once per machine.

    Returns None if it cannot be built; the server then builds its own, as it always can.
    """
    version = importlib.metadata.version("prefect")
    target = Path(tempfile.gettempdir()) / f"exam-pipeline-prefect-{version}.db"
    if target.is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix="exam-pipeline-prefect-db-"))
    try:
        built = work / "prefect.db"
        # A leftover write-ahead log would mean the .db file alone is not the whole database.
        if migrate(work) or not built.is_file() or (work / "prefect.db-wal").exists():
            return None
        os.replace(built, target)  # atomic: a session starting meanwhile sees all of it or none
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
