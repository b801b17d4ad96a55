"""Run lesson 12's Airflow DAG from the course venv: a subprocess in ``.venv-airflow``.

Airflow 3.3 cannot share the course venv (it needs ``fastapi<0.137``, Prefect 3.8 ``>=0.139``),
so ``make airflow`` builds ``.venv-airflow`` beside ``.venv``, and this module runs
``exam_pipeline.lessons.airflow_dag`` there. Airflow keeps everything in ``home`` (its
``airflow.cfg``, SQLite metadata database, DAGs folder, logs): the lesson's output folder or a
temporary folder, never ``~/airflow``. Example DAGs are off, logging is at ERROR.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

#: The repository this (editable) package was installed from: .venv-airflow lives there.
ROOT = Path(__file__).resolve().parents[3]


def airflow_venv() -> Path:
    """``$EXAM_PIPELINE_AIRFLOW_VENV``, else ``.venv-airflow`` in the repository."""
    return Path(os.environ.get("EXAM_PIPELINE_AIRFLOW_VENV") or ROOT / ".venv-airflow")


def airflow_python() -> Path | None:
    """The Python of the Airflow venv, or None where ``make airflow`` has not been run."""
    python = airflow_venv() / "bin" / "python"
    return python if python.exists() and (airflow_venv() / "bin" / "airflow").exists() else None


def airflow_environment(home: Path) -> dict[str, str]:
    """The environment of every Airflow process: its state under ``home``, quiet, no examples."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "MPLCONFIGDIR": str(home / "matplotlib"),  # Matplotlib's font cache, not ~/.cache
            # A notebook kernel sets MPLBACKEND to its inline backend, which this venv lacks.
            "MPLBACKEND": "Agg",
        }
    )
    return env


def migrate(home: Path, timeout: float = 300) -> bool:
    """``airflow db migrate`` in ``home`` unless its database is there already; True if it ran."""
    home = home.resolve()  # Airflow refuses a relative AIRFLOW_HOME
    if (home / "airflow.db").exists():
        return False
    python = airflow_python()
    if python is None:
        raise FileNotFoundError("no .venv-airflow here: run `make airflow` first")
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(python.parent / "airflow"), "db", "migrate"],
        env=airflow_environment(home),
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    return True


def run_dag(
    out: Path, home: Path, source: Path | None = None, test: str = "welch", timeout: float = 300
) -> dict[str, Any]:
    """Run the exam DAG once with ``dag.test()``; return ``{"report": ..., "tasks": {...}}``.

    The report is the ``report.json`` the DAG's last task wrote into ``out``; ``tasks`` maps each
    task to its final state. A failure raises ``RuntimeError`` with the subprocess's last lines.
    """
    python = airflow_python()
    if python is None:
        raise FileNotFoundError("no .venv-airflow here: run `make airflow` first")
    home, out = home.resolve(), out.resolve()
    migrate(home, timeout)
    command = [str(python), "-m", "exam_pipeline.lessons.airflow_dag", "--out", str(out)]
    command += ["--test", test] + (["--input", str(source.resolve())] if source is not None else [])
    done = subprocess.run(
        command,
        env=airflow_environment(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the Airflow DAG failed (exit {done.returncode}):\n{tail}")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def main() -> int:
    """``make airflow``'s smoke run: the DAG on the lesson data, in a temporary AIRFLOW_HOME."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="exam-airflow-") as folder:
        found = run_dag(Path(folder) / "out", Path(folder) / "home")
    report = found["report"]
    tasks = ", ".join(f"{task} {state}" for task, state in found["tasks"].items())
    print(f"Airflow DAG exam_scores: {tasks}")
    print(f"t = {report['t']:.2f}, df = {report['df']:.2f} (engine {report['engine']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
