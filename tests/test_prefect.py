"""The prefect engine against a real ``prefect server start``: runs, task runs, a served flow.

That the engine's report.json has the same figures as ``--engine pandas`` is checked for every
engine in test_engines_agree.py; here: what only Prefect adds. Every test talks to a real server
on 127.0.0.1: the test session's shared one (``support.session`` starts it) or, when that is
switched off, one this module starts and stops. Every process a test starts is stopped by the
test, and the tests check with psutil that none is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import LESSON_SCORES, dataset_path
from exam_pipeline.core.report import read_report
from exam_pipeline.engines import prefect_settings
from exam_pipeline.engines.pipeline import run_pipeline
from support.prefect_server import healthy, local_server
from support.processes import still_alive, stop, wait_until

pytestmark = pytest.mark.slow

TASKS = {"load", "clean", "split", "summarize", "ttest", "publish", "artifacts"}
SESSION_URL = "EXAM_PIPELINE_TEST_SERVER_URL"  # set by support.session


def descendants(skip_under: set[int] = frozenset()) -> set[int]:
    """PIDs of this process's live descendants, except those under ``skip_under`` (a server
    that was already running may start helpers of its own) and multiprocessing's idle
    resource tracker."""
    alive = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            if (
                proc.status() != psutil.STATUS_ZOMBIE
                and "resource_tracker" not in " ".join(proc.cmdline())
                and not any(parent.pid in skip_under for parent in proc.parents())
            ):
                alive.add(proc.pid)
        except psutil.Error:
            pass
    return alive


def describe(pids: set[int]) -> list[str]:
    """``pid ppid command`` of each process, for failure messages."""
    lines = []
    for pid in sorted(pids):
        try:
            proc = psutil.Process(pid)
            lines.append(f"{pid} (parent {proc.ppid()}): {' '.join(proc.cmdline())[:200]}")
        except psutil.Error:
            lines.append(f"{pid}: gone")
    return lines


def process_tree(pid: int) -> set[psutil.Process]:
    """The process ``pid`` and all its descendants that are alive now."""
    try:
        root = psutil.Process(pid)
        return {root, *root.children(recursive=True)}
    except psutil.Error:
        return set()


@contextmanager
def client_environment(env: dict[str, str]) -> Iterator[None]:
    """Point this process's Prefect at a server for the block; restore the settings afterwards."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    prefect_settings.refresh()
    try:
        yield
    finally:
        if "prefect" in sys.modules:
            prefect_settings.flush()  # send what is queued to THIS server before switching back
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        prefect_settings.refresh()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The client environment of a real Prefect server on 127.0.0.1 (shared or our own)."""
    url = os.environ.get(SESSION_URL)
    if url and os.environ.get("PREFECT_API_URL") == url and healthy(url):
        yield {key: os.environ[key] for key in ("PREFECT_API_URL", "PREFECT_HOME")}
        return
    before = descendants()
    home = tmp_path_factory.mktemp("prefect-home")
    with local_server(home) as env, client_environment(env):
        yield env
    left = still_alive(descendants() - before)
    assert not left, f"processes left behind by the server: {describe(left)}"


def client():
    """A synchronous client for the current PREFECT_API_URL (Prefect 3's get_client)."""
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


# -- the server is real ------------------------------------------------------------------------


def test_the_server_is_prefect_server_start_on_loopback(server):
    url = urlsplit(server["PREFECT_API_URL"])
    assert url.hostname == "127.0.0.1" and url.path == "/api"
    listeners = [
        c
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == url.port
    ]
    assert listeners and {c.laddr.ip for c in listeners} == {"127.0.0.1"}, listeners
    commands = set()
    for conn in listeners:
        proc = psutil.Process(conn.pid)
        commands |= {" ".join(p.cmdline()) for p in [proc, *proc.parents()]}
    assert any("prefect server start" in c and f"--port {url.port}" in c for c in commands)
    with client() as api:
        assert api.api_healthcheck() is None  # None means healthy


# -- the engine's run, read back from the server's API -----------------------------------------


def test_engine_run_is_recorded_by_the_server(server, run_cli, tmp_path):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    out = tmp_path / "out"
    code, stdout, stderr = run_cli("run", "--engine", "prefect", "--out", out, "--db", "none")
    assert code == 0, stderr
    report = read_report(out / "report.json")
    assert report["engine"] == "prefect"
    expected = run_pipeline(RunConfig(input=dataset_path(), out=tmp_path / "pandas", db="none"))
    assert report["t"] == pytest.approx(expected["t"], rel=1e-12)
    assert "INFO flow exam-report: Beginning flow run 'exam-report'" in stdout
    assert "View at" not in stdout  # no UI URL configured: no links in the logs
    prefect_settings.flush()  # logs and events are sent in the background

    with client() as api:
        # Other sessions' notebooks may run the same flow on a shared server: find ours by --out.
        runs = api.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["exam-scores"])))
        ours = [r for r in runs if str(out) in json.dumps(r.parameters)]
        assert len(ours) == 1, [r.parameters for r in runs]
        flow_run = api.read_flow_run(ours[0].id)
        assert flow_run.name == "exam-report" and flow_run.state.is_completed()
        only_ours = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))

        def completed_tasks():
            task_runs = api.read_task_runs(flow_run_filter=only_ours)
            names = {t.name for t in task_runs if t.state and t.state.is_completed()}
            return task_runs if names == TASKS else None

        task_runs = wait_until(completed_tasks, "7 completed task runs", timeout=30, every=0.5)
        assert len(task_runs) == len(TASKS)
        artifacts = api.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
        assert {a.key for a in artifacts} == {"exam-report", "exam-groups"}
        logs = api.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
        assert any(log.message.startswith("kept ") for log in logs)


# -- bad input: one line, exit 2, nothing written ---------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Class,Points\nA,1\nB,2\n", "missing column 'Score'"),
        ("Class,Score\nA,1\nA,2\nB,1\nB,2\nC,3\n", "exactly 2 groups"),
        (None, "no such file"),
    ],
    ids=["missing-column", "three-groups", "no-such-file"],
)
def test_bad_input_is_one_line_and_exit_2(server, run_cli, write_csv, tmp_path, content, message):
    path = tmp_path / "missing.csv" if content is None else write_csv(content)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("run", "--engine", "prefect", "--input", path, "--out", out)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("exam-pipeline: error: "), stderr
    assert message in stderr
    assert "Traceback" not in stderr + stdout
    assert not out.exists()


# -- a served flow: scheduled runs complete, then everything stops ----------------------------

SERVED = '''
"""Serve a small exam flow every {interval} s (started by tests/test_prefect.py).

Every scheduled run starts a new Python process that imports this file, so the flow is kept
light: the class means of the lesson scores. The full analysis flow is tested on the server
by test_engine_run_is_recorded_by_the_server.
"""
import json
from pathlib import Path

from exam_pipeline.engines.prefect_settings import configure

configure()

from prefect import flow  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from exam_pipeline.core.data import LESSON_SCORES  # noqa: E402


@flow(name="scheduled-exam-report")
def scheduled_report(out: str) -> dict[str, float]:
    means = {{label: sum(scores) / len(scores) for label, scores in LESSON_SCORES.items()}}
    folder = Path(out) / flow_run.id
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(means), encoding="utf-8")
    return means


if __name__ == "__main__":
    scheduled_report.serve(
        name="every-{interval}s",
        interval={interval},
        parameters={{"out": {out!r}}},
        limit=2,  # two runs at once: the test waits for one process start, not two in a row
        print_starting_message=False,
    )
'''


@contextmanager
def serving(script: Path, env: dict[str, str], log: Path) -> Iterator[ServeProcess]:
    """Run ``python script`` in its own session; afterwards stop it and every process it started.

    Prefect's runner may start flow runs in sessions of their own, so killing the process group
    is not enough: the tree is recorded while it runs, and every recorded process is killed.
    """
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env=env,
            cwd=script.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    serve = ServeProcess(proc)
    try:
        yield serve
    finally:
        serve.record()
        stop(proc, group=True, timeout=20)  # the runner pauses its deployment and exits
        for child in serve.seen:
            try:
                child.kill()  # psutil checks it is still the same process before killing
            except psutil.Error:
                pass


class ServeProcess:
    """The serve subprocess and every process seen in its tree so far."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.seen: set[psutil.Process] = set()

    def record(self) -> None:
        """Remember the processes in the tree now (flow runs come and go)."""
        self.seen |= process_tree(self.proc.pid)

    def poll(self) -> int | None:
        self.record()
        return self.proc.poll()


def test_served_flow_runs_on_schedule_then_stops(server, tmp_path):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    interval = 3
    runs_out = tmp_path / "runs"
    script = tmp_path / "served.py"
    script.write_text(SERVED.format(interval=interval, out=str(runs_out)), encoding="utf-8")
    env = {**os.environ, **server, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    log = tmp_path / "serve.log"
    before = descendants()

    def runs_in(api, of_deployment, state):
        """The deployment's flow runs in one state type."""
        in_state = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state]))
        )
        return api.read_flow_runs(deployment_filter=of_deployment, flow_run_filter=in_state)

    dep = None
    try:
        with serving(script, env, log) as serve, client() as api:

            def deployment():
                if serve.poll() is not None:
                    pytest.fail(f"serve exited early:\n{log.read_text(errors='replace')[-3000:]}")
                try:
                    return api.read_deployment_by_name(f"scheduled-exam-report/every-{interval}s")
                except ObjectNotFound:
                    return None

            dep = wait_until(deployment, "served deployment", timeout=120, every=0.5)
            assert dep.schedules and dep.schedules[0].schedule.interval.total_seconds() == interval
            of_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))
            wait_until(
                lambda: api.read_flow_runs(deployment_filter=of_deployment, limit=1),
                "scheduled runs from the server",
                timeout=20,
                every=0.5,
            )

            def two_completed():
                runs = runs_in(api, of_deployment, StateType.COMPLETED)
                return runs if len(runs) >= 2 else None

            done = wait_until(two_completed, "two completed scheduled runs", timeout=180, every=0.5)
            assert all(r.auto_scheduled for r in done)
            reports = list(runs_out.glob("*/report.json"))
            assert len(reports) >= 2
            means = {label: sum(v) / len(v) for label, v in LESSON_SCORES.items()}
            assert all(json.loads(r.read_text(encoding="utf-8")) == means for r in reports)
    finally:
        # Serve's runner has stopped, but its deployment would go on scheduling runs that go
        # Late; marking them kept the shared server's SQLite database locked for the rest of the
        # session. Deleting the deployment deletes its scheduled runs too.
        if dep is not None:
            with client() as api:
                api.delete_deployment(dep.id)

    with client() as api:
        assert runs_in(api, of_deployment, StateType.SCHEDULED) == []
    assert serve.proc.poll() is not None
    assert serve.seen  # at least the runner itself was recorded
    left = still_alive({p.pid for p in serve.seen if p.is_running()})
    left |= still_alive(descendants(skip_under=before) - before)
    assert not left, f"processes left behind by serve: {describe(left)}"


def test_start_api_with_a_server_only_reads_the_url(server):
    """With PREFECT_API_URL set, start_api() neither starts a server nor imports its code."""
    code = (
        "import sys\n"
        "from exam_pipeline.engines import prefect_settings\n"
        "prefect_settings.configure()\n"
        "print(prefect_settings.start_api())\n"
        "print('prefect.server.api.server' in sys.modules)\n"
    )
    env = {**os.environ, **server}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [server["PREFECT_API_URL"], "False"]
