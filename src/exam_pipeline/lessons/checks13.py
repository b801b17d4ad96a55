"""The checks of the capstone's exercises (lesson 13), called from its check cells.

Kept here so that a check cell stays short; each function fails with a sentence
(``checks.CheckFailed``) saying what was expected and what came back, and starts from fresh
output folders and counters so that a re-run, or a wrong attempt then the right one, gives the
right verdict. ``ns`` is the notebook's ``globals()``: the checks of exercises 3 and 4 swap
some of its names for the length of the check (a flaky source, a forbidden read).
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

import exam_pipeline.core.data as core_data
from exam_pipeline.course import checks
from exam_pipeline.engines import framework as fw

SUBJECTS = ["Literature", "Math", "Physics"]
MEANS = {"Literature": (73.71, 66.29), "Math": (64.14, 75.21), "Physics": (72.07, 70.64)}
#: Words a justification of one task per subject is expected to use at least one of.
REASONS = ("parallel", "independent", "retry", "retries", "rerun", "re-run", "fail", "separate")


def framework_reports(ns: dict[str, Any], out: Path) -> dict[str, Any]:
    """13-ex1: run_subject on one part, then the whole capstone; {subject: report}."""
    for folder in ("steps", "one"):  # fresh folders on every run of the check
        shutil.rmtree(out / folder, ignore_errors=True)
    one = ns["run_subject"](
        ns["subject_config"]("Physics", out / "one", "steps"), ns["parts"]["Physics"]
    )
    checks.expect(
        isinstance(one, dict) and "groups" in one,
        f"run_subject should return the Report step's report (a dict), got {type(one).__name__}",
    )
    checks.expect_equal(
        (one["rows_read"], one["rows_dropped"]), (16, 2), "Physics: rows read, dropped"
    )
    checks.expect(
        (out / "one" / "Physics" / "report.json").is_file(),
        "run_subject should write the report into the subject's folder (out/Physics)",
    )
    capstone = ns["build_capstone"](out / "steps")
    print(capstone.describe())
    reports: dict[str, Any] = capstone.run(ns["DATA"])
    checks.expect_equal(list(reports), SUBJECTS, "the subjects reported")
    for subject, report in reports.items():
        got = (report["rows_read"], report["rows_dropped"])
        checks.expect_equal(got, (16, 2), f"{subject}: rows read and dropped")
        checks.expect(
            report["engine"] == "steps" and (out / "steps" / subject / "report.json").is_file(),
            f"{subject}: a report.json by the 'steps' engine in {out.as_posix()}/steps/{subject}",
        )
    means = {
        s: (round(r["groups"]["A"]["mean"], 2), round(r["groups"]["B"]["mean"], 2))
        for s, r in reports.items()
    }
    checks.expect_equal(means, MEANS, "the class means per subject")
    rejected = pd.read_csv(out / "steps" / "Math" / "rejected.csv")
    checks.expect_equal(list(rejected["line"]), [17, 38], "Math's rejected lines in the whole file")
    return reports


def comparison(comparison_table: Callable[[dict[str, Any]], pd.DataFrame]) -> None:
    """13-ex2: class names other than A and B, and verdicts that are not simply p < 0.05."""

    def report(t: float, p: float, significant: bool, x: float, y: float) -> dict[str, Any]:
        groups = {"X": {"mean": x}, "Y": {"mean": y}}
        return {"t": t, "p": p, "significant": significant, "groups": groups}

    table = comparison_table(
        {
            "Art": report(-3.0, 0.01, True, 60.0, 70.5),
            "Music": report(0.5, 0.6, False, 71.0, 70.0),
            "Dance": report(2.2, 0.04, False, 75.0, 70.0),
            "Drama": report(4.0, 0.001, True, 80.0, 69.0),
        }
    )
    columns = ["mean_X", "mean_Y", "difference", "t", "p", "significant", "higher"]
    checks.expect_equal(list(table.columns), columns, "the columns for classes X and Y")
    checks.expect_equal(list(table["difference"]), [10.5, -1.0, -5.0, -11.0], "second minus first")
    checks.expect_equal(
        list(table["t"]) + list(table["p"]),
        [-3.0, 0.5, 2.2, 4.0, 0.01, 0.6, 0.04, 0.001],
        "t, then p, as the reports give them",
    )
    checks.expect_equal(
        list(table["significant"]), [True, False, False, True], "significant, as the reports say"
    )
    checks.expect_equal(list(table["higher"]), ["Y", "-", "-", "X"], "higher (when significant)")


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise checks.CheckFailed("a piece read the file or ran an analysis that is another piece's job")


@contextlib.contextmanager
def _swapped(ns: dict[str, Any], **names: Any) -> Iterator[None]:
    saved = {name: ns[name] for name in names}
    ns.update(names)
    try:
        yield
    finally:
        ns.update(saved)


def design(ns: dict[str, Any], reports: dict[str, Any], out: Path) -> None:
    """13-ex3: three pieces, each doing one thing, giving the framework's figures; WHY."""
    pieces = {name: ns.get(name) for name in ("load_subject", "report_subject", "compare_reports")}
    checks.expect(
        all(callable(f) for f in pieces.values()) and len(set(pieces.values())) == 3,
        f"three separate functions were expected, got {pieces}",
    )
    whole, _ = core_data.read_scores(ns["DATA"], extra=["Subject"])
    math_rows = ns["load_subject"]("Math")
    checks.expect(
        isinstance(math_rows, fw.Loaded),
        f"load_subject should return a fw.Loaded, got {type(math_rows).__name__}",
    )
    want = whole[whole["Subject"] == "Math"]
    checks.expect_equal(list(math_rows.raw.index), list(want.index), "Math's row labels")
    checks.expect_equal(list(math_rows.raw["Score"]), list(want["Score"]), "Math's scores, as text")
    shutil.rmtree(out, ignore_errors=True)  # a fresh folder on every run of the check
    loaded = {subject: ns["load_subject"](subject) for subject in SUBJECTS}
    no_reading = dict.fromkeys(("read_scores", "LoadSubjects", "load_subject"), _forbidden)
    with (
        _swapped(ns, **no_reading),
        mock.patch.object(pd, "read_csv", _forbidden),
        mock.patch.object(core_data, "read_scores", _forbidden),
    ):
        mine = {s: ns["report_subject"](s, loaded[s], out) for s in SUBJECTS}
    written = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    checks.expect_equal(written, SUBJECTS, "the folders report_subject wrote")
    for subject in SUBJECTS:
        checks.expect_equal(
            {k: v for k, v in mine[subject].items() if k != "engine"},
            {k: v for k, v in reports[subject].items() if k != "engine"},
            f"{subject}: report_subject's report (engine aside) against the framework's",
        )
    with (
        mock.patch.object(fw.Pipeline, "run", _forbidden),
        mock.patch.object(pd, "read_csv", _forbidden),
    ):
        table = ns["compare_reports"](mine)
    checks.expect(
        isinstance(table, pd.DataFrame) and table.equals(ns["comparison_table"](reports)),
        f"compare_reports should give the comparison table; got\n{table}",
    )
    why = ns.get("WHY")
    checks.expect(
        isinstance(why, str) and len(why.split()) >= 8 and any(r in why.lower() for r in REASONS),
        "WHY should say in a sentence or two why one task per subject helps (what can run in "
        f"parallel, fail or be retried on its own); got {why!r}",
    )


def prefect_flow(ns: dict[str, Any], reports: dict[str, Any], out: Path) -> dict[str, int]:
    """13-ex4: the flow completes although each subject's first attempt fails; {run name: run_count}."""
    from prefect import Flow, Task

    task, flow = ns.get("subject_task"), ns.get("capstone_flow")
    checks.expect(
        isinstance(task, Task), f"subject_task should be a @task, got {type(task).__name__}"
    )
    assert isinstance(task, Task)
    checks.expect(
        (task.retries or 0) > 0, f"subject_task should have retries > 0, got {task.retries}"
    )
    checks.expect(
        isinstance(flow, Flow), f"capstone_flow should be a @flow, got {type(flow).__name__}"
    )
    assert isinstance(flow, Flow)
    calls: Counter[str] = Counter()  # fresh counts on every run of the check
    runs: dict[str, int] = {}
    real = ns["report_subject"]

    def flaky_report_subject(subject: str, loaded: Any, out_dir: Any) -> Any:
        calls[subject] += 1
        if calls[subject] == 1:
            raise ConnectionError(f"{subject}: connection dropped (a flaky first attempt)")
        return real(subject, loaded, out_dir)

    def record(task_: Any, task_run: Any, state: Any) -> None:
        runs[task_run.name] = task_run.run_count

    shutil.rmtree(out, ignore_errors=True)
    watched = task.with_options(on_completion=[record], on_failure=[record])
    log = io.StringIO()  # Prefect's own log lines: kept out of the output (their order varies)
    try:
        with _swapped(ns, report_subject=flaky_report_subject, subject_task=watched):
            with contextlib.redirect_stdout(log):
                table = checks.within(
                    240, flow, out, what="capstone_flow", hint="does a task wait for something?"
                )
    except checks.CheckFailed:
        raise
    except Exception as error:
        raise checks.CheckFailed(
            f"the flow run should complete, but it failed: {type(error).__name__}: {error} "
            "(did the flaky first attempts get a retry?)"
        ) from None
    checks.expect_equal(
        dict(sorted(runs.items())),
        {f"report-{s}": 2 for s in SUBJECTS},
        "task runs of subject_task by name, with their run_count (a failed attempt, then a retry)",
    )
    checks.expect_equal(dict(calls), dict.fromkeys(SUBJECTS, 2), "calls of report_subject")
    checks.expect(
        isinstance(table, pd.DataFrame) and table.equals(ns["comparison_table"](reports)),
        f"the flow should return the comparison table; got\n{table}",
    )
    return dict(sorted(runs.items()))
