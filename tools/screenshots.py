"""Screenshots of the engines' own web pages, for lessons 05, 06 and 08 (``make screenshots``).

Starts the real servers on 127.0.0.1 only (``prefect server start`` with its UI, ``luigid``, a
Dask scheduler with one worker), runs ``exam-pipeline run`` on each, and photographs the Prefect
UI (a flow run's graph, and its logs), the Luigi visualiser's dependency graph and the Dask
dashboard in headless Debian ``chromium`` (driven by Playwright, as the JupyterLab browser test
does). The PNGs are written to ``solutions/images/`` and, byte for byte the same, to
``notebooks/images/``: a notebook's Markdown image resolves relative to the notebook, and
``make lab`` serves only ``notebooks/``, so each folder needs its own copy
(``tests/test_screenshots.py`` checks they agree and that the lessons show them).

Nothing leaves the machine: Chromium resolves no host name but 127.0.0.1 and gets the test's
flags against background traffic, and every request to another address is aborted and listed.
Slow (a minute or two), so not part of ``make test``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exam_pipeline.core.data import dataset_path
from exam_pipeline.course.servers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NEW_GROUP,
    answers,
    free_port,
    start_server,
    stop,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = [ROOT / "solutions" / "images", ROOT / "notebooks" / "images"]
#: The screenshots and the lesson that shows each.
SHOTS = {
    "prefect_flow_run_graph.png": "06_prefect_basics.ipynb",
    "prefect_flow_run_logs.png": "06_prefect_basics.ipynb",
    "luigi_dependency_graph.png": "05_luigi.ipynb",
    "dask_dashboard.png": "08_dask_scaling.ipynb",
}
VIEWPORT = {"width": 1280, "height": 800}
#: Chromium resolves no host name at all except loopback: nothing can reach the internet.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
BIN = Path(sys.executable).parent


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    """Run one step of the course's command line; fail loudly with its output."""
    done = subprocess.run(
        [str(c) for c in command], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def server(command: list[str], url: str, log: Path) -> Iterator[None]:
    """A server process in a group of its own, until the block ends; waits until ``url`` answers."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **NEW_GROUP
        )
    try:
        wait_until(lambda: answers(url), url, timeout=120, process=process, log=log)
        yield
    finally:
        stop(process, group=True)


def save(png: bytes, name: str) -> None:
    """A palette PNG (a quarter of the size, same look for a web page), in every image folder."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, dither=Image.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    for folder in FOLDERS:
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(out.getvalue())
    print(f"{name}: {len(out.getvalue()) // 1024} KB", flush=True)


def prefect_shots(page: Any, work: Path) -> None:
    """A flow run of ``--engine prefect`` in the UI: its graph, then its logs."""
    prefect = start_server(work / "prefect-home", ui=True)
    try:
        prefect.wait_until_healthy()
        env = {**os.environ, **prefect.environment()}
        run(BIN / "exam-pipeline", "run", "--engine", "prefect", "--out", work / "prefect", env=env)
        body = json.dumps({"limit": 1, "sort": "START_TIME_DESC"}).encode()
        request = urllib.request.Request(
            f"{prefect.api_url}/flow_runs/filter",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            flow_run = json.load(response)[0]
        page.goto(f"{prefect.ui_url}/runs/flow-run/{flow_run['id']}")
        page.get_by_text("exam-report").first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)  # the graph draws itself after the page has loaded
        save(page.screenshot(), "prefect_flow_run_graph.png")
        page.get_by_text("Finished in state Completed").first.wait_for(timeout=30_000)
        # The Logs tab is open below the graph: scroll it to the top of the window.
        page.get_by_text("Oldest to newest").first.evaluate("e => e.scrollIntoView()")
        page.wait_for_timeout(1000)
        save(page.screenshot(), "prefect_flow_run_logs.png")
    finally:
        prefect.stop()


def luigi_shot(page: Any, work: Path) -> None:
    """The pipeline's tasks through ``luigid``, and the visualiser's graph of ``Publish``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = work / "luigid"
    state.mkdir()
    command = [str(BIN / "luigid"), "--address", "127.0.0.1", "--port", str(port)]
    command += ["--state-path", str(state / "state.pickle"), "--logdir", str(state)]
    with server(command, f"{base}/api/task_list?data={{}}", state / "luigid.log"):
        # Relative paths: the task parameters the page shows name no folder of this machine.
        shutil.copyfile(dataset_path(), work / "exam_scores.csv")
        run(BIN / "exam-pipeline", "run", "--engine", "luigi", "--scheduler", base,
            "--input", "exam_scores.csv", "--out", "output", cwd=work)  # fmt: skip
        query = urllib.parse.quote(json.dumps({"status": "DONE"}))
        with urllib.request.urlopen(f"{base}/api/task_list?data={query}", timeout=30) as response:
            tasks = json.load(response)["response"]
        publish = next(task_id for task_id in tasks if task_id.startswith("Publish"))
        fragment = urllib.parse.urlencode({"tab": "graph", "taskId": publish})
        page.set_viewport_size({"width": 1280, "height": 960})  # the graph is tall
        page.goto(f"{base}/static/visualiser/index.html#{fragment}")
        page.locator("svg g.node, #graphContainer svg").first.wait_for(timeout=60_000)
        page.wait_for_timeout(2000)
        save(page.screenshot(), "luigi_dependency_graph.png")
        page.set_viewport_size(VIEWPORT)


def dask_shot(page: Any, work: Path) -> None:
    """``--engine dask`` on a scheduler with one worker, and the dashboard's status page after."""
    data = work / "exams_1m.csv"  # 13 MB: two partitions, so the task stream has some shape
    run(BIN / "exam-pipeline", "generate", "--rows", "1000000", "--seed", "42", "--out", data)
    port, dashboard = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    scheduler += ["--dashboard-address", f"127.0.0.1:{dashboard}"]
    worker = [str(BIN / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1"]
    worker += ["--host", "127.0.0.1", "--no-dashboard"]
    status = f"http://127.0.0.1:{dashboard}/status"
    with (
        server(scheduler, status, work / "scheduler.log"),
        server(worker, status, work / "worker.log"),
    ):
        run(BIN / "exam-pipeline", "run", "--engine", "dask", "--scheduler", address,
            "--input", data, "--out", work / "dask", "--db", "none")  # fmt: skip
        page.goto(status)
        page.locator(".bk-Canvas, canvas").first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)  # the plots fill in over the dashboard's websocket
        save(page.screenshot(), "dask_dashboard.png")


def main() -> int:
    from playwright.sync_api import Route, sync_playwright

    outside: list[str] = []

    def loopback_only(route: Route) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname or ""
        if host in {"127.0.0.1", "localhost"} or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    work = Path(tempfile.mkdtemp(prefix="exam-pipeline-screenshots-"))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, OFFLINE]
            )
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.route("**/*", loopback_only)
                prefect_shots(page, work)
                luigi_shot(page, work)
                dask_shot(page, work)
            finally:
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if outside:
        print("blocked requests to outside addresses:", *sorted(set(outside)), sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
