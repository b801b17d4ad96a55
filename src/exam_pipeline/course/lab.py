"""``make lab``: JupyterLab with a Prefect server of its own, started and stopped together.

Without a ``PREFECT_API_URL``, every notebook kernel that runs a flow starts a temporary Prefect
server (20-30 s each on a 2-core machine) that dies with the kernel, so lessons 06-07 each wait
and their runs vanish. This starts ONE ``prefect server start`` on 127.0.0.1 (UI included), keeps
its database in a ``PREFECT_HOME`` under the project (``.prefect/lab``, which git ignores), and
starts JupyterLab with ``PREFECT_API_URL`` in its environment: every kernel inherits it, and the
student can open the UI at once. When JupyterLab exits (or Ctrl-C, or an error here) the server
is stopped too.

Run as ``python -m exam_pipeline.course.lab`` (what ``make lab`` does; it works on Windows too).
Anything after ``--`` replaces ``jupyter lab notebooks`` (the test runs a stand-in this way).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from exam_pipeline.course.servers import (
    SCHEDULE_QUICKLY,
    free_port,
    port_is_free,
    start_server,
    stop,
)

#: Where the lab's Prefect server keeps its database, logs and UI files (git-ignored).
DEFAULT_HOME = Path(".prefect") / "lab"
#: Prefect's usual port, so the UI is where Prefect's documentation says (if it is free).
DEFAULT_PORT = 4200


def jupyter_lab(notebooks: Path) -> list[str]:
    """The command that opens JupyterLab on ``notebooks`` with this Python's Jupyter."""
    return [sys.executable, "-m", "jupyter", "lab", str(notebooks)]


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into an exception, so the server is stopped on the way out."""
    raise SystemExit(128 + signum)


def run(command: Sequence[str], home: Path, port: int, timeout: float = 120) -> int:
    """Start the server, wait until it answers, run ``command`` with it, then stop both.

    Returns the command's exit status (130 after Ctrl-C).
    """
    if not port_is_free(port):
        taken, port = port, free_port()
        print(f"Port {taken} is taken; the Prefect server uses {port} instead.", flush=True)
    server = start_server(home, port=port, ui=True, extra_env=SCHEDULE_QUICKLY)  # lesson 07 serves
    lab: subprocess.Popen[bytes] | None = None
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        print(f"Starting the Prefect server (PREFECT_HOME={server.home}) ...", flush=True)
        server.wait_until_healthy(timeout)
        print(f"Prefect UI: {server.ui_url}   (kernels get PREFECT_API_URL={server.api_url})")
        print(f"Server log: {server.log}", flush=True)
        lab = subprocess.Popen(list(command), env={**os.environ, **server.environment()})
        return lab.wait()
    except KeyboardInterrupt:  # JupyterLab got the Ctrl-C too; it is stopped below
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the rest
        try:
            if lab is not None:
                stop(lab, timeout=30)  # JupyterLab shuts its kernels down on SIGTERM
        finally:
            server.stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)
            print("Prefect server stopped.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[args.index("--") + 1 :] if "--" in args else []
    options = args[: args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(
        prog="python -m exam_pipeline.course.lab",
        description="JupyterLab with a local Prefect server, stopped when JupyterLab stops.",
        epilog="Anything after -- is run instead of `jupyter lab NOTEBOOKS`.",
    )
    parser.add_argument("notebooks", nargs="?", type=Path, default=Path("notebooks"))
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="PREFECT_HOME")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="the server's port (0: any free one)"
    )
    parsed = parser.parse_args(options)
    try:
        return run(
            command or jupyter_lab(parsed.notebooks), parsed.home, parsed.port or free_port()
        )
    except (RuntimeError, TimeoutError) as exc:  # the server did not start: say why, in one go
        print(f"python -m exam_pipeline.course.lab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
