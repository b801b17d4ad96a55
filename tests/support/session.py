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
(``--no-loadscope-reorder``): the files in ``SLOWEST_FIRST`` start first, so the session ends on
short files and no worker is left alone on a long one while the other core idles.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pytest

from exam_pipeline.course.servers import SCHEDULE_QUICKLY
from exam_pipeline.engines.prefect_settings import refresh

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

#: The files that take longest (per-file timing of three ``make test`` runs on the 2-core course
#: machine), longest first: every file of 4 s or more. xdist hands out whole files
#: (``--dist loadfile``) in collection order, so the long ones start first and the session ends
#: on short ones, with no worker left alone on a long file while the other core idles. The
#: files not listed keep their collection order after these.
SLOWEST_FIRST = (
    # make test-landscape only (marker `landscape`): lesson 12, 100-170 s each, then its tests
    "solutions/12_landscape.ipynb",
    "notebooks/12_landscape.ipynb",
    "tests/test_spark_cluster.py",  # about 60 s: a standalone master and worker
    "tests/test_airflow.py",  # about 40 s: .venv-airflow's dag.test()
    # make test
    "tests/test_dask.py",  # about 27 s
    "tests/test_prefect.py",
    "tests/test_jupyterlab_e2e.py",
    "tests/test_grading.py",
    "tests/test_statistics.py",  # about 25 s: every engine on degenerate files, properties
    "tests/test_outputs.py",  # about 20 s: an unreachable Prefect server, in a subprocess
    "tests/test_grading_sandbox.py",  # about 15 s
    "notebooks/09_errors_retries.ipynb",  # 09-11 were one 14 s lesson; not yet timed apart
    "solutions/10_testing_pipelines.ipynb",
    "solutions/08_dask_scaling.ipynb",
    "solutions/07_prefect_resilience.ipynb",
    "notebooks/07_prefect_resilience.ipynb",
    "notebooks/08_dask_scaling.ipynb",
    "tests/test_engines_agree.py",
    "tests/test_streaming.py",
    "tests/test_lab.py",  # about 10 s
    "solutions/06_prefect_basics.ipynb",  # about 10 s
    "solutions/02_streaming_batch.ipynb",
    "notebooks/02_streaming_batch.ipynb",
    "notebooks/06_prefect_basics.ipynb",
    "solutions/05_luigi.ipynb",
    "solutions/04_step_pipeline_framework.ipynb",
    "notebooks/04_step_pipeline_framework.ipynb",
    "notebooks/05_luigi.ipynb",
    "notebooks/10_testing_pipelines.ipynb",
    "solutions/09_errors_retries.ipynb",
    "solutions/11_monitoring.ipynb",
    "notebooks/11_monitoring.ipynb",
    "solutions/03_concurrency.ipynb",
    "notebooks/03_concurrency.ipynb",
    "tests/test_framework.py",  # about 6 s
    "tests/test_prefect_resilience.py",
    "notebooks/01_pipeline_mindset.ipynb",
    "tests/test_luigi.py",
    "solutions/01_pipeline_mindset.ipynb",
    "solutions/13_capstone.ipynb",  # about 4 s
    "tests/test_landscape_split.py",  # about 4 s: collects make test-landscape's selection
)

#: Server settings for the tests: new deployments get their scheduled runs within a second.
SERVER_SETTINGS = dict(SCHEDULE_QUICKLY)
#: For a server that starts from a copy of a migrated database: no migration check (about 1 s).
MIGRATED = {"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false"}

_server_key = pytest.StashKey[object]()


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
                wait_until(lambda: healthy(url), f"answer from {url}", timeout=120)
            _checked[url] = None
        except (RuntimeError, TimeoutError) as exc:
            _checked[url] = str(exc)
    if _checked[url]:
        raise RuntimeError(f"the session's Prefect server is not usable: {_checked[url]}")
