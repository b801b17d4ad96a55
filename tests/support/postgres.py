"""A throwaway PostgreSQL cluster for the session's Prefect server, where PostgreSQL is installed.

Why: SQLite lets one connection write at a time, and with three xdist workers and their notebook
kernels writing flow runs, task runs, logs and events at once, the server waits for its lock
(Prefect's client retries a "database is locked" answer after 2 s). Measured in interleaved
whole-suite runs on a loaded 2-core machine, SQLite made the suite 14-73 s slower per pair, and
letting fewer Prefect files run at once made it slower still (the workers that wait idle); see
CONTRIBUTING.md, "Where that server keeps its database".

The cluster listens only on a Unix socket in a private temporary folder (no TCP port: with
``trust`` authentication any local user could connect), skips fsync, and starts from a copy of
a migrated empty cluster built once per machine, user, Prefect version and PostgreSQL major
version (``exam-pipeline-prefect-<version>-pg<major>-uid<uid>`` in the temp folder). Run as
root, PostgreSQL runs as the ``postgres`` user. ``EXAM_PIPELINE_TEST_SERVER_DB=sqlite`` keeps
SQLite, and so does a PostgreSQL that does not start (the session warns, and
``tests/test_session_setup.py`` fails with the reason).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .prefect_server import migrate
from .processes import stop, wait_until

#: Set to sqlite to keep the server's database in SQLite even where PostgreSQL is installed.
DB_SWITCH = "EXAM_PIPELINE_TEST_SERVER_DB"


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
        try:
            wait_until(
                lambda: subprocess.run(ready, check=False).returncode == 0,
                "PostgreSQL",
                timeout=timeout,
                every=0.1,
                process=self.process,
                log=self.log,
            )
        except BaseException:  # also Ctrl-C: the server is in a session of its own
            self.stop()
            raise

    def stop(self) -> bool:
        """Fast shutdown (SIGINT): roll back what is open, write a checkpoint, exit.

        True when it shut down cleanly (or was not running).
        """
        if self.process is None:
            return True
        return stop(self.process, how=signal.SIGINT) == 0

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
