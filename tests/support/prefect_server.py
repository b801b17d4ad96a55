"""A real ``prefect server start`` for the tests: the session's shared one, or a test's own.

Starting, polling and stopping the server is ``exam_pipeline.course.servers`` (``make lab`` starts it
the same way); this adds what only the tests need: a server for one block, and a migrated empty
database copied instead of migrating again.

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
from pathlib import Path

from exam_pipeline.course.servers import ServerProcess, healthy, server_environment, start_server
from exam_pipeline.engines.prefect_settings import defaults

__all__ = [
    "ServerProcess",
    "empty_database",
    "healthy",
    "local_server",
    "migrate",
    "server_environment",
    "start_server",
]


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
