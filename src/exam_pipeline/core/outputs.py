"""Write a run's outputs into ``--out``: report.json, report.md, the boxplot, rejected.csv, the DB row.

Everything is computed before anything is written, and each file appears atomically, so a run
that fails leaves no half-written report behind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from exam_pipeline.core import report as report_mod
from exam_pipeline.core.analysis import GroupSummary, TTestResult
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.files import atomic_path, atomic_write_text, publishable
from exam_pipeline.core.plots import boxplot_figure, save_figure
from exam_pipeline.core.sinks import make_engine, save_run

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
BOXPLOT_PNG = "scores_boxplot.png"
REJECTED_CSV = "rejected.csv"


def write_rejected(rejected: pd.DataFrame | Path, path: Path) -> Path:
    """Put the quarantine table in place: from a DataFrame, or by moving a finished temp file."""
    if isinstance(rejected, pd.DataFrame):
        with atomic_path(path) as tmp:
            rejected.to_csv(tmp, index=False, lineterminator="\n")
    else:
        os.replace(publishable(rejected), path)
    return path


#: The temporary files a run makes in --out before moving them into place; a run that was
#: killed leaves them behind, and the next run removes them.
LEFTOVERS = (".rejected.*.tmp", *(f".{name}.*.tmp" for name in (
    "report.json", "report.md", "scores_boxplot.png", "rejected.csv", "results.db",
)))  # fmt: skip


def remove_leftovers(out: Path, keep: Path | None = None) -> list[Path]:
    """Delete the temporary files an interrupted run left in ``out`` (not ``keep``)."""
    removed = []
    kept = keep.resolve() if keep is not None else None
    for pattern in LEFTOVERS:
        for path in out.glob(pattern):
            if path.resolve() != kept and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def publish(
    config: RunConfig,
    summaries: Mapping[str, GroupSummary],
    result: TTestResult,
    rows_read: int,
    rejected: pd.DataFrame | Path,
    rows_dropped: int | None = None,
) -> dict[str, Any]:
    """Build the report and write every output of the run; return the report."""
    if rows_dropped is None:
        rows_dropped = len(rejected) if isinstance(rejected, pd.DataFrame) else 0
    report = report_mod.build_report(
        config.engine, summaries, result, config.alpha, rows_read, rows_dropped
    )
    out = Path(config.out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        remove_leftovers(out, keep=rejected if isinstance(rejected, Path) else None)
        url = config.db_url
        if url is not None:
            make_engine(url).dispose()  # a bad URL fails here, before any file is written
        figure = boxplot_figure(summaries, xlabel=config.group_col, ylabel=config.value_col)
        if url is not None:
            save_run(url, report)
        save_figure(figure, out / BOXPLOT_PNG)
        write_rejected(rejected, out / REJECTED_CSV)
        atomic_write_text(out / REPORT_MD, report_mod.to_markdown(report))
        atomic_write_text(out / REPORT_JSON, report_mod.to_json(report))
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run that failed leaves no empty --out behind
        raise
    return report
