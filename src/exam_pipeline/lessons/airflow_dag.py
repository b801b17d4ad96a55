"""The exam analysis as an Apache Airflow 3 DAG (lesson 12), run once with ``dag.test()``.

Airflow 3.3 needs ``fastapi<0.137`` and Prefect 3.8 needs ``>=0.139``, so Airflow lives in a venv
of its own, ``.venv-airflow`` (``make airflow``), with this package installed without Prefect.
The lesson and the tests call :mod:`exam_pipeline.lessons.airflow_run` from the course venv,
which runs this file in that venv as a subprocess::

    .venv-airflow/bin/python -m exam_pipeline.lessons.airflow_dag --input scores.csv --out out/

Every task calls the course's own functions. Values pass between tasks as XComs, which Airflow
stores as JSON in its metadata database: so each task returns plain lists, dicts and floats
(the scores as text, as read), never a DataFrame. Python's JSON keeps every float exactly, so
the figures are those of ``--engine pandas``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from exam_pipeline.core.analysis import (
    Analysis,
    GroupSummary,
    TTestResult,
    compare,
    split_groups,
    summarize_groups,
)
from exam_pipeline.core.clean import REJECTED_COLUMNS, clean_scores, drop_reasons
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import read_scores

DAG_ID = "exam_scores"


def load_step(source: str, group_col: str, value_col: str) -> dict[str, Any]:
    """The two columns as text (None where a cell is empty) and the file's decimal mark."""
    raw, fmt = read_scores(source, group_col, value_col)
    text = raw.astype(object).where(raw.notna(), None)
    return {
        "group": text[group_col].tolist(),
        "score": text[value_col].tolist(),
        "decimal": fmt.decimal,
    }


def clean_step(raw: dict[str, Any], group_col: str, value_col: str) -> dict[str, Any]:
    """The course's cleaning rules; kept rows and rejected rows as JSON-able columns."""
    frame = pd.DataFrame({group_col: raw["group"], value_col: raw["score"]}, dtype=object)
    cleaned = clean_scores(frame, group_col, value_col, decimal=raw["decimal"])
    rejected = cleaned.rejected.astype(object).where(cleaned.rejected.notna(), None)
    return {
        "group": cleaned.frame[group_col].tolist(),
        "score": cleaned.frame[value_col].astype(float).tolist(),
        "rejected": {column: rejected[column].tolist() for column in REJECTED_COLUMNS},
        "rows_read": cleaned.rows_read,
        "labels": list(cleaned.labels),
    }


def summarize_step(
    cleaned: dict[str, Any], group_col: str, value_col: str, source: str
) -> dict[str, Any]:
    """Each group's summary as a dict of numbers."""
    frame = pd.DataFrame({group_col: cleaned["group"], value_col: cleaned["score"]})
    groups = split_groups(frame, group_col, value_col, source, tuple(cleaned["labels"]))
    return {
        label: asdict(summary)
        for label, summary in summarize_groups(groups, value_col, source).items()
    }


def ttest_step(summaries: dict[str, Any], test: str, value_col: str, source: str) -> dict:
    """The t-test between the two groups, as a dict of numbers."""
    found = {label: GroupSummary(**numbers) for label, numbers in summaries.items()}
    return asdict(compare(found, test, value_col, source))


def publish_step(
    cleaned: dict[str, Any], summaries: dict[str, Any], result: dict[str, Any], config: RunConfig
) -> dict[str, Any]:
    """Write report.json, report.md, the boxplot and rejected.csv, as every engine does."""
    from exam_pipeline.core.outputs import publish

    rejected = pd.DataFrame(cleaned["rejected"], columns=list(REJECTED_COLUMNS))
    rejected = rejected.astype({"line": int})
    summaries_found = {label: GroupSummary(**numbers) for label, numbers in summaries.items()}
    analysis = Analysis(
        summaries=summaries_found,
        ttest=TTestResult(**result),
        rows_read=cleaned["rows_read"],
        rejected=rejected,
        rows_dropped=len(rejected),
        drop_reasons=drop_reasons(rejected),
        labels=tuple(cleaned["labels"]),
    )
    return dict(publish(config, analysis))


def build_dag(config: RunConfig) -> Any:
    """The DAG ``exam_scores``: load -> clean -> summarize -> ttest -> publish."""
    from airflow.sdk import dag, task

    source = str(config.source)
    group_col, value_col = config.group_col, config.value_col

    @dag(dag_id=DAG_ID, schedule=None, catchup=False, tags=["exam"])
    def exam_scores() -> None:
        @task
        def load() -> dict[str, Any]:
            return load_step(source, group_col, value_col)

        @task
        def clean(raw: dict[str, Any]) -> dict[str, Any]:
            return clean_step(raw, group_col, value_col)

        @task
        def summarize(cleaned: dict[str, Any]) -> dict[str, Any]:
            return summarize_step(cleaned, group_col, value_col, source)

        @task
        def ttest(summaries: dict[str, Any]) -> dict[str, Any]:
            return ttest_step(summaries, config.test, value_col, source)

        @task
        def report(
            cleaned: dict[str, Any], summaries: dict[str, Any], result: dict[str, Any]
        ) -> dict[str, Any]:
            return publish_step(cleaned, summaries, result, config)

        cleaned = clean(load())
        summaries = summarize(cleaned)
        report(cleaned, summaries, ttest(summaries))

    return exam_scores()


#: The file Airflow finds in its DAGs folder. ``dag.test()`` in Airflow 3 runs a DAG only once
#: the DAG processor has parsed it from that folder and stored it serialized; the file builds
#: the DAG from the variables below (Airflow's "safe mode" looks for the words airflow and dag).
DAG_FILE = """\
# The exam-scores airflow DAG: built by exam_pipeline.lessons.airflow_dag (lesson 12).
from exam_pipeline.lessons.airflow_dag import dag_from_environment

dag = dag_from_environment()
"""

#: Where the DAG file reads its run's settings.
ENV_INPUT, ENV_OUT, ENV_TEST = "EXAM_DAG_INPUT", "EXAM_DAG_OUT", "EXAM_DAG_TEST"


def dag_from_environment() -> Any:
    """The DAG for the run described by ``EXAM_DAG_INPUT``, ``EXAM_DAG_OUT``, ``EXAM_DAG_TEST``."""
    source = os.environ.get(ENV_INPUT) or None
    config = RunConfig(
        input=Path(source) if source else None,
        out=Path(os.environ.get(ENV_OUT, "output")),
        engine="airflow",
        test=os.environ.get(ENV_TEST, "welch"),
        db="none",
    )
    return build_dag(config)


def run(config: RunConfig) -> dict[str, Any]:
    """Run the DAG once in this process with ``dag.test()``; return the report it wrote.

    Needs ``AIRFLOW_HOME`` and ``AIRFLOW__CORE__DAGS_FOLDER`` set (``airflow_run`` sets them)
    and ``airflow db migrate`` done there.
    """
    from exam_pipeline.core.report import read_report

    config = config.checked()
    os.environ.update(
        {ENV_INPUT: str(config.source), ENV_OUT: str(config.out), ENV_TEST: config.test}
    )
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "exam_scores_dag.py").write_text(DAG_FILE, encoding="utf-8")
    dag_run = dag_from_environment().test()
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    if any(state != "success" for state in states.values()):
        raise RuntimeError(f"DAG {DAG_ID} did not succeed: {states}")
    return {"report": read_report(Path(config.out) / "report.json"), "tasks": states}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the exam DAG once with dag.test().")
    parser.add_argument("--input", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--test", default="welch")
    args = parser.parse_args(argv)
    config = RunConfig(input=args.input, out=args.out, engine="airflow", test=args.test, db="none")
    json.dump(run(config), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
