"""Prefect settings for the lessons, the tests and ``--engine prefect``: offline, quiet, repeatable.

Out of the box, Prefect 3 (measured with 3.8.8) is awkward in a classroom:

- with no ``PREFECT_API_URL`` a script starts a temporary ("ephemeral") server, which took 19-29 s
  cold on the course machines and once missed Prefect's default 20 s start-up limit;
- that server tries to send anonymous usage data to the internet;
- console logs are rich, coloured lines with clock times, run ids and web links;
- results cached by one run are found by the next one (they live in ``PREFECT_HOME``).

:func:`configure` fixes all of that with environment variables (the names are Prefect's own
settings; see ``prefect config view --show-defaults``). Call it BEFORE ``import prefect``::

    from exam_pipeline.prefect_settings import configure
    configure()
    import prefect

It only fills in what is not set yet, so a ``PREFECT_API_URL`` (or anything else) from the
environment or from ``prefect config set`` still wins. Called after Prefect was imported, it also
refreshes Prefect's settings and logging so the new values take effect.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TextIO

#: Our logging config for Prefect: plain text to stdout, no timestamps, logs still sent to the API.
LOGGING_CONFIG = Path(__file__).with_name("prefect_logging.yaml")

#: Seconds to wait for the temporary server (Prefect's default of 20 was once too short here).
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 120


class StdoutHandler(logging.StreamHandler):
    """A log handler that writes to whatever ``sys.stdout`` is at the moment of each record.

    Jupyter and pytest replace ``sys.stdout`` per cell or per test; a handler that kept the
    stream it was created with would write into a stale one.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignore: the stream is always the current sys.stdout."""


def defaults(*, ui_links: bool = False) -> dict[str, str]:
    """The environment variables :func:`configure` fills in when they are missing."""
    values = {
        "PREFECT_LOGGING_CONFIG_PATH": str(LOGGING_CONFIG),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # the server sends no usage data
        "DO_NOT_TRACK": "1",  # nor does the client
    }
    if not ui_links:
        values["PREFECT_UI_URL"] = ""  # no "View at http://.../<uuid>" lines in the logs
    return values


def configure(
    *,
    home: str | Path | None = None,
    results_dir: str | Path | None = None,
    ui_links: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Set the course's Prefect settings in the environment; return the values now in effect.

    ``home``: a Prefect home directory (database, profiles, default result storage) for this run.
    ``results_dir``: where persisted task results (the cache) go, e.g. ``output/06/results``,
    so a notebook can clean it. Both are set even if the environment has a value, because the
    caller asked for them. ``ui_links=True`` keeps Prefect's "View at <url>" log lines.
    ``environ``: the mapping to change (default ``os.environ``; tests pass a dict).
    """
    env = os.environ if environ is None else environ
    wanted = defaults(ui_links=ui_links)
    for key, value in wanted.items():
        env.setdefault(key, value)
    if home is not None:
        env["PREFECT_HOME"] = wanted["PREFECT_HOME"] = str(Path(home).resolve())
    if results_dir is not None:
        path = str(Path(results_dir).resolve())
        env["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = wanted["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = path
    if environ is None and "prefect" in sys.modules:
        _refresh_prefect()
    return {key: env[key] for key in wanted}


def _refresh_prefect() -> None:
    """Make an already imported Prefect re-read its settings and logging config."""
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()
    setup_logging(incremental=False)


def server_environment(api_url: str, home: str | Path) -> dict[str, str]:
    """The environment variables that point a client (or a notebook kernel) at a running server."""
    env = defaults()
    env["PREFECT_API_URL"] = api_url
    env["PREFECT_HOME"] = str(Path(home).resolve())
    return env
