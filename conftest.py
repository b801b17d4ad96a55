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
notebook that mentions Prefect waits until it answers, while other tests run meanwhile. (Its
PostgreSQL, below, is started and waited for there: about half a second.)

A new server first builds its database (about 10 of its 15 s of start-up CPU here). So the first
session on a machine builds an empty one once, with ``prefect server database upgrade``, and keeps
it in the temp folder (``exam-pipeline-prefect-<version>.db``); every session's server starts
from a copy of it, in about 6 s. The server also looks for new deployments every second instead
of every 5 s, so the served-flow test waits less for its first runs.

Where PostgreSQL is installed (with its ``pg_trgm`` extension, which Prefect's migrations need),
the server keeps its database in a throwaway PostgreSQL instead of SQLite. SQLite lets one
connection write at a time: with three workers and their kernels writing flow runs, logs and
events at once, the server answered "database is locked" (503, and the client waits 2 s before
it asks again), and now and then stalled a minute or more on its 60 s lock timeout (two of five
runs of the Prefect files took 115 and 175 s instead of 45 s). The PostgreSQL cluster is
also built and migrated once per machine and user (in the temp folder,
``exam-pipeline-prefect-<prefect-version>-pg<major>-uid<uid>``), and each session starts from a
copy. ``EXAM_PIPELINE_TEST_SERVER_DB=sqlite`` keeps SQLite, and so does a PostgreSQL that does
not start (with a warning, and the reason in ``EXAM_PIPELINE_TEST_SERVER_DB_PROBLEM``);
``EXAM_PIPELINE_TEST_SERVER_DB_URL`` tells the tests which database the server uses.

Opt out with ``EXAM_PIPELINE_TEST_SERVER=0`` (each Prefect user then starts its own temporary
server). A ``PREFECT_API_URL`` already in the environment is used as it is.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from exam_pipeline.prefect_settings import defaults, healthy, refresh, start_server

#: Set to 0 to run the tests without the shared Prefect server.
SWITCH = "EXAM_PIPELINE_TEST_SERVER"
#: The URL of the session's server, for tests that want to know it is the session's own.
SESSION_URL = "EXAM_PIPELINE_TEST_SERVER_URL"
#: Set to sqlite to keep the server's database in SQLite even where PostgreSQL is installed.
DB_SWITCH = "EXAM_PIPELINE_TEST_SERVER_DB"
#: The database URL of the session's server (postgresql://... or sqlite:///...), for the tests.
SESSION_DB_URL = "EXAM_PIPELINE_TEST_SERVER_DB_URL"
#: Why the server keeps SQLite although PostgreSQL is installed (it did not start), if it does.
SESSION_DB_PROBLEM = "EXAM_PIPELINE_TEST_SERVER_DB_PROBLEM"
#: A test file or notebook whose text contains one of these uses Prefect (a cheap guess).
NEEDLES = ("prefect", "engines.available")
SKIP_DIRS = {"output", ".ipynb_checkpoints", "__pycache__", ".venv", ".git"}

_server_key = pytest.StashKey[object]()

#: The files that take longest (per-file timing of three ``make test`` runs on the 2-core course
#: machine), longest first: every file of 4 s or more. xdist hands out whole files
#: (``--dist loadfile``) in collection order, so the long ones start first and the session ends
#: on short ones, with no worker left alone on a long file while the other core idles. The
#: files not listed keep their collection order after these.
SLOWEST_FIRST = (
    "tests/test_dask.py",  # about 27 s
    "tests/test_prefect.py",
    "tests/test_jupyterlab_e2e.py",
    "tests/test_grading.py",
    "notebooks/08_robust_pipelines.ipynb",  # about 14 s
    "solutions/08_robust_pipelines.ipynb",
    "solutions/07_dask_scaling.ipynb",
    "solutions/06_prefect_resilience.ipynb",
    "notebooks/06_prefect_resilience.ipynb",
    "notebooks/07_dask_scaling.ipynb",
    "tests/test_engines_agree.py",
    "tests/test_streaming.py",
    "solutions/05_prefect_basics.ipynb",  # about 10 s
    "solutions/02_streaming_batch_chunks.ipynb",
    "notebooks/02_streaming_batch_chunks.ipynb",
    "notebooks/05_prefect_basics.ipynb",
    "solutions/04_luigi.ipynb",
    "solutions/03_step_pipeline_framework.ipynb",
    "notebooks/03_step_pipeline_framework.ipynb",
    "notebooks/04_luigi.ipynb",
    "tests/test_grading_sandbox.py",  # about 7 s
    "tests/test_framework.py",  # about 6 s
    "tests/test_prefect_resilience.py",
    "notebooks/01_pipeline_mindset.ipynb",
    "tests/test_luigi.py",
    "solutions/01_pipeline_mindset.ipynb",
    "solutions/09_capstone.ipynb",  # about 4 s
)

#: Server settings for the tests: new deployments get their scheduled runs within a second.
SERVER_SETTINGS = {"PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1"}
#: For a server that starts from a copy of a migrated database: no migration check (about 1 s).
MIGRATED = {"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false"}


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


# -- PostgreSQL for the server, where it is installed -------------------------------------------


def postgres_bin() -> Path | None:
    """The bin folder of an installed PostgreSQL whose ``pg_trgm`` Prefect's migrations can use.

    Looks where Debian and Ubuntu put each major version (the newest first), then on PATH. None
    on Windows, and where none is found (the server then keeps SQLite).
    """
    if os.name != "posix":
        return None
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    folders = sorted(debian, key=lambda p: _number(p.parent.name), reverse=True)
    if pg_ctl := shutil.which("pg_ctl"):
        folders.append(Path(pg_ctl).resolve().parent)
    programs = ("initdb", "postgres", "pg_config", "pg_isready", "createdb")
    for folder in folders:
        if not all((folder / name).is_file() for name in programs):
            continue
        try:
            share = subprocess.run(
                [folder / "pg_config", "--sharedir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if (Path(share) / "extension" / "pg_trgm.control").is_file():
            return folder
    return None


def _number(text: str) -> float:
    """A folder name as a version number ("16" > "9.6"), or -1."""
    try:
        return float(text)
    except ValueError:
        return -1


def postgres_user() -> str | None:
    """The user PostgreSQL runs as: ourselves (None), or ``postgres`` for root (it refuses root).

    Raises LookupError when we are root and there is no ``postgres`` user.
    """
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise LookupError("running as root, with no postgres user to run PostgreSQL as") from None
    return "postgres"


class Postgres:
    """A throwaway PostgreSQL cluster in ``folder/data`` for one session.

    It listens only on a Unix socket in ``folder``, which only its user can enter: with
    ``trust`` authentication, a TCP port would let any local user in. Tuned for a database
    nobody keeps: no fsync, no waiting for commits to reach the disk.
    """

    def __init__(self, bin_dir: Path, folder: Path, user: str | None) -> None:
        self.bin, self.folder, self.user = bin_dir, folder, user
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """A SQLAlchemy URL without a driver (add ``+asyncpg`` or ``+psycopg``)."""
        return f"postgresql://postgres@/prefect?host={self.folder}"

    def _as_user(self) -> dict[str, Any]:
        """subprocess arguments that run a program as PostgreSQL's user and group only."""
        if self.user is None:
            return {}
        return {"user": self.user, "group": self.user, "extra_groups": []}

    def run(self, *args: str | Path) -> None:
        """Run one of PostgreSQL's programs as its user; fail with its output."""
        command = [str(a) for a in args]
        done = subprocess.run(command, capture_output=True, text=True, **self._as_user())
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stdout}{done.stderr}")

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it accepts connections; stop it if that fails."""
        options = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.folder),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        command = [str(self.bin / "postgres"), "-D", str(self.data)]
        for name, value in options.items():
            command += ["-c", f"{name}={value}"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_user(),
            )
        ready = [str(self.bin / "pg_isready"), "-q", "-h", str(self.folder)]
        deadline = time.monotonic() + timeout
        try:
            while subprocess.run(ready, check=False).returncode != 0:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}")
                time.sleep(0.1)
        except BaseException:  # also Ctrl-C: the server is in a session of its own
            self.stop()
            raise

    def stop(self) -> bool:
        """Fast shutdown (SIGINT): roll back what is open, write a checkpoint, exit.

        True when it shut down cleanly (or was not running).
        """
        if self.process is None:
            return True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode == 0

    def log_tail(self) -> str:
        """The end of the server's log, for an error message (its folder may be removed next)."""
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def server_env(self) -> dict[str, str]:
        """The setting that points a Prefect server at this database."""
        driver_url = self.url.replace("postgresql://", "postgresql+asyncpg://", 1)
        return {"PREFECT_SERVER_DATABASE_CONNECTION_URL": driver_url}


def _own_folder(user: str | None) -> Path:
    """A new temporary folder (mode 0700) that ``user`` owns, for a cluster and its socket."""
    folder = Path(tempfile.mkdtemp(prefix="exam-pipeline-pg-"))
    if user:
        shutil.chown(folder, user, user)
    return folder


def postgres_template(bin_dir: Path, user: str | None) -> Path:
    """A migrated, empty PostgreSQL cluster for Prefect (its data folder), built once per machine
    and user."""
    # "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)": a cluster belongs to one major version.
    about = subprocess.run([bin_dir / "pg_config", "--version"], capture_output=True, text=True)
    major = match.group(1) if (match := re.search(r"PostgreSQL (\d+)", about.stdout)) else "x"
    version = importlib.metadata.version("prefect")
    name = f"exam-pipeline-prefect-{version}-pg{major}-uid{os.getuid()}"  # a user's own cluster
    target = Path(tempfile.gettempdir()) / name
    if target.exists():
        import pwd

        uid = pwd.getpwnam(user).pw_uid if user else os.getuid()
        info = target.lstat()
        if info.st_uid != uid or info.st_mode & 0o077:  # someone else's: never start it
            raise RuntimeError(f"{target} is not a private folder of uid {uid}; remove it")
        if (target / "PG_VERSION").is_file():
            return target
    work = _own_folder(user)
    pg = Postgres(bin_dir, work, user)
    try:
        pg.run(bin_dir / "initdb", "-D", pg.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        pg.start()
        pg.run(bin_dir / "createdb", "-h", work, "-U", "postgres", "prefect")
        if failed := migrate(work / "home", pg.server_env()):
            raise RuntimeError(f"prefect server database upgrade failed on PostgreSQL:\n{failed}")
        if not pg.stop():  # a clean shutdown: the data folder alone is the whole database
            raise RuntimeError(f"PostgreSQL did not shut down cleanly:\n{pg.log_tail()}")
        try:
            os.replace(pg.data, target)  # atomic: a session starting meanwhile sees all or none
        except OSError:
            if not (target / "PG_VERSION").is_file():  # not another session's finished build
                raise
        return target
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def session_postgres() -> Postgres | None:
    """A running copy of the template cluster, or None where PostgreSQL is not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None or os.environ.get(DB_SWITCH, "") == "sqlite":
        return None
    user = postgres_user()
    template = postgres_template(bin_dir, user)
    pg = Postgres(bin_dir, _own_folder(user), user)
    try:
        shutil.copytree(template, pg.data)
        if user:
            for path in [pg.data, *pg.data.rglob("*")]:
                shutil.chown(path, user, user)
        pg.start()
    except BaseException:
        shutil.rmtree(pg.folder, ignore_errors=True)
        raise
    return pg


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
