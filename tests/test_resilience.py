"""The flaky loopback source and the tenacity reader: retries transient errors, gives up clearly."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import pytest

from exam_pipeline.core.report import read_report
from exam_pipeline.lessons.resilience import (
    FlakyPlan,
    FlakyServer,
    SourceError,
    SourceUnavailable,
    TransientSourceError,
    fetch_text,
    fetch_with_retries,
    read_scores_url,
)

LESSON_CSV = "Class,Score\nA,65\nA,70\nA,68\nA,72\nA,66\nB,78\nB,82\nB,80\nB,79\nB,81\n"


@pytest.fixture
def flaky():
    """Start FlakyServer(**kwargs) on a free loopback port; always stopped afterwards."""
    servers: list[FlakyServer] = []

    def _start(**kwargs) -> FlakyServer:
        server = FlakyServer(**kwargs)
        servers.append(server)
        return server.start()

    try:
        yield _start
    finally:
        for server in servers:
            server.stop()


def test_plan_is_deterministic_given_a_seed():
    first, second = FlakyPlan(0.5, seed=7), FlakyPlan(0.5, seed=7)
    a = [first.next_status() for _ in range(20)]
    assert a == [second.next_status() for _ in range(20)]
    assert set(a) == {200, 503}
    assert [FlakyPlan(0.5, seed=8).next_status() for _ in range(20)] != a


def test_fail_first_and_rate_bounds():
    plan = FlakyPlan(0.0, fail_first=2)
    assert [plan.next_status() for _ in range(4)] == [503, 503, 200, 200]
    with pytest.raises(ValueError, match="failure_rate"):
        FlakyPlan(1.5)


def test_server_serves_on_loopback_and_stops(flaky):
    server = flaky(failure_rate=0.0)
    assert server.url.startswith("http://127.0.0.1:")
    assert fetch_text(server.url) == LESSON_CSV
    url = server.url
    server.stop()
    assert not server.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=1)
    server.stop()  # stopping twice is harmless


def test_single_attempt_surfaces_a_transient_error(flaky):
    server = flaky(fail_first=1, failure_rate=0.0)
    with pytest.raises(TransientSourceError, match="HTTP 503"):
        fetch_text(server.url)


def test_retrying_reader_succeeds_within_attempts(flaky, caplog):
    server = flaky(fail_first=2, failure_rate=0.0)
    with caplog.at_level(logging.WARNING, logger="exam_pipeline.lessons.resilience"):
        result = fetch_with_retries(server.url, attempts=4, wait_initial=0.001)
    assert result.text == LESSON_CSV
    assert result.attempts == 3
    assert server.plan.outcomes == [503, 503, 200]
    assert [r.getMessage() for r in caplog.records] == [
        "attempt 1 failed (HTTP 503 Service Unavailable); retrying",
        "attempt 2 failed (HTTP 503 Service Unavailable); retrying",
    ]


@pytest.mark.parametrize("seed", range(5))
def test_seeded_flaky_source_is_read_within_n_attempts(flaky, seed):
    server = flaky(failure_rate=0.3, seed=seed)
    result = fetch_with_retries(server.url, attempts=8, wait_initial=0.001)
    assert result.text == LESSON_CSV
    assert 1 <= result.attempts <= 8
    assert server.plan.outcomes[-1] == 200 and len(server.plan.outcomes) == result.attempts


def test_gives_up_with_a_clear_error(flaky):
    server = flaky(failure_rate=1.0)
    with pytest.raises(SourceUnavailable) as info:
        fetch_with_retries(server.url, attempts=3, wait_initial=0.001)
    assert str(info.value) == (
        f"{server.url}: gave up after 3 attempts; last error: HTTP 503 Service Unavailable"
    )
    assert server.requests == 3
    assert isinstance(info.value.__cause__, TransientSourceError)


def test_permanent_errors_are_not_retried(flaky):
    server = flaky(failure_rate=0.0)
    missing = server.url.replace("/scores.csv", "/nope.csv")
    with pytest.raises(SourceError, match="HTTP 404") as info:
        fetch_with_retries(missing, attempts=5, wait_initial=0.001)
    assert not isinstance(info.value, TransientSourceError)
    assert server.requests == 0  # the 404 path never reaches the failure plan


def test_refused_connection_is_transient_and_retried(flaky):
    server = flaky(failure_rate=0.0)
    url = server.url
    server.stop()
    with pytest.raises(SourceUnavailable, match="gave up after 2 attempts"):
        fetch_with_retries(url, attempts=2, wait_initial=0.001)


def test_read_scores_url_gives_raw_text_columns(flaky):
    server = flaky(failure_rate=0.5, seed=1)
    frame = read_scores_url(server.url)
    assert list(frame.columns) == ["Class", "Score"]
    assert frame["Score"].tolist()[:3] == ["65", "70", "68"]


# ---------------------------------------------------------------- per-record errors: the quarantine

MESSY = "Class,Score\nA,65\nA,70\nA,absent\nA,68\nB,78\nB,\n,80\nB,82\nA,72\nB,eighty\nB,79\nA,66\nB,81\n"
QUARANTINE = [
    "line,group,score,reason",
    "4,A,absent,non-numeric score",
    "7,B,,missing score",
    "8,,80,missing group",
    "11,B,eighty,non-numeric score",
]
OUTPUTS = ("report.json", "report.md", "scores_boxplot.png", "rejected.csv")


@pytest.mark.parametrize("engine", ["pandas", "steps"])
def test_bad_rows_go_to_rejected_csv_with_a_reason(engine, run_cli, write_csv, tmp_path):
    out = tmp_path / "o"
    code, stdout, err = run_cli(
        "run", "--input", write_csv(MESSY), "--out", out, "--db", "none", "--engine", engine
    )
    assert code == 0, err
    assert (out / "rejected.csv").read_text(encoding="utf-8").splitlines() == QUARANTINE
    report = read_report(out / "report.json")
    assert (report["rows_read"], report["rows_dropped"]) == (13, 4)
    kept = sum(g["n"] for g in report["groups"].values())
    assert kept + report["rows_dropped"] == report["rows_read"]  # nothing vanished silently
    assert "rows dropped while cleaning: 4" in stdout


# ---------------------------------------------------------------- testing the pipeline as a whole


def test_running_twice_gives_the_same_outputs(run_cli, write_csv, tmp_path):
    path, out = write_csv(MESSY), tmp_path / "o"
    assert run_cli("run", "--input", path, "--out", out, "--db", "none")[0] == 0
    first = {name: (out / name).read_bytes() for name in OUTPUTS}
    assert run_cli("run", "--input", path, "--out", out, "--db", "none")[0] == 0
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == first
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)


@pytest.mark.parametrize("engine", ["pandas", "steps"])
def test_failure_mid_run_leaves_no_output(engine, run_cli, write_csv, tmp_path, monkeypatch):
    """The analysis breaks after loading and cleaning: nothing at all may appear in --out."""
    from exam_pipeline.engines import pipeline

    def broken_ttest(*args, **kwargs):
        raise RuntimeError("simulated crash in the t-test")

    monkeypatch.setattr(pipeline, "compare", broken_ttest)
    out = tmp_path / "o"
    code, _, err = run_cli(
        "run", "--input", write_csv(MESSY), "--out", out, "--db", "none", "--engine", engine
    )
    assert code == 2 and err.count("\n") == 1, err  # one line, as for bad input
    assert err.startswith(f"exam-pipeline: error: --engine {engine} failed: ")
    assert "simulated crash in the t-test" in err
    assert not out.exists() or list(out.iterdir()) == []


def test_crash_while_writing_keeps_the_previous_report_whole(
    run_cli, write_csv, tmp_path, monkeypatch
):
    """A disk error half-way through writing report.md: the old report stays, no temp file stays."""
    import pathlib

    out = tmp_path / "o"
    assert run_cli("run", "--out", out, "--db", "none")[0] == 0  # a good earlier run
    before = {name: (out / name).read_bytes() for name in ("report.json", "report.md")}
    real_write_text = pathlib.Path.write_text

    def half_then_fail(self, data, *args, **kwargs):
        if self.name.startswith(".report.md."):
            real_write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device (simulated)")
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", half_then_fail)
    code, _, err = run_cli("run", "--input", write_csv(MESSY), "--out", out, "--db", "none")
    assert code == 2 and err.count("\n") == 1 and "No space left on device (simulated)" in err
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no .tmp left behind


def test_atomic_path_moves_the_file_in_only_when_the_block_succeeds(tmp_path):
    from exam_pipeline.core.files import atomic_path, atomic_write_text

    target = tmp_path / "sub" / "report.md"
    assert atomic_write_text(target, "old\n") == target
    with pytest.raises(OSError, match="simulated"), atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("half", encoding="utf-8")
        raise OSError("disk full (simulated)")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["report.md"]  # no temp file left
    with atomic_path(target) as tmp:
        tmp.write_text("new\n", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "new\n"
