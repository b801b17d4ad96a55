"""The test session's plugin (loaded by the root ``conftest.py``): one Prefect server for every
Prefect user, and the order in which xdist hands out the test files.

**One server.** Without ``PREFECT_API_URL`` each process that runs a Prefect flow (every notebook
kernel, every pytest worker) starts its own temporary server, 20-30 s each on a 2-core machine.
Instead, the session starts ONE ``prefect server start`` on a free 127.0.0.1 port, with a fresh
``PREFECT_HOME``, and puts ``PREFECT_API_URL`` and friends into ``os.environ``. nbval starts a
notebook's kernel before its first cell and the kernel copies ``os.environ``; xdist workers copy
it when the controller spawns them, right after ``pytest_configure``. So the server is started
in the controller's ``pytest_configure``, without waiting for it: the first test file or
notebook that mentions Prefect waits until it answers, while other tests run meanwhile. The
server starts from a copy of an empty database migrated once per machine (about 6 s of CPU
instead of 15), and looks for new deployments every second, so the served-flow test waits less.

Where PostgreSQL is installed, the server keeps its database in a throwaway cluster of the
session's own (``support.postgres`` says why); otherwise in SQLite.

``EXAM_PIPELINE_TEST_SERVER=0`` switches it off (each Prefect user then starts its own temporary
server); a ``PREFECT_API_URL`` already in the environment is used as it is.

**The order of files.** xdist hands out whole files (``--dist loadfile``) in collection order
(``--no-loadscope-reorder``). The files that took longest in the last recorded run
(``tests/durations.json``, rewritten by ``make durations``) start first, so the session ends on
short files and no worker is left alone on a long one while the other core idles. A file with
no record yet counts as long. Stale records only cost speed, never a result.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pytest

from exam_pipeline.prefect_settings import refresh
from exam_pipeline.servers import SCHEDULE_QUICKLY

from .postgres import session_postgres
from .prefect_server import empty_database, healthy, start_server
from .processes import wait_until

#: Set to 0 to run the tests without the shared Prefect server.
SWITCH = "EXAM_PIPELINE_TEST_SERVER"
#: The URL of the session's server, for tests that want to know it is the session's own.
SESSION_URL = "EXAM_PIPELINE_TEST_SERVER_URL"
#: The database URL of the session's server (postgresql://... or sqlite:///...), for the tests.
SESSION_DB_URL = "EXAM_PIPELINE_TEST_SERVER_DB_URL"
#: Why the server keeps SQLite although PostgreSQL is installed (it did not start), if it does.
SESSION_DB_PROBLEM = "EXAM_PIPELINE_TEST_SERVER_DB_PROBLEM"
#: A test file or notebook whose text contains one of these uses Prefect (a cheap guess).
NEEDLES = ("prefect", "engines.available")
SKIP_DIRS = {"output", ".ipynb_checkpoints", "__pycache__", ".venv", ".git"}
#: Seconds per test file in the last recorded run (``make durations``).
DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"

#: Server settings for the tests: new deployments get their scheduled runs within a second.
SERVER_SETTINGS = dict(SCHEDULE_QUICKLY)
#: For a server that starts from a copy of a migrated database: no migration check (about 1 s).
MIGRATED = {"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false"}

_server_key = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-durations",
        action="store_true",
        help=f"write each test file's total seconds to {DURATIONS.name} (make durations)",
    )


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
    saved = dict(os.environ)
    home = Path(tempfile.mkdtemp(prefix="exam-pipeline-prefect-"))
    server = pg = None

    def stop() -> None:  # registered first: it also runs when the rest of this hook fails
        try:
            if server is not None:
                server.stop()
        finally:
            if pg is not None:
                pg.stop()
                shutil.rmtree(pg.folder, ignore_errors=True)
            os.environ.clear()
            os.environ.update(saved)
            refresh()
            shutil.rmtree(home, ignore_errors=True)

    config.add_cleanup(stop)  # runs at the end of the session, also when it failed
    settings = dict(SERVER_SETTINGS)
    try:
        pg = session_postgres()
    except (RuntimeError, LookupError, OSError) as exc:
        problem = f"PostgreSQL did not start, so the session's Prefect server keeps SQLite: {exc}"
        os.environ[SESSION_DB_PROBLEM] = problem  # the test of the database says it again
        config.issue_config_time_warning(pytest.PytestConfigWarning(problem), stacklevel=2)
    if pg is not None:
        settings.update(pg.server_env(), **MIGRATED)
        db_url = pg.url
    else:
        template = empty_database()
        if template is not None:
            shutil.copyfile(template, home / "prefect.db")
            settings.update(MIGRATED)
        db_url = f"sqlite:///{(home / 'prefect.db').as_posix()}"
    server = start_server(home, extra_env=settings)
    os.environ.update(server.environment())
    os.environ[SESSION_URL] = server.api_url
    os.environ[SESSION_DB_URL] = db_url
    refresh()  # in case something imported Prefect already (a plugin, a sitecustomize)
    config.stash[_server_key] = server


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session):
    """No garbage collection while collecting: it would only walk the growing tree of items.

    Collection makes hundreds of thousands of objects that all live to the end of the session,
    so each full collection walks them again for nothing: about 1 s of each xdist worker's
    5-6 s start-up. Afterwards they are frozen (left out of later collections) and the
    collector runs as usual.
    """
    gc.disable()
    try:
        return (yield)
    finally:
        gc.freeze()
        gc.enable()


def recorded_durations(path: Path = DURATIONS) -> dict[str, float]:
    """Seconds per file (relative to the repository, with /) from the last recorded run."""
    try:
        return {str(name): float(seconds) for name, seconds in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def longest_first(items: list[pytest.Item], root: Path, seconds: dict[str, float]) -> None:
    """Sort ``items`` so that the files that took longest come first; a file with no record
    counts as long. The sort is stable: each file's items stay together and in order."""

    def key(item: pytest.Item) -> float:
        try:
            name = Path(item.path).relative_to(root).as_posix()
        except ValueError:  # a file outside the repository
            return 0.0
        return -seconds.get(name, math.inf)

    items.sort(key=key)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    longest_first(items, config.rootpath, recorded_durations())


#: The per-file totals being recorded in this process (the controller, under xdist), or None.
_recording: dict[str, float] | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    """With --record-durations, start adding up (in the controller: it sees every report)."""
    global _recording
    worker = hasattr(session.config, "workerinput")
    _recording = {} if session.config.getoption("record_durations") and not worker else None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With --record-durations: add up each file's setup, call and teardown times."""
    if _recording is not None:
        name = report.nodeid.split("::")[0]
        _recording[name] = _recording.get(name, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With --record-durations: write the totals, longest first, when every test ran."""
    if _recording is None or session.testsfailed or session.shouldstop:
        return
    ordered = sorted(_recording.items(), key=lambda pair: (-pair[1], pair[0]))
    text = json.dumps({name: round(total, 1) for name, total in ordered}, indent=1)
    DURATIONS.write_text(text + "\n", encoding="utf-8")


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
                wait_until(lambda: healthy(url), f"answer from {url}", timeout=120)
            _checked[url] = None
        except (RuntimeError, TimeoutError) as exc:
            _checked[url] = str(exc)
    if _checked[url]:
        raise RuntimeError(f"the session's Prefect server is not usable: {_checked[url]}")
