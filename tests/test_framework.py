"""The Step/Pipeline framework (lesson 04) and the ``steps`` engine built on it."""

from __future__ import annotations

import logging
import subprocess
import sys

import pandas as pd
import pytest

from exam_pipeline import engines
from exam_pipeline.core.clean import clean_scores
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import generate_scores, read_scores
from exam_pipeline.core.report import read_report
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.framework import (
    LOGGER_NAME,
    Clean,
    FunctionStep,
    Loaded,
    Pipeline,
    Step,
    StepFailed,
    StepHook,
    combine_clean_results,
    count_rows,
    describe_shape,
    exam_pipeline,
    progress,
)
from exam_pipeline.engines.pipeline import run_pipeline


class Double(Step):
    def run(self, data):
        return data * 2


class AddFive(Step):
    """Add five."""

    def run(self, data):
        return data + 5


class Recorder(StepHook):
    """Write every hook call into a list, without durations."""

    def __init__(self):
        self.calls = []

    def before_step(self, step_name, data):
        self.calls.append(("before", step_name, data))

    def after_step(self, step_name, result, seconds):
        assert seconds >= 0
        self.calls.append(("after", step_name, result))

    def on_error(self, step_name, data, error):
        self.calls.append(("error", step_name, type(error).__name__))

    def on_retry(self, step_name, attempt, error):
        self.calls.append(("retry", step_name, attempt))


def flaky(failures: int, exc: type[Exception] = ConnectionError):
    """A function that raises ``failures`` times, then returns its input plus one."""
    state = {"calls": 0}

    def fetch(data):
        state["calls"] += 1
        if state["calls"] <= failures:
            raise exc(f"attempt {state['calls']} failed")
        return data + 1

    return fetch, state


# --------------------------------------------------------------------------- the framework


def test_steps_run_in_order_and_pass_results_on():
    assert Pipeline([Double(), AddFive()]).run(3) == 11
    assert Pipeline([AddFive(), Double()]).run(3) == 16


def test_plain_functions_are_steps_and_names_default_sensibly():
    def halve(x):
        return x / 2

    pipe = Pipeline([Double(), halve, FunctionStep(abs, name="absolute")])
    assert [s.name for s in pipe.steps] == ["Double", "halve", "absolute"]
    assert pipe.run(-3) == 3
    with pytest.raises(TypeError, match="must be a Step or a function"):
        Pipeline([Double(), 42])


def test_hooks_are_called_around_every_step_in_order():
    hook = Recorder()
    Pipeline([Double(), AddFive()], hooks=[hook, StepHook()]).run(3)
    assert hook.calls == [
        ("before", "Double", 3),
        ("after", "Double", 6),
        ("before", "AddFive", 6),
        ("after", "AddFive", 11),
    ]


def test_a_step_that_fails_once_succeeds_on_retry():
    fetch, state = flaky(failures=1)
    hook = Recorder()
    pipe = Pipeline([FunctionStep(fetch, name="Fetch", retries=2), Double()], hooks=[hook])
    assert pipe.run(1) == 4
    assert state["calls"] == 2
    assert hook.calls[:3] == [("before", "Fetch", 1), ("retry", "Fetch", 1), ("after", "Fetch", 2)]


def test_retries_are_a_class_attribute_too():
    calls = []

    class Flaky(Step):
        retries = 1

        def run(self, data):
            calls.append(data)
            if len(calls) == 1:
                raise TimeoutError("slow disk")
            return data

    assert Pipeline([Flaky()]).run("x") == "x" and calls == ["x", "x"]


def test_retries_used_up_raise_step_failed_naming_step_and_input_shape():
    fetch, state = flaky(failures=5, exc=ValueError)
    hook = Recorder()
    frame = pd.DataFrame({"Class": list("AAABBBBBBB"), "Score": range(10)})
    pipe = Pipeline([Double(), FunctionStep(fetch, name="Fetch", retries=2)], hooks=[hook])
    with pytest.raises(StepFailed) as info:
        pipe.run(frame)
    err = info.value
    assert str(err) == (
        "step 'Fetch' failed after 3 attempts on input DataFrame 10 rows x 2 columns: "
        "ValueError: attempt 3 failed"
    )
    assert isinstance(err.__cause__, ValueError) and err.error is err.__cause__
    assert (err.step_name, err.input_shape, err.attempts) == (
        "Fetch",
        "DataFrame 10 rows x 2 columns",
        3,
    )
    assert state["calls"] == 3
    assert hook.calls[-1] == ("error", "Fetch", "ValueError")


def test_step_failed_message_for_a_list_input():
    def boom(items):
        raise KeyError("Score")

    with pytest.raises(
        StepFailed, match=r"^step 'boom' failed on input list of 5 items: KeyError: 'Score'$"
    ):
        Pipeline([boom]).run([1, 2, 3, 4, 5])


def test_input_errors_pass_through_unchanged_and_are_not_retried():
    calls = []

    def check(data):
        calls.append(data)
        raise PipelineInputError("scores.csv: no such file")

    with pytest.raises(PipelineInputError, match="^scores.csv: no such file$"):
        Pipeline([FunctionStep(check, retries=3)]).run(0)
    assert calls == [0]


def test_describe_is_a_dry_run():
    ran = []

    def never(data):
        """Must not run during describe()."""
        ran.append(data)
        return data

    pipe = Pipeline([Double(), AddFive(), FunctionStep(never, retries=2)], name="toy")
    assert pipe.describe() == (
        "pipeline 'toy': 3 steps\n"
        "  1. Double\n"
        "  2. AddFive  Add five.\n"
        "  3. never    Must not run during describe(). (retries: 2)"
    )
    assert ran == []


def test_logging_names_steps_with_row_counts_and_keeps_timings_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    frame = pd.DataFrame({"Score": [1, 2, 3]})
    Pipeline([FunctionStep(lambda df: df[df.Score > 1], name="Filter")], name="p").run(frame)
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info == [
        "pipeline p: start, 1 steps",
        "step Filter: start",
        "step Filter: 3 rows in, 2 rows out",
        "pipeline p: done",
    ]
    end = next(
        r for r in caplog.records if getattr(r, "event", None) == "end" and r.step == "Filter"
    )
    assert (end.rows_in, end.rows_out) == (3, 2) and end.seconds >= 0
    timing = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert timing[0].startswith("step Filter: took ") and timing[0].endswith(" s")


def test_a_given_logger_is_used(caplog):
    caplog.set_level(logging.INFO, logger="mine")
    Pipeline([Double()], logger=logging.getLogger("mine")).run(1)
    assert {r.name for r in caplog.records} == {"mine"}


def test_shape_descriptions_and_row_counts():
    assert describe_shape(pd.DataFrame({"a": [1, 2]})) == "DataFrame 2 rows x 1 columns"
    assert describe_shape(pd.Series([1, 2, 3])) == "Series 3 rows"
    assert describe_shape([1, 2]) == "list of 2 items"
    assert describe_shape({"a": 1}) == "dict with 1 keys"
    assert describe_shape("abc") == "str of 3 characters"
    assert describe_shape(3) == "int" and describe_shape(None) == "None"
    assert [count_rows(x) for x in (pd.DataFrame({"a": [1]}), [1, 2], "abc", {"a": 1}, 3)] == [
        1,
        2,
        None,
        None,
        None,
    ]


def test_stable_progress_prints_a_start_and_an_end_line_only(capsys):
    assert list(progress(range(50), desc="chunks", show=True)) == list(range(50))
    out = capsys.readouterr().out
    first, last = out.split("\r")[1:]  # tqdm redraws by returning to the start of the line
    assert first.startswith("chunks: 0/50 |") and last.startswith("chunks: 50/50 |")
    assert last.endswith("|\n") and "it/s" not in out
    assert list(progress([1, 2], desc="quiet", show=False)) == [1, 2]
    assert list(progress([1, 2], desc="auto")) == [1, 2]  # stderr is not a terminal here
    assert capsys.readouterr() == ("", "")


# --------------------------------------------------------------------------- the steps engine


def read_json(path):
    return read_report(path)


def test_chunked_cleaning_equals_cleaning_at_once(tmp_path):
    path = generate_scores(tmp_path / "messy.csv", rows=2_500, seed=3)
    raw, fmt = read_scores(path)
    whole = clean_scores(raw)
    config = RunConfig(input=path, out=tmp_path / "o")
    chunked = Clean(config, chunk_rows=400, show_progress=False).run(Loaded(raw, fmt)).result
    assert chunked.rows_read == whole.rows_read == 2_500 and whole.rows_dropped > 0
    pd.testing.assert_frame_equal(chunked.frame, whole.frame)
    pd.testing.assert_frame_equal(chunked.rejected, whole.rejected)
    assert combine_clean_results([whole]).rows_read == whole.rows_read


def test_steps_engine_matches_pandas_on_lesson_data(tmp_path):
    report = engines.run(RunConfig(out=tmp_path / "steps", engine="steps"))
    expected = run_pipeline(RunConfig(out=tmp_path / "pandas"))
    assert report["engine"] == "steps"
    assert {**report, "engine": "pandas"} == expected
    on_disk = read_json(tmp_path / "steps" / "report.json")
    assert on_disk == report and on_disk["groups"]["A"]["n"] == 5
    for name in ("report.md", "rejected.csv", "scores_boxplot.png", "results.db"):
        assert (tmp_path / "steps" / name).exists()


def test_steps_engine_matches_pandas_on_messy_data_in_many_chunks(tmp_path):
    path = generate_scores(tmp_path / "messy.csv", rows=3_000, seed=11, effect=1)
    config = RunConfig(
        input=path, out=tmp_path / "steps", engine="steps", db="none", test="student"
    )
    hook = Recorder()
    report = exam_pipeline(config, hooks=[hook], chunk_rows=700, show_progress=False).run(path)
    expected = run_pipeline(
        RunConfig(input=path, out=tmp_path / "pandas", db="none", test="student")
    )
    assert {**report, "engine": "pandas"} == expected
    assert report["rows_dropped"] > 0
    rejected = (tmp_path / "steps" / "rejected.csv").read_bytes()
    assert rejected == (tmp_path / "pandas" / "rejected.csv").read_bytes()
    assert [c[1] for c in hook.calls if c[0] == "after"] == ["Load", "Clean", "Analyze", "Report"]


def test_exam_pipeline_describe_lists_the_four_steps(tmp_path):
    text = exam_pipeline(RunConfig(out=tmp_path)).describe()
    lines = text.splitlines()
    assert lines[0] == "pipeline 'exam-scores': 4 steps"
    assert [line.split()[1] for line in lines[1:]] == ["Load", "Clean", "Analyze", "Report"]
    assert "(retries: 2)" in lines[1]
    assert not any(tmp_path.iterdir())


def test_a_bug_inside_an_exam_step_names_the_step(tmp_path, monkeypatch):
    import exam_pipeline.engines.framework as fw

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(fw, "analyze", broken)
    with pytest.raises(
        StepFailed,
        match=r"^step 'Analyze' failed on input Cleaned 10 rows x 2 columns: ZeroDivisionError",
    ):
        engines.run(RunConfig(out=tmp_path / "o", db="none", engine="steps"))
    assert not (tmp_path / "o" / "report.json").exists()


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exam_pipeline.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_engine_steps_end_to_end(tmp_path):
    done = cli("run", "--engine", "steps", "--out", tmp_path / "o", "--db", "none")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no log lines, no progress bar when stderr is not a terminal
    assert "Engine: steps." in done.stdout
    assert read_json(tmp_path / "o" / "report.json")["engine"] == "steps"


def test_cli_engine_steps_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "grades.csv"
    bad.write_text("Class,Points\nA,1\n", encoding="utf-8")
    done = cli("run", "--engine", "steps", "--input", bad, "--out", tmp_path / "o")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert (
        done.stderr.startswith("exam-pipeline: error: ") and "missing column 'Score'" in done.stderr
    )
    assert done.stdout == "" and not (tmp_path / "o").exists()
