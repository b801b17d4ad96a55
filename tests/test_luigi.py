"""The ``luigi`` engine: idempotent re-runs, partial rebuilds, failure and resume, and luigid."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from exam_pipeline.core import report as report_mod
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.report import read_report
from exam_pipeline.core.sinks import read_runs
from exam_pipeline.engines import luigi_tasks
from exam_pipeline.engines.luigi_tasks import LuigiRunError, run_luigi
from exam_pipeline.engines.pipeline import run_pipeline
from support.processes import free_port, stop, wait_until

MESSY = "Class;Score\nA;65\nA;70,5\nA;absent\nA;68\nB;78\nB;\n;80\nB;82\nB;79,25\n"


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its modification time (ns) and its bytes."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def db_rows(out: Path) -> list[dict]:
    return read_runs(f"sqlite:///{out / 'results.db'}")


@pytest.fixture
def config(tmp_path) -> RunConfig:
    return RunConfig(out=tmp_path / "out", engine="luigi")


def test_same_files_as_the_pandas_engine_on_messy_input(write_csv, tmp_path):
    path = write_csv(MESSY)
    got = run_luigi(RunConfig(input=path, out=tmp_path / "l", engine="luigi", db="none"))
    want = run_pipeline(RunConfig(input=path, out=tmp_path / "p", db="none"))
    assert got == {**want, "engine": "luigi"}
    assert (got["rows_read"], got["rows_dropped"]) == (9, 3)
    for name in ("rejected.csv", "scores_boxplot.png"):
        assert (tmp_path / "l" / name).read_bytes() == (tmp_path / "p" / name).read_bytes(), name


def test_stage_targets_are_written_under_out(config):
    run_luigi(config)
    stages = sorted(p.name.split("-")[0] for p in (config.out / "stages").iterdir())
    assert stages == [
        "boxplot",
        "clean",
        "load",
        "rejected",
        "report",
        "report",
        "summary",
        "ttest",
    ]


def test_second_run_rewrites_nothing(config):
    first = run_luigi(config)
    before = snapshot(config.out)
    time.sleep(0.02)  # a rewrite would show as a newer mtime
    assert run_luigi(config) == first
    assert snapshot(config.out) == before
    assert len(db_rows(config.out)) == 1


def test_deleting_report_json_rebuilds_only_it(config):
    run_luigi(config)
    before = snapshot(config.out)
    (config.out / "report.json").unlink()
    time.sleep(0.02)
    run_luigi(config)
    after = snapshot(config.out)
    assert after.keys() == before.keys()
    changed = {name for name in after if after[name][0] != before[name][0]}
    assert changed == {"report.json"}
    assert after["report.json"][1] == before["report.json"][1]
    assert len(db_rows(config.out)) == 1, "the database row is not loaded twice"


def test_a_missing_middle_stage_is_not_rebuilt_while_the_end_is_complete(config):
    run_luigi(config)
    summary = next((config.out / "stages").glob("summary-*.json"))
    summary.unlink()
    before = snapshot(config.out)
    run_luigi(config)
    # Luigi walks down from the requested task and stops at the first complete one.
    assert snapshot(config.out) == before and not summary.exists()
    (config.out / "report.json").unlink()
    (next((config.out / "stages").glob("report-*.json"))).unlink()
    run_luigi(config)
    assert summary.exists(), "now BuildReport needs it, so it is made again"


def test_a_failing_task_leaves_no_target_and_the_run_resumes(config, monkeypatch):
    def broken(report):
        raise OSError("disk full")

    monkeypatch.setattr(report_mod, "to_json", broken)  # BuildReport fails half-way
    with pytest.raises(LuigiRunError, match="FAILED"):
        run_luigi(config)
    stages = config.out / "stages"
    assert not list(stages.glob("report-*")), (
        "BuildReport failed after writing report.md: no target left"
    )
    assert not list(stages.glob("*-luigi-tmp-*")), "no half-written temp file left behind"
    assert not (config.out / "report.json").exists()
    done = snapshot(config.out)
    assert {n.split("-")[0] for n in done} >= {"stages/load", "stages/clean", "stages/summary"}

    monkeypatch.undo()  # fix the cause, run again: it resumes
    time.sleep(0.02)
    report = run_luigi(config)
    assert report["engine"] == "luigi" and round(report["t"], 2) == -8.07
    after = snapshot(config.out)
    assert all(after[name] == done[name] for name in done), "finished stages were not redone"
    assert len(db_rows(config.out)) == 1


def test_changed_parameters_or_input_are_not_mistaken_for_done(write_csv, tmp_path):
    path = write_csv("Class,Score\nA,1\nA,2\nB,5\nB,7\n")
    out = tmp_path / "out"
    welch = run_luigi(RunConfig(input=path, out=out, engine="luigi"))
    student = run_luigi(RunConfig(input=path, out=out, engine="luigi", test="student"))
    assert (welch["test"], student["test"]) == ("welch", "student")
    assert read_report(out / "report.json")["test"] == "student"
    path.write_text("Class,Score\nA,1\nA,2\nB,50\nB,70\n", encoding="utf-8")  # edited in place
    edited = run_luigi(RunConfig(input=path, out=out, engine="luigi", test="student"))
    assert edited["groups"]["B"]["mean"] == 60
    assert read_report(out / "report.json")["groups"]["B"]["mean"] == 60


@pytest.mark.parametrize(
    "content, message",
    [
        ("Class,Points\nA,1\n", "missing column 'Score'"),
        ("Class,Score\nA,1\nA,2\n", "exactly 2 groups"),
        ("Class,Score\nA,1\nA,2\nB,x\nB,3\n", "at least 2 valid"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    run_cli, write_csv, tmp_path, content, message
):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        "run", "--engine", "luigi", "--input", write_csv(content), "--out", out
    )
    assert code == 2
    assert stdout == ""
    assert (
        stderr.count("\n") == 1 and message in stderr and stderr.startswith("exam-pipeline: error:")
    )
    assert not out.exists()


def test_bad_input_adds_nothing_to_an_existing_out(run_cli, write_csv, config):
    run_luigi(config)
    before = snapshot(config.out)
    code, _, stderr = run_cli(
        "run",
        "--engine",
        "luigi",
        "--input",
        write_csv("Class,Score\nA,1\nA,2\n"),
        "--out",
        config.out,
    )
    assert code == 2 and "exactly 2 groups" in stderr
    assert snapshot(config.out) == before


@pytest.mark.parametrize("via", ["env", "flag"])
def test_no_scheduler_at_the_url_is_a_one_line_error(run_cli, tmp_path, monkeypatch, via):
    url = f"http://127.0.0.1:{free_port()}"
    args = ["run", "--engine", "luigi", "--out", tmp_path / "out"]
    if via == "env":
        monkeypatch.setenv(luigi_tasks.SCHEDULER_ENV, url)
    else:
        monkeypatch.delenv(luigi_tasks.SCHEDULER_ENV, raising=False)
        args += ["--scheduler", url]
    code, _, stderr = run_cli(*args)
    assert code == 2 and stderr.count("\n") == 1 and "no Luigi scheduler answers" in stderr
    named = f"{luigi_tasks.SCHEDULER_ENV}={url}" if via == "env" else f"--scheduler {url}"
    assert named in stderr, "the message names the setting to change"
    assert not (tmp_path / "out").exists()


# --- the central scheduler ------------------------------------------------------------------


def api(base: str, method: str, **data) -> dict:
    query = urllib.parse.urlencode({"data": json.dumps(data)})
    with urllib.request.urlopen(f"{base}/api/{method}?{query}", timeout=5) as response:
        return json.loads(response.read())["response"]


def luigid_command() -> list[str]:
    script = Path(sys.executable).with_name("luigid")
    return [str(script)] if script.exists() else [shutil.which("luigid") or "luigid"]


@pytest.fixture
def luigid(tmp_path):
    """A real ``luigid`` on a free loopback port, with its state and log in tmp_path; always stopped."""
    port = free_port()
    logdir = tmp_path / "luigid-log"
    logdir.mkdir()
    cmd = luigid_command() + [
        "--address", "127.0.0.1", "--port", str(port),
        "--state-path", str(tmp_path / "luigid-state.pickle"), "--logdir", str(logdir),
    ]  # fmt: skip
    log = tmp_path / "luigid.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: api(base, "task_list") is not None, "luigid", process=proc, log=log)
        yield base
    finally:
        stop(proc, timeout=10)


@pytest.mark.slow
def test_pipeline_through_a_real_luigid(luigid, run_cli, config, monkeypatch):
    monkeypatch.delenv(luigi_tasks.SCHEDULER_ENV, raising=False)
    code, stdout, stderr = run_cli(
        "run", "--engine", "luigi", "--scheduler", luigid, "--out", config.out
    )  # the README's command
    assert code == 0, stderr
    report = read_report(config.out / "report.json")
    assert report["engine"] == "luigi" and round(report["t"], 2) == -8.07
    assert "Engine: luigi." in stdout
    done = api(luigid, "task_list", status="DONE")
    families = sorted({task["name"] for task in done.values()})
    assert families == [
        "BuildReport", "CleanScores", "LoadScores", "PlotScores",
        "Publish", "SaveRun", "SummarizeScores", "TTestScores",
    ]  # fmt: skip
    assert len(db_rows(config.out)) == 1


# --- the dependency graph and Luigi's logging -----------------------------------------------


def test_edges_name_every_dependency(config):
    root = luigi_tasks.pipeline_task(config)
    assert sorted(luigi_tasks.edges(root)) == sorted(
        [
            ("LoadScores", "CleanScores"),
            ("CleanScores", "SummarizeScores"),
            ("CleanScores", "TTestScores"),
            ("SummarizeScores", "PlotScores"),
            ("SummarizeScores", "BuildReport"),
            ("TTestScores", "BuildReport"),
            ("BuildReport", "SaveRun"),
            ("PlotScores", "Publish"),
            ("CleanScores", "Publish"),
            ("BuildReport", "Publish"),
            ("SaveRun", "Publish"),
        ]
    )


def test_graph_layout_puts_each_task_right_of_its_dependencies_without_overlap(config):
    tasks = luigi_tasks.walk(luigi_tasks.pipeline_task(config))
    pos = luigi_tasks._layout(tasks)
    assert len(set(pos.values())) == len(tasks) == 8, "two boxes on one spot"
    for task in tasks:
        for dep in luigi_tasks.luigi.task.flatten(task.requires()):
            assert pos[dep.task_id][0] < pos[task.task_id][0], (dep, task)


def box_colours(fig) -> list[tuple]:
    """The fill colour of each task's box (the arrows are annotations with no text)."""
    return [t.get_bbox_patch().get_facecolor() for t in fig.axes[0].texts if t.get_text()]


def test_graph_figure_shows_inline_and_colours_what_is_done(config):
    root = luigi_tasks.pipeline_task(config)
    before = luigi_tasks.graph_figure(root)
    assert before._repr_png_().startswith(b"\x89PNG"), "Jupyter shows it without pyplot"
    assert len(box_colours(before)) == 8 and len(set(box_colours(before))) == 1
    run_luigi(config)
    after = box_colours(luigi_tasks.graph_figure(root))
    assert len(set(after)) == 1 and after != box_colours(before), "every box turned 'done'"


def test_the_engine_prints_nothing_and_leaves_logging_as_it_was(config, capfd):
    interface = logging.getLogger("luigi-interface")
    handlers, disabled = list(interface.handlers), interface.disabled
    luigi_config = luigi_tasks.luigi.configuration.get_config()
    had_option = luigi_config.has_option("core", "no_configure_logging")
    run_luigi(config)
    run_luigi(config)
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), "no worker lines (salt, host, user, pid) on the console"
    assert interface.handlers == handlers and interface.disabled == disabled
    assert luigi_config.has_option("core", "no_configure_logging") == had_option


def test_final_outputs_are_byte_identical_to_the_run_paths_publish(write_csv, tmp_path):
    """Luigi writes its final files as targets of its own (a rerun rewrites nothing); they are the
    very bytes the run path's publish writes for the same Analysis."""
    from exam_pipeline.core.outputs import publish
    from exam_pipeline.engines.luigi_tasks import publish_task, stage_analysis

    config = RunConfig(input=write_csv(MESSY), out=tmp_path / "l", engine="luigi", db="none")
    run_luigi(config)
    analysis = stage_analysis(publish_task(config.checked()))
    published = tmp_path / "published"
    publish(RunConfig(input=config.input, out=published, engine="luigi", db="none"), analysis)
    for name in ("report.json", "report.md", "scores_boxplot.png", "rejected.csv"):
        assert (config.out / name).read_bytes() == (published / name).read_bytes(), name
