"""Seeing a run from outside: structured logs, Prometheus metrics and OpenTelemetry traces.

Three independent pieces, all optional and all free of side effects until called:

* :func:`configure_logging` sends the package's log records to a stream as plain text or as one
  JSON object per line (what log collectors such as Loki or Elasticsearch ingest);
* :class:`MetricsHook` counts rows processed and rejected and times each step in a private
  ``prometheus_client`` registry; :func:`serve_metrics` exposes it on ``127.0.0.1/metrics``;
* :class:`TracingHook` opens one OpenTelemetry span per step; :func:`memory_tracer` keeps the
  finished spans in memory (lessons, tests), :func:`console_tracer` prints them.

The hooks plug into :class:`exam_pipeline.engines.framework.Pipeline`, so the steps themselves never
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
from datetime import UTC, datetime
from typing import IO, Any

from exam_pipeline.core.analysis import Analysis
from exam_pipeline.core.clean import CleanResult
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.framework import StepHook, count_rows

LOGGER_NAME = "exam_pipeline"
LOG_FORMATS: tuple[str, ...] = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is data.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def record_fields(record: logging.LogRecord, drop: Iterable[str] = ()) -> dict[str, Any]:
    """The structured fields a caller attached with ``logger.info(..., extra={...})``.

    Fields whose value is None are left out, and so are the names in ``drop``.
    """
    skip = _STANDARD_ATTRS | set(drop)
    return {
        k: v
        for k, v in vars(record).items()
        if k not in skip and not k.startswith("_") and v is not None
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the ``extra`` fields.

    ``timestamps=False`` leaves out the time and ``drop`` names fields to leave out (e.g.
    ``seconds``), for output that must repeat exactly (lessons).
    """

    def __init__(self, timestamps: bool = True, drop: Iterable[str] = ()) -> None:
        super().__init__()
        self.timestamps = timestamps
        self.drop = tuple(drop)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {}
        if self.timestamps:
            stamp = datetime.fromtimestamp(record.created, tz=UTC)
            data["time"] = stamp.isoformat(timespec="milliseconds")
        data.update(level=record.levelname, logger=record.name, message=record.getMessage())
        data.update(record_fields(record, self.drop))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            data["error"] = f"{type(error).__name__}: {error}"
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message key=value ...``: readable, and the fields are still there."""

    def __init__(self, timestamps: bool = True, drop: Iterable[str] = ()) -> None:
        super().__init__()
        self.timestamps = timestamps
        self.drop = tuple(drop)

    def format(self, record: logging.LogRecord) -> str:
        head = self.formatTime(record) + " " if self.timestamps else ""
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record, self.drop).items())
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
    drop: Iterable[str] = (),
) -> logging.Logger:
    """Send ``exam_pipeline.*`` log records to ``stream`` (default stderr) as text or JSON.

    ``timestamps`` and ``drop`` are passed to the formatter. Calling it again replaces the
    handler it added before, so a notebook cell can be re-run.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, "_exam_pipeline", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    handler.setFormatter(formatter(timestamps, drop))
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
    ``step_duration_seconds``: a histogram per step; ``step_failures`` and ``step_retries``:
    steps that failed for good, and failed attempts that were retried.
    """

    def __init__(self, namespace: str = "exam_pipeline") -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.rows_processed = Counter(
            "rows_processed",
            "Rows read by the cleaning step.",
            namespace=namespace,
            registry=self.registry,
        )
        self.rows_rejected = Counter(
            "rows_rejected",
            "Rows sent to the quarantine file, by reason.",
            ["reason"],
            namespace=namespace,
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "step_duration_seconds",
            "Wall time of each pipeline step.",
            ["step"],
            namespace=namespace,
            registry=self.registry,
            buckets=(0.001, 0.01, 0.1, 1.0, 10.0, 60.0),
        )
        self.step_failures = Counter(
            "step_failures",
            "Steps that failed for good (retries used up).",
            ["step"],
            namespace=namespace,
            registry=self.registry,
        )
        self.step_retries = Counter(
            "step_retries",
            "Failed attempts of a step that were retried.",
            ["step"],
            namespace=namespace,
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


def clean_result_of(result: Any) -> CleanResult | None:
    """The CleanResult inside a step's result (the framework's ``Cleaned`` holds one), if any."""
    if isinstance(result, CleanResult):
        return result
    inner = getattr(result, "result", None)
    return inner if isinstance(inner, CleanResult) else None


class MetricsHook(StepHook):
    """Feed :class:`PipelineMetrics` from a Pipeline run: durations, failures, row counts.

    The rows are counted when the cleaning step ends (``rows_recorded`` says so), so a scrape
    during the rest of the run sees them.
    """

    def __init__(self, metrics: PipelineMetrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else PipelineMetrics()
        self.rows_recorded = False

    def after_step(self, step_name: str, result: Any, seconds: float) -> None:
        self.metrics.step_seconds.labels(step=step_name).observe(seconds)
        cleaned = clean_result_of(result)
        if cleaned is not None:
            self.metrics.record_rows(cleaned.rows_read, cleaned.drop_reasons())
            self.rows_recorded = True

    def on_retry(self, step_name: str, attempt: int, error: BaseException) -> None:
        self.metrics.step_retries.labels(step=step_name).inc()

    def on_error(self, step_name: str, data: Any, error: BaseException) -> None:
        self.metrics.step_failures.labels(step=step_name).inc()


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
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def console_tracer(service: str = "exam-pipeline", out: IO[str] | None = None) -> Any:
    """A TracerProvider that prints each finished span as JSON (ids and times included)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), shutdown_on_exit=False
    )
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


class TracingHook(StepHook):
    """One OpenTelemetry span per step, named after the step, with row counts as attributes.

    Spans started inside :meth:`run_span` become its children, so a whole run is one trace.
    A failed step's span records the exception and ends with status ERROR.
    """

    def __init__(self, provider: Any, name: str = "exam_pipeline") -> None:
        self.tracer = provider.get_tracer(name)
        self._open: dict[str, tuple[Any, object]] = {}

    @contextmanager
    def run_span(self, name: str, **attributes: Any) -> Iterator[Any]:
        """A parent span around a whole run: ``with hook.run_span("exam-scores"): pipeline.run(x)``."""
        with self.tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def before_step(self, step_name: str, data: Any) -> None:
        from opentelemetry import context, trace

        span = self.tracer.start_span(step_name, attributes=_rows("rows.in", data))
        token = context.attach(trace.set_span_in_context(span))
        self._open[step_name] = (span, token)

    def after_step(self, step_name: str, result: Any, seconds: float) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self._close(step_name)
        if span is None:
            return
        span.set_attributes(_rows("rows.out", result))
        cleaned = clean_result_of(result)
        if cleaned is not None:
            span.set_attribute("rows.rejected", cleaned.rows_dropped)
        span.set_status(Status(StatusCode.OK))
        span.end()

    def on_retry(self, step_name: str, attempt: int, error: BaseException) -> None:
        span = self._open.get(step_name, (None, None))[0]
        if span is not None:
            span.add_event(
                "retry", {"attempt": attempt, "error": f"{type(error).__name__}: {error}"}
            )

    def on_error(self, step_name: str, data: Any, error: BaseException) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self._close(step_name)
        if span is None:
            return
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def _close(self, step_name: str) -> Any:
        from opentelemetry import context

        span, token = self._open.pop(step_name, (None, None))
        if token is not None:
            context.detach(token)  # type: ignore[arg-type]  # the token attach() gave
        return span


def _rows(key: str, data: Any) -> dict[str, int]:
    rows = count_rows(data)
    return {} if rows is None else {key: rows}


# ---------------------------------------------------------------- the CLI: --log-format, --metrics-port

log = logging.getLogger(__name__)


def _start_server(metrics: PipelineMetrics, port: int) -> MetricsServer:
    if not 0 <= port <= 65535:
        raise PipelineInputError(f"--metrics-port must be between 0 and 65535, got {port}")
    try:
        return serve_metrics(metrics, port)
    except OSError as exc:
        raise PipelineInputError(
            f"--metrics-port {port}: cannot listen on 127.0.0.1 ({exc.strerror or exc})"
        ) from None


class Observer:
    """What ``engines.run`` measures of one run: the step timings and the rows, then a log line."""

    def __init__(self, config: RunConfig, metrics: PipelineMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.started = time.perf_counter()
        self.hook = MetricsHook(metrics)

    def step_hook(self) -> MetricsHook:
        """The hook that times the steps of an engine that has steps, and counts its rows."""
        return self.hook

    def finished(self, analysis: Analysis) -> None:
        """Count the rows the engine read and rejected (it knows them), and log the end.

        An engine whose cleaning step already counted them through the hook is not counted twice.
        """
        if not self.hook.rows_recorded:
            self.metrics.record_rows(analysis.rows_read, analysis.drop_reasons)
        seconds = time.perf_counter() - self.started
        log.info(
            "run: done, %d rows read, %d rejected",
            analysis.rows_read,
            analysis.rows_dropped,
            extra={
                "engine": self.config.engine,
                "event": "end",
                "rows_read": analysis.rows_read,
                "rows_rejected": analysis.rows_dropped,
                "seconds": round(seconds, 4),
            },
        )


@contextmanager
def observed(
    config: RunConfig,
    metrics: PipelineMetrics | None = None,
    metrics_port: int | None = None,
    log_format: str | None = None,
) -> Iterator[Observer]:
    """The logs and the ``/metrics`` endpoint asked for, for as long as the run lasts.

    The endpoint lives only while the run does (use a Pushgateway for runs shorter than a
    scrape interval); the log handler is removed afterwards.
    """
    if log_format is not None:
        configure_logging(log_format)
    try:
        metrics = metrics if metrics is not None else PipelineMetrics()
        server = _start_server(metrics, metrics_port) if metrics_port is not None else None
        try:
            if server is not None:
                log.info(
                    "metrics: serving %s during the run",
                    server.url,
                    extra={"metrics_url": server.url},
                )
            log.info("run: start", extra={"engine": config.engine, "event": "start"})
            yield Observer(config, metrics)
        finally:
            if server is not None:
                server.stop()
    finally:
        if log_format is not None:
            reset_logging()
