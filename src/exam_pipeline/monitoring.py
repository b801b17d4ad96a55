"""Seeing a run from outside: structured logs, Prometheus metrics and OpenTelemetry traces.

Three independent pieces, all optional and all free of side effects until called:

* :func:`configure_logging` sends the package's log records to a stream as plain text or as one
  JSON object per line (what log collectors such as Loki or Elasticsearch ingest);
* :class:`MetricsHook` counts rows processed and rejected and times each step in a private
  ``prometheus_client`` registry; :func:`serve_metrics` exposes it on ``127.0.0.1/metrics``;
* :class:`TracingHook` opens one OpenTelemetry span per step; :func:`memory_tracer` keeps the
  finished spans in memory (lessons, tests), :func:`console_tracer` prints them.

The hooks plug into :class:`exam_pipeline.framework.Pipeline`, so the steps themselves never
change to be measured.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

LOGGER_NAME = "exam_pipeline"
LOG_FORMATS: tuple[str, ...] = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is data.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a caller attached with ``logger.info(..., extra={...})``."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the ``extra`` fields.

    ``timestamps=False`` leaves out the time, for output that must repeat exactly (lessons).
    """

    def __init__(self, timestamps: bool = True) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {}
        if self.timestamps:
            stamp = datetime.fromtimestamp(record.created, tz=timezone.utc)
            data["time"] = stamp.isoformat(timespec="milliseconds")
        data.update(level=record.levelname, logger=record.name, message=record.getMessage())
        data.update(record_fields(record))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            data["error"] = f"{type(error).__name__}: {error}"
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message key=value ...``: readable, and the fields are still there."""

    def __init__(self, timestamps: bool = True) -> None:
        super().__init__("%(asctime)s " if timestamps else "")
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        head = self.formatTime(record) + " " if self.timestamps else ""
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        line = f"{head}{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            fields = f"{fields} error={type(error).__name__}: {error}".strip()
        return f"{line} {fields}" if fields else line


def configure_logging(
    fmt: str = "text",
    stream: IO[str] | None = None,
    level: int = logging.INFO,
    timestamps: bool = True,
) -> logging.Logger:
    """Send ``exam_pipeline.*`` log records to ``stream`` (default stderr) as text or JSON.

    Calling it again replaces the handler it added before, so a notebook cell can be re-run.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, "_exam_pipeline", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(timestamps) if fmt == "json" else TextFormatter(timestamps))
    handler._exam_pipeline = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    return logger


def reset_logging() -> None:
    """Remove the handler :func:`configure_logging` added (tests and the CLI clean up with it)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, "_exam_pipeline", False)]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


# ---------------------------------------------------------------- metrics (prometheus_client)


class PipelineMetrics:
    """The run's metrics in a private registry (a second run or a test never collides).

    ``rows_processed``: rows read by cleaning; ``rows_rejected``: rows quarantined, by reason;
    ``step_duration_seconds``: a histogram per step; ``step_failures``: steps that raised.
    """

    def __init__(self, namespace: str = "exam_pipeline") -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.rows_processed = Counter(
            "rows_processed", "Rows read by the cleaning step.", namespace=namespace,
            registry=self.registry,
        )
        self.rows_rejected = Counter(
            "rows_rejected", "Rows sent to the quarantine file, by reason.", ["reason"],
            namespace=namespace, registry=self.registry,
        )
        self.step_seconds = Histogram(
            "step_duration_seconds", "Wall time of each pipeline step.", ["step"],
            namespace=namespace, registry=self.registry,
            buckets=(0.001, 0.01, 0.1, 1.0, 10.0, 60.0),
        )
        self.step_failures = Counter(
            "step_failures", "Steps that raised an error.", ["step"], namespace=namespace,
            registry=self.registry,
        )
        self.namespace = namespace

    def record_rows(self, processed: int, rejected_by_reason: Mapping[str, int]) -> None:
        """Count one batch of cleaned rows and the reasons of those rejected."""
        self.rows_processed.inc(processed)
        for reason, count in rejected_by_reason.items():
            self.rows_rejected.labels(reason=reason).inc(count)

    def value(self, name: str, **labels: str) -> float:
        """The current value of a sample, e.g. ``value("rows_rejected_total", reason="missing score")``."""
        found = self.registry.get_sample_value(f"{self.namespace}_{name}", labels)
        return 0.0 if found is None else float(found)

    def exposition(self) -> str:
        """The text Prometheus would scrape."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint on 127.0.0.1; stop it with :meth:`stop` (or use ``with``)."""

    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and free the port (safe to call twice)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_metrics(metrics: PipelineMetrics, port: int = 0) -> MetricsServer:
    """Expose ``metrics`` at ``http://127.0.0.1:PORT/metrics`` (port 0: any free port).

    Loopback only: a lesson or a test must never open a port to the network.
    """
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    return MetricsServer(port=int(server.server_port), _server=server, _thread=thread)


def scrape(url: str, timeout: float = 2.0) -> str:
    """GET a ``/metrics`` page as Prometheus would."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


def sample_lines(text: str, names: Iterable[str]) -> list[str]:
    """The sample lines of the exposition ``text`` whose metric name is in ``names``.

    Comment lines and ``_created`` timestamps are left out, so the result repeats exactly.
    """
    wanted = tuple(names)
    lines = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        metric = line.split("{", 1)[0].split(" ", 1)[0]
        if metric in wanted:
            lines.append(line)
    return lines


# ---------------------------------------------------------------- tracing (OpenTelemetry SDK)


def memory_tracer(service: str = "exam-pipeline") -> tuple[Any, Any]:
    """A TracerProvider whose finished spans stay in memory: ``(provider, exporter)``.

    ``exporter.get_finished_spans()`` lists them. Nothing global is set, so each call is separate.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def console_tracer(service: str = "exam-pipeline", out: IO[str] | None = None) -> Any:
    """A TracerProvider that prints each finished span as JSON (ids and times included)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out or sys.stdout)))
    return provider


def span_summary(spans: Iterable[Any]) -> list[str]:
    """``name [parent] status {attributes}`` per span, without ids or times (stable to print)."""
    spans = list(spans)
    names = {span.context.span_id: span.name for span in spans}
    lines = []
    for span in spans:
        parent = names.get(span.parent.span_id, "?") if span.parent is not None else "-"
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(span.attributes.items()))
        lines.append(f"{span.name} [parent: {parent}] {span.status.status_code.name} {{{attrs}}}")
    return lines
