"""Test-session setup for the whole repository: one real Prefect server for every Prefect user,
and the order in which xdist hands out the test files (the slowest first, ``SLOWEST_FIRST``).

Without ``PREFECT_API_URL`` each process that runs a Prefect flow (every notebook kernel, every
pytest worker) starts its own temporary server, 20-30 s each on the course machines. Instead,
the session starts ONE ``prefect server start`` on a free 127.0.0.1 port, with a fresh
``PREFECT_HOME`` in a temporary directory, and puts ``PREFECT_API_URL`` and friends
(``prefect_settings.server_environment``) into ``os.environ``.

Timing matters: nbval starts a notebook's kernel before the notebook's first cell runs, and the
kernel copies ``os.environ`` when it starts; pytest-xdist workers copy it when the controller
spawns them, right after ``pytest_configure``. So the server is started in ``pytest_configure``
of the controller (or of the only process), without waiting for it; the first test file or
notebook that mentions Prefect waits until it answers, while other tests run meanwhile.

A new server first builds its database (about 10 of its 15 s of start-up CPU here). So the first
session on a machine builds an empty one once, with ``prefect server database upgrade``, and keeps
it in the temp folder (``exam-pipeline-prefect-<version>.db``); every session's server starts
from a copy of it, in about 6 s. The server also looks for new deployments every second instead
of every 5 s, so the served-flow test waits less for its first runs.

Opt out with ``EXAM_PIPELINE_TEST_SERVER=0`` (each Prefect user then starts its own temporary
server). A ``PREFECT_API_URL`` already in the environment is used as it is.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import pytest

from exam_pipeline.prefect_settings import defaults, healthy, refresh, start_server

#: Set to 0 to run the tests without the shared Prefect server.
SWITCH = "EXAM_PIPELINE_TEST_SERVER"
#: The URL of the session's server, for tests that want to know it is the session's own.
SESSION_URL = "EXAM_PIPELINE_TEST_SERVER_URL"
#: A test file or notebook whose text contains one of these uses Prefect (a cheap guess).
NEEDLES = ("prefect", "engines.available")
SKIP_DIRS = {"output", ".ipynb_checkpoints", "__pycache__", ".venv", ".git"}

_server_key = pytest.StashKey[object]()

#: The files that take longest (seen with ``--durations`` and per-file timing on the 2-core
#: course machine), longest first. xdist hands out whole files (``--dist loadfile``) in
#: collection order, so these start first and no worker is left alone with a long file at the
#: end while the other core idles. Every other file keeps its place after them.
SLOWEST_FIRST = (
    "tests/test_dask.py",
    "tests/test_jupyterlab_e2e.py",
    "tests/test_prefect.py",
    "solutions/08_robust_pipelines.ipynb",
    "notebooks/08_robust_pipelines.ipynb",
    "solutions/05_prefect_basics.ipynb",
    "tests/test_grading.py",
    "solutions/06_prefect_resilience.ipynb",
    "notebooks/06_prefect_resilience.ipynb",
    "solutions/02_streaming_batch_chunks.ipynb",
    "notebooks/02_streaming_batch_chunks.ipynb",
    "tests/test_streaming.py",
    "solutions/07_dask_scaling.ipynb",
    "notebooks/07_dask_scaling.ipynb",
    "tests/test_engines_agree.py",
)

#: Server settings for the tests: new deployments get their scheduled runs within a second.
SERVER_SETTINGS = {"PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1"}


def empty_database() -> Path | None:
    """A migrated, empty Prefect database for the installed Prefect, built once per machine.

    Returns None if it cannot be built; the server then builds its own, as it always can.
    """
    version = importlib.metadata.version("prefect")
    target = Path(tempfile.gettempdir()) / f"exam-pipeline-prefect-{version}.db"
    if target.is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix="exam-pipeline-prefect-db-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(defaults(), PREFECT_HOME=str(work))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        built = work / "prefect.db"
        # A leftover write-ahead log would mean the .db file alone is not the whole database.
        if done.returncode != 0 or not built.is_file() or (work / "prefect.db-wal").exists():
            return None
        os.replace(built, target)  # atomic: a session starting meanwhile sees all of it or none
        return target
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _candidates(args: list[str]) -> list[Path]:
    """The .py and .ipynb files the command line (or ``testpaths``) points at."""
    files: list[Path] = []
    for arg in args:
        path = Path(arg.split("::")[0])
        if path.is_dir():
            files += [
                p
                for pattern in ("*.py", "*.ipynb")
                for p in path.rglob(pattern)
                if not SKIP_DIRS.intersection(p.parts)
            ]
        elif path.is_file():
            files.append(path)
    return files


@cache
def uses_prefect(path: Path) -> bool:
    """True when a test file or notebook mentions Prefect (or runs every engine)."""
    if path.suffix not in {".py", ".ipynb"}:
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace").lower()
    except OSError:
        return False
    return any(needle in text for needle in NEEDLES)


def pytest_configure(config: pytest.Config) -> None:
    """Start the shared server in the controller, before workers and kernels copy the env."""
    if hasattr(config, "workerinput") or os.environ.get("PYTEST_XDIST_WORKER"):
        return  # an xdist worker: it inherited the controller's environment
    if os.environ.get(SWITCH, "1") == "0" or os.environ.get("PREFECT_API_URL"):
        return
    if not any(uses_prefect(path) for path in _candidates(list(config.args))):
        return
    home = Path(tempfile.mkdtemp(prefix="exam-pipeline-prefect-"))
    template = empty_database()
    if template is not None:
        shutil.copyfile(template, home / "prefect.db")
    server = start_server(home, extra_env=SERVER_SETTINGS)
    saved = dict(os.environ)
    os.environ.update(server.environment())
    os.environ[SESSION_URL] = server.api_url
    refresh()  # in case something imported Prefect already (a plugin, a sitecustomize)
    config.stash[_server_key] = server

    def stop() -> None:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
        refresh()
        shutil.rmtree(home, ignore_errors=True)

    config.add_cleanup(stop)  # runs at the end of the session, also when it failed


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session):
    """No garbage collection while collecting: it would only walk the growing tree of items.

    Collection makes hundreds of thousands of objects that all live to the end of the session,
    so each full collection walks them again for nothing: about 1 s of each xdist worker's
    5-6 s start-up here. Afterwards they are frozen (left out of later collections) and the
    collector runs as usual.
    """
    gc.disable()
    try:
        return (yield)
    finally:
        gc.freeze()
        gc.enable()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the slowest files first (see SLOWEST_FIRST); a stable sort keeps each file whole."""
    rank = {name: place for place, name in enumerate(SLOWEST_FIRST)}
    root = config.rootpath

    def place(item: pytest.Item) -> int:
        try:
            return rank.get(Path(item.path).relative_to(root).as_posix(), len(rank))
        except ValueError:  # a file outside the repository
            return len(rank)

    items.sort(key=place)


#: Per process: the server URL -> None once it answered, or the error it gave.
_checked: dict[str, str | None] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the first Prefect test or notebook of this process: wait until the server answers."""
    url = os.environ.get(SESSION_URL)
    if not url or not uses_prefect(Path(item.path)):
        return
    if url not in _checked:
        server = item.config.stash.get(_server_key, None)
        try:
            if server is not None:
                server.wait_until_healthy()  # type: ignore[attr-defined]
            else:  # an xdist worker: the controller owns the process
                _wait(url)
            _checked[url] = None
        except (RuntimeError, TimeoutError) as exc:
            _checked[url] = str(exc)
    if _checked[url]:
        raise RuntimeError(f"the session's Prefect server is not usable: {_checked[url]}")


def _wait(url: str, timeout: float = 120) -> None:
    """Poll the server's health check until it answers."""
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {url} after {timeout} s")
        time.sleep(0.25)
