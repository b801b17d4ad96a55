"""JupyterLab as a student meets it: lesson 01 opened in a real (headless) browser, all cells run.

Uses Debian's chromium (``apt-get install chromium``; ``.ci/run`` installs it) driven by
Playwright; Playwright's own browser download cannot work offline.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from exam_pipeline.course.servers import CHROMIUM, CHROMIUM_ARGS
from support.processes import answers, free_port, stop, wait_until

LESSON = ROOT / "solutions" / "01_pipeline_mindset.ipynb"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free loopback port, with a token, serving a copy of lesson 01."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(LESSON, root / LESSON.name)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log = tmp_path / "lab.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--allow-root",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        status = f"{base}/api/status?token={token}"
        wait_until(lambda: answers(status), "JupyterLab", every=0.5, process=proc, log=log)
        yield base, token, root
    finally:
        stop(proc)


def test_lesson_01_runs_in_jupyterlab(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token, root = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a new, empty user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(f"{base}/lab/tree/{LESSON.name}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.get_by_text("| Idle").first.wait_for(timeout=60_000)  # the kernel is connected
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            # Every code cell gets an execution number once the kernel has run it.
            page.wait_for_function(
                """() => {
                    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
                }""",
                timeout=120_000,
            )
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
            )
            images = page.locator(".jp-OutputArea-output img").count()
            errors = page.locator(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
            )
            error_texts = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
            # Running the cells marked the notebook's tab "unsaved"; saving clears the mark.
            dirty = ".lm-TabBar-tab.jp-mod-dirty"
            page.wait_for_selector(dirty, timeout=30_000)
            page.keyboard.press("Control+s")
            page.wait_for_selector(dirty, state="detached", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab_lesson01.png"), full_page=False)
        finally:
            context.close()

    assert images >= 1, "no boxplot image was shown"
    assert error_texts == []
    saved = json.loads((root / LESSON.name).read_text())
    outputs = [o for c in saved["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert [o for o in outputs if o["output_type"] == "error"] == []
    assert any("image/png" in o.get("data", {}) for o in outputs)
