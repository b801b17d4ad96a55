"""Lesson 06 helpers: the seeded flaky source, retries, the file-based cache key, log helpers.

The plain logic is tested without Prefect; the retry and cache tests run real (small) flows
against whatever Prefect API the session provides (``PREFECT_API_URL``, or a temporary server).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from exam_pipeline.prefect_settings import StdoutHandler, configure

configure()  # before Prefect is imported: quiet, offline settings

from prefect import flow  # noqa: E402
from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings  # noqa: E402

from exam_pipeline.data import dataset_path  # noqa: E402
from exam_pipeline.prefect_resilience import (  # noqa: E402
    NoTraceback,
    attempt_fails,
    attempts_needed,
    cached_clean,
    file_cache_key,
    file_fingerprint,
    flaky_read_scores,
    hide_tracebacks,
    resilient_exam,
    sorted_output,
)

#: A seed whose first success is attempt 4, and one that needs more than 1 + 5 retries.
LUCKY_ON_4, NEVER_IN_6 = 22, 18


# --- the seeded coin, without Prefect ---------------------------------------------------------


def test_first_attempt_always_fails_and_answers_repeat():
    for seed in range(50):
        assert attempt_fails(seed, 1)
        assert [attempt_fails(seed, a) for a in range(2, 8)] == [
            attempt_fails(seed, a) for a in range(2, 8)
        ]


def test_attempts_needed_is_the_first_attempt_that_passes():
    for seed in range(50):
        needed = attempts_needed(seed)
        assert needed >= 2
        assert all(attempt_fails(seed, a) for a in range(1, needed))
        assert not attempt_fails(seed, needed)
    assert attempts_needed(LUCKY_ON_4) == 4
    assert attempts_needed(NEVER_IN_6) > 6


def test_failure_rate_is_roughly_honoured_and_checked():
    later = [attempt_fails(seed, 2, failure_rate=0.2) for seed in range(1_000)]
    assert 0.1 < sum(later) / len(later) < 0.3
    assert attempts_needed(7, failure_rate=0.0) == 2
    with pytest.raises(ValueError, match="failure_rate"):
        attempt_fails(1, 2, failure_rate=1.0)
    with pytest.raises(RuntimeError, match="fails 1 times"):
        attempts_needed(1, limit=1)


# --- retries with task_run.run_count ------------------------------------------------------------


@flow(flow_run_name="test-retries")
def read_with(seed: int, retries: int) -> str:
    """The flaky reader with ``retries`` retries and no waiting; the final state's name."""
    task = flaky_read_scores.with_options(retries=retries, retry_delay_seconds=0)
    state = task(dataset_path(), seed=seed, return_state=True)
    if state.is_completed():
        raw, fmt = state.result()
        assert len(raw) == 10 and fmt.decimal == "."
    return state.name


def test_retries_succeed_exactly_on_the_predicted_attempt():
    needed = attempts_needed(LUCKY_ON_4)
    assert read_with(LUCKY_ON_4, retries=needed - 1) == "Completed"
    assert read_with(LUCKY_ON_4, retries=needed - 2) == "Failed"


def test_resilient_exam_reports_the_lesson_figures():
    assert resilient_exam(seed=LUCKY_ON_4) == {"mean_A": 68.2, "mean_B": 80.0, "p": 0.00016}


def test_resilient_exam_fails_when_retries_run_out():
    state = resilient_exam(seed=NEVER_IN_6, return_state=True)
    assert state.is_failed()
    assert "did not answer" in str(state.message)


# --- caching keyed on the file ------------------------------------------------------------------


def test_file_cache_key_follows_size_and_mtime_not_contents(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("Class,Score\nA,65\n", encoding="utf-8")
    key = file_cache_key(None, {"path": path})
    assert key == file_cache_key(None, {"path": str(path)}) == file_fingerprint(path)
    stat = path.stat()
    path.write_text("Class,Score\nA,66\n", encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same modification time
    assert file_cache_key(None, {"path": path}) == key, "the contents are never read"
    path.write_text("Class,Score\nA,65\nB,80\n", encoding="utf-8")
    assert file_cache_key(None, {"path": path}) != key


@flow(flow_run_name="test-cache")
def clean_twice_then_change(path: str) -> list[str]:
    """States of: a cold call, a call on the unchanged file, a call after the file changed."""
    names = [cached_clean(path, return_state=True).name for _ in range(2)]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("B,77\n")
    state = cached_clean(path, return_state=True)
    rows = len(state.result().frame)
    return [*names, state.name, str(rows)]


def test_cached_clean_hits_on_an_unchanged_file_and_misses_after_a_change(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_bytes(dataset_path().read_bytes())
    results = tmp_path / "results"
    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: results}):
        assert clean_twice_then_change(str(path)) == ["Completed", "Cached", "Completed", "11"]
        # a new flow run on the unchanged file is served from the stored result
        assert clean_again(str(path)) == "Cached"
    assert any(results.iterdir()), "caching persists results"


@flow(flow_run_name="test-cache-again")
def clean_again(path: str) -> str:
    return cached_clean(path, return_state=True).name


# --- log helpers --------------------------------------------------------------------------------


def test_sorted_output_keeps_flow_lines_at_the_ends(capsys):
    with sorted_output():
        print("INFO flow f: Beginning flow run 'f' for flow 'f'")
        print("INFO task b: Finished in state Completed()")
        print("INFO flow f: Finished in state Completed()")
        print("INFO task a: Finished in state Completed()")
    assert capsys.readouterr().out.splitlines() == [
        "INFO flow f: Beginning flow run 'f' for flow 'f'",
        "INFO task a: Finished in state Completed()",
        "INFO task b: Finished in state Completed()",
        "INFO flow f: Finished in state Completed()",
    ]


def test_no_traceback_filter_drops_only_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert NoTraceback().filter(record)
    assert record.exc_info is None and record.getMessage() == "failed"


def test_hide_tracebacks_adds_the_filter_once():
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, StdoutHandler)]
    assert consoles, "the course logging config puts a StdoutHandler on the root logger"
    hide_tracebacks()
    assert hide_tracebacks() == 0
    for handler in consoles:
        assert sum(isinstance(f, NoTraceback) for f in handler.filters) == 1


# --- heartbeats: off for the runs this process starts -------------------------------------------


def test_configure_switched_heartbeats_off_and_a_refresh_keeps_them_off(monkeypatch):
    """configure() above: no heartbeat thread to wait for at the end of each flow run."""
    from prefect.settings import get_current_settings

    from exam_pipeline import prefect_settings

    assert get_current_settings().flows.heartbeat_frequency is None
    monkeypatch.setenv("PREFECT_TASKS_DEFAULT_RETRIES", "2")  # any change a refresh must see
    prefect_settings.refresh()
    try:
        settings = get_current_settings()
        assert settings.tasks.default_retries == 2
        assert settings.flows.heartbeat_frequency is None
    finally:
        monkeypatch.undo()
        prefect_settings.refresh()
    assert get_current_settings().tasks.default_retries == 0


def test_heartbeats_stay_on_when_asked_for_set_or_in_a_deployment_run():
    code = (
        "import os\n"
        "from exam_pipeline.prefect_settings import configure, refresh\n"
        "configure(heartbeats=True)\n"
        "from prefect.settings import get_current_settings\n"
        "print(get_current_settings().flows.heartbeat_frequency)\n"
        "os.environ['PREFECT_FLOWS_HEARTBEAT_FREQUENCY'] = '60'\n"
        "refresh()\n"
        "configure()\n"
        "print(get_current_settings().flows.heartbeat_frequency)\n"
        "del os.environ['PREFECT_FLOWS_HEARTBEAT_FREQUENCY']\n"
        "os.environ['PREFECT__FLOW_RUN_ID'] = '0b5e55ed-0000-4000-8000-000000000000'\n"
        "refresh()\n"
        "configure()  # as a served flow's script does, in the process of a scheduled run\n"
        "print(get_current_settings().flows.heartbeat_frequency)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["180", "60", "180"]
