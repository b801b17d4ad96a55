"""``make lab``: the Prefect server starts with JupyterLab, the kernels see it, and it stops after.

JupyterLab itself is replaced by a stand-in (the launcher runs whatever follows ``--``): a tiny
Python process that, like a notebook kernel, inherits JupyterLab's environment. It prints the
``PREFECT_API_URL`` it sees, whether the server answers there, and the PIDs of every other
process the launcher started (the server and its children), which must all be gone afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exam_pipeline.course import lab
from support.prefect_server import empty_database
from support.processes import free_port, still_alive

STAND_IN = """
import json, os, psutil, urllib.request
url = os.environ["PREFECT_API_URL"]
with urllib.request.urlopen(url + "/health", timeout=5) as response:
    answers = response.status == 200
me = psutil.Process()
others = [p.pid for p in me.parent().children(recursive=True) if p.pid != me.pid]
print(json.dumps({"url": url, "answers": answers, "home": os.environ["PREFECT_HOME"],
                  "others": others}))
"""


def launch(tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m exam_pipeline.course.lab`` with a fresh home and a stand-in for JupyterLab."""
    home = tmp_path / "home"
    home.mkdir()
    template = empty_database()
    if template is not None:  # a migrated database: the server starts in 5 s instead of 15
        shutil.copyfile(template, home / "prefect.db")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "exam_pipeline.course.lab",
        "--home",
        str(home),
        "--port",
        str(port),
    ]
    done = subprocess.run(
        [*argv, "--", *command], env=env, capture_output=True, text=True, timeout=120
    )
    done.port = port  # type: ignore[attr-defined]
    return done


@pytest.mark.slow
def test_lab_starts_prefect_for_the_kernels_and_stops_it(tmp_path):
    done = launch(tmp_path, sys.executable, "-c", STAND_IN)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.splitlines()[-2])  # the last line is "Prefect server stopped."
    assert seen["url"] == f"http://127.0.0.1:{done.port}/api"  # type: ignore[attr-defined]
    assert seen["answers"] is True
    assert Path(seen["home"]) == (tmp_path / "home").resolve()
    assert seen["others"], "the stand-in found no server process beside it"
    assert not still_alive(set(seen["others"]), timeout=5), "the Prefect server outlived the lab"
    assert done.stdout.rstrip().endswith("Prefect server stopped.")


#: Stands in for the Prefect server where only the launcher's clean-up is tested: a process
#: in a group of its own, with a child, that runs until it is stopped.
FAKE_SERVER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""

#: Runs the launcher with a fake server (in this process a test could not send it Ctrl-C).
LAUNCHER = """
import subprocess, sys
from pathlib import Path
from exam_pipeline.course import lab, servers
def fake_server(home, *, port, ui, extra_env):
    process = subprocess.Popen([sys.executable, "-c", {fake!r}], stdout=subprocess.PIPE,
                               **servers.NEW_GROUP)
    child = process.stdout.readline().strip().decode()
    print("server", process.pid, child, flush=True)
    return servers.ServerProcess(process, f"http://127.0.0.1:{{port}}/api", Path(home))

servers.ServerProcess.wait_until_healthy = lambda self, timeout=0: None
lab.start_server = fake_server
sys.exit(lab.main(["--home", sys.argv[1], "--port", "0", "--", sys.executable, "-c", sys.argv[2]]))
"""


def fake_launch(tmp_path: Path, command: str) -> tuple[int, set[int], str]:
    """Run the launcher with a fake server and ``command`` as JupyterLab's stand-in.

    Returns its exit status, the PIDs of the fake server and its child, and its output.
    """
    script = LAUNCHER.format(fake=FAKE_SERVER)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "home"), command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("server "))
    return done.returncode, {int(pid) for pid in line.split()[1:]}, done.stdout + done.stderr


def test_lab_stops_the_server_when_jupyterlab_fails(tmp_path):
    """An error in JupyterLab (here: its stand-in exits with 3) still stops the server."""
    status, pids, output = fake_launch(tmp_path, "import sys; sys.exit(3)")
    assert status == 3, output
    assert len(pids) == 2 and not still_alive(pids, timeout=5), output
    assert "Prefect server stopped." in output


@pytest.mark.skipif(sys.platform == "win32", reason="Ctrl-C is a console event on Windows")
def test_lab_stops_jupyterlab_and_the_server_on_ctrl_c(tmp_path):
    """Ctrl-C reaches the launcher (and JupyterLab): both stop, and so does the server."""
    sleeper = tmp_path / "lab.pid"
    command = (
        "import os, signal, time\n"
        f"open({str(sleeper)!r}, 'w').write(str(os.getpid()))\n"
        "os.kill(os.getppid(), signal.SIGINT)\n"
        "time.sleep(60)\n"
    )
    status, pids, output = fake_launch(tmp_path, command)
    assert status == 130, output
    pids.add(int(sleeper.read_text()))
    assert len(pids) == 3 and not still_alive(pids, timeout=5), output


def test_the_default_command_is_jupyter_lab_on_the_notebooks():
    assert lab.jupyter_lab(Path("notebooks"))[1:] == ["-m", "jupyter", "lab", "notebooks"]
    ignored = (Path(__file__).parents[1] / ".gitignore").read_text(encoding="utf-8").split()
    assert f"{lab.DEFAULT_HOME.parts[0]}/" in ignored  # the lab's PREFECT_HOME is never committed
