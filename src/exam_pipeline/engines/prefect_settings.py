"""Prefect settings for the lessons, the tests and ``--engine prefect``: offline, quiet, repeatable.

Out of the box, Prefect 3 (measured with 3.8.8) is awkward in a classroom:

- with no ``PREFECT_API_URL`` a script starts a temporary ("ephemeral") server, which took 19-29 s
  cold on the course machines and once missed Prefect's default 20 s start-up limit;
- that server tries to send anonymous usage data to the internet;
- console logs are rich, coloured lines with clock times, run ids and web links;
- results cached by one run are found by the next one (they live in ``PREFECT_HOME``);
- every flow run starts a heartbeat thread and waits for it at the end: about 1 s per run.

:func:`configure` fixes all of that with environment variables (the names are Prefect's own
settings; see ``prefect config view --show-defaults``). Call it BEFORE ``import prefect``::

    from exam_pipeline.engines.prefect_settings import configure
    configure()
    import prefect

Heartbeats let a server mark a run as crashed when its process dies; they matter for the runs of
a deployment (``serve()``, a worker), which run in processes of their own, and there
:func:`configure` keeps them. For the runs a notebook, a test or the CLI starts in its own
process, ``configure()`` switches them off (``heartbeats=True`` keeps them).

It only fills in what is not set yet, so a ``PREFECT_API_URL`` (or anything else) from the
environment or from ``prefect config set`` still wins. Called after Prefect was imported, it also
refreshes Prefect's settings and logging so the new values take effect.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

from exam_pipeline.core.validate import PipelineInputError

#: Our logging config for Prefect: plain text to stdout, no timestamps, logs still sent to the API.
LOGGING_CONFIG = Path(__file__).with_name("prefect_logging.yaml")

#: Seconds to wait for the temporary server (Prefect's default of 20 was once too short here).
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 120

#: Prefect's setting for the seconds between flow-run heartbeats (default 180; None = off).
HEARTBEAT_VARIABLE = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"

#: True once configure() switched heartbeats off in this process (refreshes keep them off).
_heartbeats_off = False


class StdoutHandler(logging.StreamHandler):
    """A log handler that writes to whatever ``sys.stdout`` is at the moment of each record.

    Jupyter and pytest replace ``sys.stdout`` per cell or per test; a handler that kept the
    stream it was created with would write into a stale one.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignore: the stream is always the current sys.stdout."""


class PlainFormatter(logging.Formatter):
    """Prefect's formatter (it knows flow and task run names), without tracebacks for bad input.

    A :class:`PipelineInputError` is the user's mistake, not a bug: the console shows its
    one-line message; the server still receives the full record.
    """

    def __init__(self, format: str, flow_run_fmt: str, task_run_fmt: str, **kwargs: Any) -> None:
        from prefect.logging.formatters import PrefectFormatter  # only when logging is set up

        super().__init__(format)
        self._prefect = PrefectFormatter(
            format, flow_run_fmt=flow_run_fmt, task_run_fmt=task_run_fmt, **kwargs
        )

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and isinstance(record.exc_info[1], PipelineInputError):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return self._prefect.format(record)


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
    heartbeats: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Set the course's Prefect settings in the environment; return the values now in effect.

    ``home``: a Prefect home directory (database, profiles, default result storage) for this run.
    ``results_dir``: where persisted task results (the cache) go, e.g. ``output/07/results``,
    so a notebook can clean it. Both are set even if the environment has a value, because the
    caller asked for them. ``ui_links=True`` keeps Prefect's "View at <url>" log lines.
    ``heartbeats=True`` keeps the flow-run heartbeats that this otherwise switches off for the
    rest of the process (see :func:`switch_off_heartbeats`); so does a value of
    ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` in the environment, and so does the process of a
    deployment's run (its script may call this too), where heartbeats are what they are for.
    ``environ``: the mapping to change (default ``os.environ``; tests pass a dict). Only the
    mapping changes then: Prefect in this process is left alone.
    """
    env = os.environ if environ is None else environ
    before = dict(env)
    wanted = defaults(ui_links=ui_links)
    for key, value in wanted.items():
        env.setdefault(key, value)
    if home is not None:
        env["PREFECT_HOME"] = wanted["PREFECT_HOME"] = str(Path(home).resolve())
    if results_dir is not None:
        path = str(Path(results_dir).resolve())
        env["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = wanted["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = (
            path
        )
    if environ is None and "prefect" in sys.modules and dict(env) != before:
        _refresh_prefect()
    # A deployment's run (started by serve() or a worker) carries its id in the environment.
    in_a_deployment_run = "PREFECT__FLOW_RUN_ID" in env
    if environ is None and not (heartbeats or in_a_deployment_run or HEARTBEAT_VARIABLE in env):
        switch_off_heartbeats()
    return {key: env[key] for key in wanted}


def switch_off_heartbeats() -> None:
    """No flow-run heartbeats in this process from now on (this imports Prefect).

    Prefect 3.8 starts a thread for every flow run that sends a heartbeat every 180 s, and at the
    end of the run waits for it; the thread sleeps in 1 s steps, so the wait is about 1 s per
    run, 10 s in lesson 07. The setting is off when it is None, which an environment variable
    cannot say (its value must parse as a whole number). So this puts Prefect's own settings,
    read from the environment, with that one value changed, in force in this thread (and in the
    threads Prefect starts from it for tasks, which copy it): Prefect's ``SettingsContext``, the
    object its ``temporary_settings()`` enters for a ``with`` block, entered here for good.
    Prefect's own test suite switches heartbeats off for the same reason (PrefectHQ/prefect#21062).
    """
    global _heartbeats_off
    from prefect.context import SettingsContext, root_settings_context
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    root = root_settings_context()
    settings = root.settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
    SettingsContext(profile=root.profile, settings=settings).__enter__()
    _heartbeats_off = True


def refresh() -> None:
    """Make an already imported Prefect re-read PREFECT_* from the environment (else no-op).

    Prefect reads its settings once, at import; a test session that sets ``PREFECT_API_URL``
    after something imported Prefect must call this, or clients keep the old (empty) URL and
    start a temporary server of their own.
    """
    if "prefect" in sys.modules:
        _refresh_prefect()


def _refresh_prefect() -> None:
    """Make an already imported Prefect re-read its settings and logging config."""
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()
    setup_logging(incremental=False)
    if _heartbeats_off:  # our settings context still holds the old values: enter a fresh one
        switch_off_heartbeats()


def flush() -> None:
    """Send the logs and events Prefect still has queued, and wait until they are sent.

    Prefect ships logs and events to the server from background threads. At the end of a
    script it drains them itself (printing "EventsWorker - Still processing items" while it
    does); call this before stopping a server you started, or to finish sending earlier.
    It is what Prefect's own test harness does, instead of sleeping and hoping.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        for service in (APILogWorker, EventsWorker):
            result = service.drain_all(timeout=30)
            if inspect.isawaitable(result):
                await result

    run_coro_as_sync(drain())


def start_api() -> str:
    """Make sure a Prefect API answers before the first run; return its URL.

    With ``PREFECT_API_URL`` set this only reads it. Without it, this starts the temporary
    server now (the 20-30 s wait happens here, once per process) and hides Prefect's
    "Starting temporary server on <random port>" notice, so a notebook prints the same lines
    with a dedicated server or without one. Later runs reuse this server.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return str(PREFECT_API_URL.value())
    # Imported only now: the server modules take seconds to import, and a client never needs them.
    from prefect.server.api.server import SubprocessASGIServer

    notices = logging.getLogger("prefect")  # where that notice is logged (at INFO)
    level = notices.level
    notices.setLevel(logging.WARNING)
    try:
        server = SubprocessASGIServer()  # the instance Prefect's own clients use
        server.start()
    finally:
        notices.setLevel(level)
    return server.api_url
