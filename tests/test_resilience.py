"""The flaky loopback source and the tenacity reader: retries transient errors, gives up clearly."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import pytest

from exam_pipeline.resilience import (
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
    with caplog.at_level(logging.WARNING, logger="exam_pipeline.resilience"):
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
