"""Monitoring: JSON/text logs, Prometheus metrics (hook and /metrics endpoint), OpenTelemetry spans."""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
import urllib.error
import urllib.request

import pytest

from exam_pipeline import engines
from exam_pipeline.core.config import RunConfig
from exam_pipeline.engines import framework
from exam_pipeline.engines.framework import Pipeline, StepFailed, exam_pipeline
from exam_pipeline.engines.monitoring import (
    JsonFormatter,
    MetricsHook,
    PipelineMetrics,
    TextFormatter,
    TracingHook,
    configure_logging,
    console_tracer,
    memory_tracer,
    reset_logging,
    sample_lines,
    scrape,
    serve_metrics,
    span_summary,
)
from support.processes import free_port

MESSY = "Class,Score\nA,65\nA,70\nA,absent\nA,68\nB,78\nB,\n,80\nB,82\nA,72\nB,eighty\nB,79\nA,66\nB,81\n"
STEPS = ["Load", "Clean", "Analyze", "Report"]


@pytest.fixture
def messy_config(write_csv, tmp_path):
    return RunConfig(
        input=write_csv(MESSY), out=tmp_path / "out", db="none", engine="steps"
    ).checked()


@pytest.fixture(autouse=True)
def _no_leftover_handlers():
    yield
    reset_logging()


def record(message="step Clean: 13 rows in, 9 rows out", **extra):
    rec = logging.LogRecord(
        "exam_pipeline.engines.framework", logging.INFO, __file__, 1, message, None, None
    )
    rec.__dict__.update(extra)
    return rec


# ---------------------------------------------------------------- logging


def test_json_formatter_gives_one_object_with_the_extra_fields():
    rec = record(step="Clean", rows_in=13, rows_out=9, seconds=0.01, event=None)
    data = json.loads(JsonFormatter().format(rec))
    assert data["time"].endswith("+00:00")
    assert {k: data[k] for k in ("level", "logger", "message", "step", "rows_in", "rows_out")} == {
        "level": "INFO",
        "logger": "exam_pipeline.engines.framework",
        "message": "step Clean: 13 rows in, 9 rows out",
        "step": "Clean",
        "rows_in": 13,
        "rows_out": 9,
    }
    assert "event" not in data  # None fields are left out
    stable = json.loads(JsonFormatter(timestamps=False, drop=("seconds",)).format(rec))
    assert "time" not in stable and "seconds" not in stable


def test_json_formatter_records_the_error():
    try:
        raise ValueError("bad row")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert json.loads(JsonFormatter().format(rec))["error"] == "ValueError: bad row"


def test_text_formatter_appends_key_values():
    line = TextFormatter(timestamps=False).format(record(step="Clean", rows_out=9))
    assert (
        line
        == "INFO exam_pipeline.engines.framework: step Clean: 13 rows in, 9 rows out step=Clean rows_out=9"
    )


def test_configure_logging_replaces_its_handler_and_rejects_unknown_formats():
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", first, timestamps=False)
    configure_logging("json", second, timestamps=False)
    logging.getLogger("exam_pipeline.test").info("hello", extra={"n": 1})
    assert first.getvalue() == ""
    assert json.loads(second.getvalue()) == {
        "level": "INFO",
        "logger": "exam_pipeline.test",
        "message": "hello",
        "n": 1,
    }
    with pytest.raises(ValueError, match="log format must be one of text, json"):
        configure_logging("xml")


def test_pipeline_logs_are_structured(messy_config):
    stream = io.StringIO()
    configure_logging("json", stream, timestamps=False, drop=("seconds",))
    exam_pipeline(messy_config, show_progress=False).run(messy_config.source)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ends = [
        (d["step"], d.get("rows_in"), d.get("rows_out"))
        for d in lines
        if d.get("event") == "end" and "step" in d
    ]
    assert ends == [
        ("Load", None, 13),
        ("Clean", 13, 9),
        ("Analyze", 9, None),
        ("Report", None, None),
    ]


# ---------------------------------------------------------------- metrics


def test_metrics_hook_counts_rows_reasons_and_steps(messy_config):
    hook = MetricsHook()
    engines.run(messy_config, hooks=[hook])
    metrics = hook.metrics
    assert metrics.value("rows_processed_total") == 13
    assert metrics.value("rows_rejected_total", reason="non-numeric score") == 2
    assert metrics.value("rows_rejected_total", reason="missing score") == 1
    assert metrics.value("rows_rejected_total", reason="missing group") == 1
    for step in STEPS:
        assert metrics.value("step_duration_seconds_count", step=step) == 1
        assert metrics.value("step_duration_seconds_sum", step=step) > 0
    assert metrics.value("step_failures_total", step="Load") == 0


def test_metrics_hook_counts_failures_and_retries():
    calls = {"n": 0}

    def flaky(data):
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("source down")
        return data

    def broken(data):
        raise ValueError("no good")

    hook = MetricsHook()
    Pipeline([framework.FunctionStep(flaky, retries=2)], hooks=[hook]).run([1])
    with pytest.raises(StepFailed, match="step 'broken' failed"):
        Pipeline([broken], hooks=[hook]).run([1])
    assert hook.metrics.value("step_retries_total", step="flaky") == 2
    assert hook.metrics.value("step_failures_total", step="broken") == 1
    assert hook.metrics.value("step_duration_seconds_count", step="broken") == 0


def test_metrics_endpoint_serves_on_loopback_and_stops():
    metrics = PipelineMetrics()
    metrics.record_rows(10, {"missing score": 3})
    server = serve_metrics(metrics)
    try:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        text = scrape(server.url)
    finally:
        server.stop()
    assert sample_lines(
        text, ["exam_pipeline_rows_processed_total", "exam_pipeline_rows_rejected_total"]
    ) == [
        "exam_pipeline_rows_processed_total 10.0",
        'exam_pipeline_rows_rejected_total{reason="missing score"} 3.0',
    ]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=1)
    server.stop()  # twice is harmless


def test_each_metrics_object_has_its_own_registry():
    a, b = PipelineMetrics(), PipelineMetrics()
    a.record_rows(5, {})
    assert (a.value("rows_processed_total"), b.value("rows_processed_total")) == (5, 0)


# ---------------------------------------------------------------- tracing


def test_one_span_per_step_under_a_run_span(messy_config):
    provider, exporter = memory_tracer()
    hook = TracingHook(provider)
    pipeline = exam_pipeline(messy_config, hooks=[hook], show_progress=False)
    with hook.run_span(pipeline.name):
        pipeline.run(messy_config.source)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [*STEPS, "exam-scores"]
    root = spans[-1]
    assert all(
        s.parent is not None and s.parent.span_id == root.context.span_id for s in spans[:-1]
    )
    assert len({s.context.trace_id for s in spans}) == 1
    assert (
        span_summary(spans)[1]
        == "Clean [parent: exam-scores] OK {rows.in=13, rows.out=9, rows.rejected=4}"
    )
    assert spans[0].resource.attributes["service.name"] == "exam-pipeline"


def test_failed_step_span_has_error_status_and_the_exception():
    provider, exporter = memory_tracer()

    def explode(data):
        raise ValueError("boom")

    with pytest.raises(StepFailed):
        Pipeline([lambda d: d, explode], hooks=[TracingHook(provider)]).run([1, 2])
    first, failed = exporter.get_finished_spans()
    assert first.status.status_code.name == "OK"
    assert failed.name == "explode" and failed.status.status_code.name == "ERROR"
    assert failed.status.description == "ValueError: boom"
    assert [e.name for e in failed.events] == ["exception"]
    assert failed.attributes["rows.in"] == 2


def test_console_tracer_prints_each_finished_span_as_json():
    out = io.StringIO()
    provider = console_tracer(out=out)
    Pipeline([lambda d: d[:1]], name="tiny", hooks=[TracingHook(provider)]).run([1, 2, 3])
    provider.force_flush()
    span = json.loads(out.getvalue())
    assert span["name"] == "<lambda>"
    assert span["attributes"] == {"rows.in": 3, "rows.out": 1}
    assert span["resource"]["attributes"]["service.name"] == "exam-pipeline"


def test_retries_are_span_events():
    provider, exporter = memory_tracer()
    attempts = {"n": 0}

    def once_broken(data):
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise TimeoutError("slow source")
        return data

    Pipeline([framework.FunctionStep(once_broken, retries=1)], hooks=[TracingHook(provider)]).run(
        [1]
    )
    (span,) = exporter.get_finished_spans()
    assert [(e.name, dict(e.attributes)) for e in span.events] == [
        ("retry", {"attempt": 1, "error": "TimeoutError: slow source"})
    ]


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize("engine", ["pandas", "steps"])
def test_log_format_json_lines_parse(engine, run_cli, write_csv, tmp_path):
    path = write_csv(MESSY)
    code, stdout, err = run_cli(
        "run",
        "--input",
        path,
        "--out",
        tmp_path / "o",
        "--db",
        "none",
        "--engine",
        engine,
        "--log-format",
        "json",
    )
    assert code == 0, err
    lines = [json.loads(line) for line in err.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(d) for d in lines)
    assert lines[0]["message"] == "run: start" and lines[0]["engine"] == engine
    assert (
        lines[-1]["message"] == "run: done, 13 rows read, 4 rejected"
        and lines[-1]["rows_rejected"] == 4
    )
    if engine == "steps":
        assert [d["step"] for d in lines if d.get("event") == "end" and "step" in d] == STEPS
    assert "Conclusion" in stdout and "{" not in stdout


def test_log_format_text_and_no_logs_by_default(run_cli, write_csv, tmp_path):
    path = write_csv(MESSY)
    code, _, err = run_cli(
        "run", "--input", path, "--out", tmp_path / "o", "--db", "none", "--log-format", "text"
    )
    assert code == 0
    assert "INFO exam_pipeline.engines.monitoring: run: done, 13 rows read, 4 rejected" in err
    code, _, err = run_cli("run", "--input", path, "--out", tmp_path / "o", "--db", "none")
    assert code == 0 and err == ""
    assert not logging.getLogger("exam_pipeline").handlers or all(
        not getattr(h, "_exam_pipeline", False) for h in logging.getLogger("exam_pipeline").handlers
    )


def test_bad_log_format_is_a_usage_error(run_cli, tmp_path):
    with pytest.raises(SystemExit) as info:
        run_cli("run", "--out", tmp_path / "o", "--log-format", "xml")
    assert info.value.code == 2


def test_metrics_port_serves_during_the_run_and_closes(run_cli, write_csv, tmp_path, monkeypatch):
    port = free_port()
    seen: list[str] = []
    original = framework.Analyze.run

    def scrape_then_analyze(self, data):
        seen.append(scrape(f"http://127.0.0.1:{port}/metrics"))
        return original(self, data)

    monkeypatch.setattr(framework.Analyze, "run", scrape_then_analyze)
    path = write_csv(MESSY)
    code, _, err = run_cli(
        "run",
        "--input",
        path,
        "--out",
        tmp_path / "o",
        "--db",
        "none",
        "--engine",
        "steps",
        "--metrics-port",
        port,
    )
    assert code == 0, err
    assert f"serving http://127.0.0.1:{port}/metrics during the run" in err  # text logs by default
    (text,) = seen
    assert sample_lines(
        text, ["exam_pipeline_rows_processed_total", "exam_pipeline_step_duration_seconds_count"]
    ) == [
        "exam_pipeline_rows_processed_total 13.0",
        'exam_pipeline_step_duration_seconds_count{step="Load"} 1.0',
        'exam_pipeline_step_duration_seconds_count{step="Clean"} 1.0',
    ]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)


@pytest.mark.parametrize("engine", ["pandas", "stream", "steps"])
def test_the_run_path_counts_rows_once_from_what_the_engine_knew(messy_config, engine, monkeypatch):
    """Rows read and rejected come from the Analysis: rejected.csv is never read back."""
    import pandas as pd

    metrics = PipelineMetrics()
    config = RunConfig(input=messy_config.input, out=messy_config.out, db="none", engine=engine)
    real_read_csv = pd.read_csv

    def no_rejected_csv(path, *args, **kwargs):
        assert "rejected.csv" not in str(path), "the run path read rejected.csv back"
        return real_read_csv(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", no_rejected_csv)
    report = engines.run(config, metrics=metrics)
    assert report["rows_dropped"] == 4
    assert metrics.value("rows_processed_total") == 13
    assert metrics.value("rows_rejected_total", reason="non-numeric score") == 2
    assert metrics.value("rows_rejected_total", reason="missing group") == 1


def test_metrics_port_in_use_is_one_clear_line(run_cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_cli(
            "run", "--out", tmp_path / "o", "--db", "none", "--metrics-port", port
        )
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(
        f"exam-pipeline: error: --metrics-port {port}: cannot listen on 127.0.0.1"
    )
    assert not (tmp_path / "o").exists()
