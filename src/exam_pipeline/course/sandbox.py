"""The grading sandbox (``exam-pipeline grade --sandbox``): bubblewrap plus resource limits.

Each submission's ``pytest --nbval`` run (and so its kernel and everything the kernel starts)
runs inside ``bwrap`` (Debian's ``bubblewrap``) with:

* no network: a new network namespace holding only its own loopback (a temporary Prefect
  server started inside still works; nothing outside is reachable, not even the host's
  127.0.0.1);
* a read-only view of the system (``/usr``, ``/etc`` minus its password files) and of the
  course's Python environment (the interpreter, the virtual environment, the folders on its
  ``sys.path``), and nothing else of the host: no home folder, no ``solutions/``, no other
  submission, no instructor's ``/tmp``;
* a private, size-limited ``/tmp`` (a tmpfs) holding the graded copy, the working folder and
  ``HOME``; it vanishes with the sandbox;
* a new PID, IPC and UTS namespace and a new session; the sandbox dies with the grader;
* a clean environment (no instructor tokens or ``PREFECT_API_URL``);
* ``setrlimit`` limits, set by the sandboxed pytest before anything else runs and inherited by
  the kernel and its children (soft = hard, so they cannot be raised again): memory (address
  space per process), processes, file size and CPU time.

Results leave the sandbox through a pipe only the sandboxed pytest holds (see ``grading``).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from exam_pipeline.core.validate import PipelineInputError

#: Where things live inside the sandbox.
INNER_TMP = "/tmp"
INNER_WORK = "/tmp/work"
INNER_HOME = "/tmp/home"
INNER_INI = "/tmp/pytest.ini"
#: Environment variable carrying the limits into the sandboxed pytest (read by ``apply_limits``).
LIMITS_ENV = "EXAM_PIPELINE_GRADE_LIMITS"
#: Host environment variables passed into the sandbox unchanged; everything else is dropped.
PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM")
#: Files of /etc that hold secrets (root-readable); an empty file is shown in their place.
HIDDEN_ETC_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
HIDDEN_ETC_DIRS = ("/etc/ssh", "/etc/ssl/private")

MB = 1024 * 1024
#: A sandbox started by root runs as an unused user id of its own, from this range: Linux
#: counts RLIMIT_NPROC per user, so two sandboxes running at once must not share one.
FIRST_USER, USERS = 3_000_000, 1_000_000
_users = itertools.count()


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission; each applies per process (setrlimit semantics).

    ``memory_mb`` bounds each process's address space (RLIMIT_AS): a kernel asking for more
    gets ``MemoryError``. ``processes`` bounds the processes and threads of the sandbox's user
    (RLIMIT_NPROC; in the sandbox's own user namespace it counts only the sandbox's own).
    ``file_mb`` bounds the size of any one file written (RLIMIT_FSIZE), ``tmp_mb`` the whole
    private ``/tmp``. ``cpu_seconds`` bounds each process's CPU time (RLIMIT_CPU): the kernel
    is killed by SIGXCPU when it is spent.
    """

    memory_mb: int = 4096
    processes: int = 512
    file_mb: int = 256
    tmp_mb: int = 1024
    cpu_seconds: int = 600

    def encode(self, user: int | None = None) -> str:
        settings: dict[str, int] = {
            "AS": self.memory_mb * MB,
            "NPROC": self.processes,
            "FSIZE": self.file_mb * MB,
            "CPU": self.cpu_seconds,
        }
        if user is not None:
            settings["USER"] = user
        return json.dumps(settings)

    def describe(self) -> str:
        return (
            f"memory {self.memory_mb} MB per process, {self.processes} processes, "
            f"files up to {self.file_mb} MB, /tmp {self.tmp_mb} MB, CPU {self.cpu_seconds} s"
        )


def apply_limits(encoded: str) -> None:
    """Inside the sandbox, before pytest starts: set each limit (soft and hard), drop root.

    Run by root, the sandbox has no user namespace of its own and switches to an unprivileged
    user here: Linux does not count a root user's processes against RLIMIT_NPROC (not even in
    a user namespace of root's).
    """
    import resource  # POSIX only: this module is imported on Windows too

    settings = json.loads(encoded)
    user = settings.pop("USER", None)
    for name, value in settings.items():
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))
    if user is not None:
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)  # from root to another user: every capability is gone


def sandbox_user() -> int:
    """A user id no other sandbox of this machine uses now (for a sandbox started by root)."""
    return FIRST_USER + (os.getpid() * 1000 + next(_users)) % USERS


def bwrap_path() -> str:
    """The ``bwrap`` executable, or a one-line reason why --sandbox cannot work here."""
    if not sys.platform.startswith("linux"):
        raise PipelineInputError(
            f"--sandbox needs Linux (bubblewrap); this is {sys.platform}: grade without "
            "--sandbox, or in a Linux VM or container"
        )
    path = shutil.which("bwrap")
    if path is None:
        raise PipelineInputError(
            "--sandbox needs bwrap, which is not installed: install the Debian/Ubuntu package "
            "'bubblewrap' (apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
        )
    return path


@cache
def environment_paths(python: str = sys.executable) -> tuple[str, ...]:
    """The folders the course's Python needs, read from a clean interpreter of that Python.

    Asked of a fresh ``python`` in ``/`` (not of this process, whose ``sys.path`` may hold the
    course repository itself, e.g. under pytest) so that only the interpreter, the virtual
    environment and its ``.pth`` entries (an editable install's ``src/``) are bound.
    """
    code = (
        "import json, sys, sysconfig; "
        "print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, "
        "sys.base_exec_prefix, *sys.path, *sysconfig.get_paths().values()]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run(
        [python, "-c", code], cwd="/", env=env, capture_output=True, text=True, check=True
    ).stdout
    found: list[str] = [str(Path(python).parent), str(Path(os.path.realpath(python)).parent)]
    for entry in json.loads(out):
        if entry and entry != "/" and Path(entry).exists():
            found.append(str(Path(entry).resolve()) if Path(entry).is_dir() else entry)
    # Keep the outermost folders only, in a stable order.
    unique = sorted(set(found), key=lambda p: (len(p), p))
    kept: list[str] = []
    for path in unique:
        if path.startswith("/usr/") or path == "/usr":
            continue
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return tuple(kept)


def check_hidden(paths: Sequence[Path], what: str) -> None:
    """Refuse to grade if ``paths`` (the solution) would be visible inside the sandbox."""
    for path in paths:
        real = str(Path(path).resolve())
        for bound in environment_paths():
            if real.startswith(bound.rstrip("/") + "/"):
                raise PipelineInputError(
                    f"{what} {path}: lies inside {bound}, which the sandbox shows to student "
                    "code (the course's Python environment); keep it outside"
                )


def command(
    inner: Sequence[str], fds: Mapping[int, str], limits: Limits, pass_fds: Sequence[int] = ()
) -> tuple[list[str], dict[str, str]]:
    """The ``bwrap`` command line and environment that run ``inner`` in the sandbox.

    ``fds`` maps open file descriptors to paths inside the sandbox: bwrap copies each into a
    file there (the graded copy, pytest.ini). ``pass_fds`` stay open inside (the results pipe).
    """
    as_root = os.geteuid() == 0
    args = [
        bwrap_path(),
        # Root needs no user namespace; it keeps two capabilities for apply_limits to change
        # user with. Anyone else gets a user namespace (bwrap's unprivileged mode).
        *(["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if as_root else ["--unshare-user"]),
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--die-with-parent", "--new-session",
        "--hostname", "grading",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind", "/etc", "/etc"]
    for secret in HIDDEN_ETC_FILES:
        if os.path.isfile(secret):
            args += ["--ro-bind", "/dev/null", secret]
    for secret in HIDDEN_ETC_DIRS:
        if os.path.isdir(secret):
            args += ["--tmpfs", secret, "--remount-ro", secret]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # multiprocessing's locks (Luigi's workers, process pools) live in /dev/shm.
    args += ["--perms", "1777", "--size", str(limits.tmp_mb * MB), "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--size", str(limits.tmp_mb * MB), "--tmpfs", INNER_TMP]
    for path in environment_paths():
        # An environment under /tmp (a clone in a temporary folder, as CI makes) is bound on top
        # of the private /tmp, so the sandbox still sees it, read-only.
        # Folders bwrap creates on the way are private (0700) otherwise: the sandbox user could not
        # walk through them. /tmp itself keeps its 1777.
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) != INNER_TMP:
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    args += ["--perms", "0777", "--dir", INNER_WORK, "--perms", "0777", "--dir", INNER_HOME]
    for fd, inner_path in fds.items():
        args += ["--perms", "0666", "--file", str(fd), inner_path]
    args += ["--chdir", INNER_WORK, "--"]
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(
        PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        HOME=INNER_HOME,
        TMPDIR=INNER_TMP,
        MPLCONFIGDIR=f"{INNER_HOME}/.matplotlib",
        JUPYTER_RUNTIME_DIR=f"{INNER_HOME}/.jupyter-runtime",
        PYTHONDONTWRITEBYTECODE="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    env[LIMITS_ENV] = limits.encode(sandbox_user() if as_root else None)
    return args + list(inner), env
