"""The checks of lesson 09's exercises (errors and retries), called from its check cells.

Kept here so that a check cell stays short; each function fails with a sentence
(``checks.CheckFailed``) saying what was expected and what came back, and resets what it
depends on (a fresh decorator, a fresh server, a quarantine file written afresh).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenacity import RetryCallState

from exam_pipeline.course import checks
from exam_pipeline.lessons.resilience import (
    FlakyServer,
    SourceError,
    TransientSourceError,
    fetch_text,
)


def retry_policy(make_decorator: Callable[[], Any]) -> None:
    """09-ex1: 4 attempts at most, transient errors only, the last error re-raised, capped waits."""
    calls: list[str] = []  # every attempt, counted afresh

    def counted_fetch(url: str) -> str:
        calls.append(url)
        return fetch_text(url)

    fetch = make_decorator()(counted_fetch)

    def attempt(fail_first: int, tail: str = "scores.csv") -> tuple[object, int]:
        calls.clear()
        with FlakyServer(failure_rate=0.0, fail_first=fail_first) as server:
            url = server.url.replace("scores.csv", tail)
            try:
                got: object = checks.within(
                    20, fetch, url, what="the retrying fetch", hint="are the waits capped at 0.1 s?"
                )
            except checks.CheckFailed:
                raise
            except Exception as error:  # what the policy let through
                got = error
        return got, len(calls)

    for fail_first in (1, 3):
        got, attempts = attempt(fail_first)
        checks.expect(
            isinstance(got, str) and got.startswith("Class,Score"),
            f"{fail_first} failure(s) then success: expected the CSV text, got {got!r}",
        )
        checks.expect_equal(attempts, fail_first + 1, f"attempts after {fail_first} failure(s)")
    got, attempts = attempt(4)
    checks.expect(
        isinstance(got, TransientSourceError),
        "four failures in a row: expected the last TransientSourceError itself (reraise), "
        f"got {type(got).__name__}: {got}",
    )
    checks.expect_equal(attempts, 4, "attempts when every attempt fails (at most 4 attempts)")
    got, attempts = attempt(0, "nope.csv")
    checks.expect(
        isinstance(got, SourceError) and not isinstance(got, TransientSourceError),
        f"a 404 should raise the permanent SourceError, got {type(got).__name__}: {got}",
    )
    checks.expect_equal(attempts, 1, "attempts for a 404 (a permanent error is not retried)")
    checks.expect(hasattr(fetch, "retry"), "retry_at_most_4() should return tenacity's retry(...)")
    state = RetryCallState(fetch.retry, None, (), {})
    waits = []
    for number in range(1, 7):
        state.attempt_number = number
        waits.append(round(fetch.retry.wait(state), 3))
    checks.expect_equal(waits, [0.01, 0.02, 0.04, 0.08, 0.1, 0.1], "waits after attempts 1-6")


def quarantine_alerts(alert: Callable[..., Any], out: Path) -> None:
    """09-ex2: a quarantine file the lesson has not shown, written afresh; the 5 % boundary."""
    path = out / "alert_check" / "rejected.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        (3, "B", "n/a", "non-numeric score"),
        (9, "A", "?", "non-numeric score"),
        (12, "", "70", "missing group"),
    ]
    text = "".join(f"{line},{group},{score},{reason}\n" for line, group, score, reason in rows)
    path.write_text("line,group,score,reason\n" + text, encoding="utf-8")
    checks.expect_equal(
        alert(path, 40),
        "3 of 40 rows rejected (8%): missing group 1, non-numeric score 2",
        "3 rejected of 40 read (reasons sorted by name)",
    )
    checks.expect_equal(
        alert(path, 60), None, "3 rejected of 60 read: exactly 5 %, not above the threshold"
    )
    checks.expect_equal(
        alert(path, 59),
        "3 of 59 rows rejected (5%): missing group 1, non-numeric score 2",
        "3 rejected of 59 read: just above 5 %",
    )
    checks.expect_equal(alert(path, 6, threshold=0.6), None, "3 of 6 with threshold 0.6")
