"""Lesson 07 helpers: the seeded flaky source, retries, the file-based cache key, log helpers.

The plain logic is tested without Prefect; the retry and cache tests run real (small) flows
against whatever Prefect API the session provides (``PREFECT_API_URL``, or a temporary server).
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
from types import ModuleType, SimpleNamespace

import pytest

from exam_pipeline.engines.prefect_settings import StdoutHandler, configure


@pytest.fixture(scope="module")
def pr() -> ModuleType:
    """``exam_pipeline.lessons.prefect_resilience``, imported by the first test that needs it.

    Not at the top of this file: every xdist worker imports every test file while collecting,
    and importing and configuring Prefect cost about 2 s of CPU, for nothing in the workers
    that never run this file. ``configure()`` comes first: quiet, offline settings before Prefect is imported.
    """
    configure()
    return importlib.import_module("exam_pipeline.lessons.prefect_resilience")


#: A seed whose first success is attempt 4, and one that needs more than 1 + 5 retries.
LUCKY_ON_4, NEVER_IN_6 = 22, 18


# --- the seeded coin: plain functions --------------------------------------------------------


def test_first_attempt_always_fails_and_answers_repeat(pr):
    for seed in range(50):
        assert pr.attempt_fails(seed, 1)
        assert [pr.attempt_fails(seed, a) for a in range(2, 8)] == [
            pr.attempt_fails(seed, a) for a in range(2, 8)
        ]


def test_attempts_needed_is_the_first_attempt_that_passes(pr):
    for seed in range(50):
        needed = pr.attempts_needed(seed)
        assert needed >= 2
        assert all(pr.attempt_fails(seed, a) for a in range(1, needed))
        assert not pr.attempt_fails(seed, needed)
    assert pr.attempts_needed(LUCKY_ON_4) == 4
    assert pr.attempts_needed(NEVER_IN_6) > 6


def test_failure_rate_is_roughly_honoured_and_checked(pr):
    later = [pr.attempt_fails(seed, 2, failure_rate=0.2) for seed in range(1_000)]
    assert 0.1 < sum(later) / len(later) < 0.3
    assert pr.attempts_needed(7, failure_rate=0.0) == 2
    with pytest.raises(ValueError, match="failure_rate"):
        pr.attempt_fails(1, 2, failure_rate=1.0)
    with pytest.raises(RuntimeError, match="fails 1 times"):
        pr.attempts_needed(1, limit=1)


# --- the test flows: built at first use, like the module they run -------------------------------


@pytest.fixture(scope="module")
def flows(pr) -> SimpleNamespace:
    """Three small flows around the lesson's tasks: retries, and caching across flow runs."""
    from prefect import flow

    from exam_pipeline.core.data import dataset_path

    @flow(flow_run_name="test-retries")
    def read_with(seed: int, retries: int) -> str:
        """The flaky reader with ``retries`` retries and no waiting; the final state's name."""
        task = pr.flaky_read_scores.with_options(retries=retries, retry_delay_seconds=0)
        state = task(dataset_path(), seed=seed, return_state=True)
        if state.is_completed():
            raw, fmt = state.result()
            assert len(raw) == 10 and fmt.decimal == "."
        return state.name

    @flow(flow_run_name="test-cache")
    def clean_twice_then_change(path: str) -> list[str]:
        """States of: a cold call, a call on the unchanged file, a call after the file changed."""
        names = [pr.cached_clean(path, return_state=True).name for _ in range(2)]
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("B,77\n")
        state = pr.cached_clean(path, return_state=True)
        rows = len(state.result().frame)
        return [*names, state.name, str(rows)]

    @flow(flow_run_name="test-cache-again")
    def clean_again(path: str) -> str:
        return pr.cached_clean(path, return_state=True).name

    return SimpleNamespace(
        read_with=read_with,
        clean_twice_then_change=clean_twice_then_change,
        clean_again=clean_again,
    )


# --- retries with task_run.run_count ------------------------------------------------------------


def test_retries_succeed_exactly_on_the_predicted_attempt(pr, flows):
    needed = pr.attempts_needed(LUCKY_ON_4)
    assert flows.read_with(LUCKY_ON_4, retries=needed - 1) == "Completed"
    assert flows.read_with(LUCKY_ON_4, retries=needed - 2) == "Failed"


def test_resilient_exam_reports_the_lesson_figures(pr):
    assert pr.resilient_exam(seed=LUCKY_ON_4) == {"mean_A": 68.2, "mean_B": 80.0, "p": 0.00016}


def test_resilient_exam_fails_when_retries_run_out(pr):
    state = pr.resilient_exam(seed=NEVER_IN_6, return_state=True)
    assert state.is_failed()
    assert "did not answer" in str(state.message)


# --- caching keyed on the file ------------------------------------------------------------------


def test_file_cache_key_follows_size_and_mtime_not_contents(pr, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("Class,Score\nA,65\n", encoding="utf-8")
    key = pr.file_cache_key(None, {"path": path})
    assert key == pr.file_cache_key(None, {"path": str(path)}) == pr.file_fingerprint(path)
    stat = path.stat()
    path.write_text("Class,Score\nA,66\n", encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same modification time
    assert pr.file_cache_key(None, {"path": path}) == key, "the contents are never read"
    path.write_text("Class,Score\nA,65\nB,80\n", encoding="utf-8")
    assert pr.file_cache_key(None, {"path": path}) != key


def test_cached_clean_hits_on_an_unchanged_file_and_misses_after_a_change(flows, tmp_path):
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    from exam_pipeline.core.data import dataset_path

    path = tmp_path / "scores.csv"
    path.write_bytes(dataset_path().read_bytes())
    results = tmp_path / "results"
    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: results}):
        assert flows.clean_twice_then_change(str(path)) == [
            "Completed",
            "Cached",
            "Completed",
            "11",
        ]
        # a new flow run on the unchanged file is served from the stored result
        assert flows.clean_again(str(path)) == "Cached"
    assert any(results.iterdir()), "caching persists results"


# --- log helpers --------------------------------------------------------------------------------


def test_causal_lines_group_each_task_run_under_the_flow_line_before_it(pr):
    first, second = "018f0000-0000-7000-8000-000000000001", "018f0000-0000-7000-8000-000000000002"
    arrived = [  # threads interleaved: the second run logged first
        ("flow: Beginning", None),
        ("flow: serial", None),
        ("t1: failed", first),
        ("t1: Finished Failed", first),
        ("flow: mapped", None),
        ("t3: Finished", second),
        ("t2: raised", first[:-1] + "3"),
        ("t2: Finished Failed", first[:-1] + "3"),
        ("flow: Finished", None),
    ]
    lines = [pr._Line(i, text, run) for i, (text, run) in enumerate(arrived)]
    assert pr.causal_lines(lines) == [
        "flow: Beginning",
        "flow: serial",
        "  t1: failed",
        "  t1: Finished Failed",
        "flow: mapped",
        "  t3: Finished",  # created before t2 (a smaller UUIDv7), so listed first
        "  t2: raised",
        "  t2: Finished Failed",
        "flow: Finished",
    ]


def test_task_run_ids_sort_in_creation_order_inside_the_block_only(pr):
    import prefect.task_runners

    real = prefect.task_runners.uuid7
    with pr._creation_ordered_ids():
        ids = [prefect.task_runners.uuid7() for _ in range(2000)]  # many in one millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i.version == 7 for i in ids)
    assert prefect.task_runners.uuid7 is real


def test_runs_in_order_prints_a_failed_run_cause_before_its_end(pr, capsys):
    from prefect import flow, task

    @task(task_run_name="part-{n}")
    def part(n: int) -> int:
        if n == 1:
            raise ValueError("broken part")
        return n

    @flow(flow_run_name="parts")
    def parts() -> list[str]:
        futures = part.map([0, 1, 2])
        futures.wait()
        return [f.state.name for f in futures]

    pr.hide_tracebacks()  # one line per record
    with pr.runs_in_order():
        assert parts() == ["Completed", "Failed", "Completed"]
    out = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert out[0].startswith("INFO flow parts: Beginning") and "Finished in state" in out[-1]
    tasks = [line.split(":")[0].split()[-1] for line in out[1:-1]]
    assert tasks == sorted(tasks, key=lambda name: int(name.split("-")[1])), out
    broken = [line for line in out if "part-1" in line]
    assert "exception" in broken[0] and "Finished in state Failed" in broken[-1], broken


def test_no_traceback_filter_drops_only_the_traceback(pr):
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert pr.NoTraceback().filter(record)
    assert record.exc_info is None and record.getMessage() == "failed"


def test_hide_tracebacks_adds_the_filter_once(pr):
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, StdoutHandler)]
    assert consoles, "the course logging config puts a StdoutHandler on the root logger"
    pr.hide_tracebacks()
    assert pr.hide_tracebacks() == 0
    for handler in consoles:
        assert sum(isinstance(f, pr.NoTraceback) for f in handler.filters) == 1


# --- heartbeats: off for the runs this process starts -------------------------------------------


def test_configure_switched_heartbeats_off_and_a_refresh_keeps_them_off(pr, monkeypatch):
    """configure(), called by the ``pr`` fixture: no heartbeat thread to wait for at the end of
    each flow run."""
    from prefect.settings import get_current_settings

    from exam_pipeline.engines import prefect_settings

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
        "from exam_pipeline.engines.prefect_settings import configure, refresh\n"
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
