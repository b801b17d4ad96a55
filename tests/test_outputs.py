"""What a run leaves in --out: readable files, and nothing of an earlier run that was killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exam_pipeline.core.files import UMASK
from support.processes import free_port

OUTPUTS = ("report.json", "report.md", "scores_boxplot.png", "rejected.csv")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("engine", ["pandas", "stream", "luigi"])
def test_outputs_get_the_umask_permissions_not_the_temp_files(engine, run_cli, tmp_path):
    out = tmp_path / "o"
    code, _, err = run_cli("run", "--engine", engine, "--out", out, "--db", "none")
    assert code == 0, err
    for name in OUTPUTS:
        mode = (out / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~UMASK, f"{name}: {oct(mode)}, expected {oct(0o666 & ~UMASK)}"


@pytest.mark.parametrize("engine", ["pandas", "stream"])
def test_a_run_removes_what_a_killed_run_left(engine, run_cli, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    leftovers = [out / ".rejected.k1ll3d.tmp", out / ".report.json.abc123.tmp"]
    for path in leftovers:
        path.write_text("half a file", encoding="utf-8")
    (out / "notes.txt").write_text("the user's own file", encoding="utf-8")
    code, _, err = run_cli("run", "--engine", engine, "--out", out, "--db", "none")
    assert code == 0, err
    assert not any(path.exists() for path in leftovers)
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, "notes.txt"])


def test_an_unreachable_prefect_server_is_one_line(tmp_path):
    """PREFECT_API_URL naming a server that is down: one line and exit 2, as for a scheduler."""
    url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    env = {**os.environ, "PREFECT_API_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "exam_pipeline", "run", "--engine", "prefect", "--db", "none",
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "does not answer" in done.stderr, done.stderr
    assert url in done.stderr and not (tmp_path / "o").exists()


def test_the_streams_own_temporary_file_survives_a_relative_out(tmp_path, monkeypatch):
    """--out given as a relative path: the stream's own .rejected.*.tmp is not a leftover."""
    from exam_pipeline.core.config import RunConfig
    from exam_pipeline.engines.streaming import run_stream

    monkeypatch.chdir(tmp_path)
    report = run_stream(RunConfig(out=Path("relative") / "out", engine="stream", db="none"))
    assert report["rows_read"] == 10
    assert sorted(p.name for p in (tmp_path / "relative" / "out").iterdir()) == sorted(OUTPUTS)
