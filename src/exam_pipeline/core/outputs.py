"""Write a run's outputs into ``--out``: report.json, report.md, the boxplot, rejected.csv, the DB row.

Everything is computed before anything is written, and each file appears atomically, so a run
that fails leaves no half-written report behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from exam_pipeline.core.analysis import Analysis
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.files import atomic_path, atomic_write_text, publishable
from exam_pipeline.core.plots import boxplot_figure, save_figure
from exam_pipeline.core.report import Report
from exam_pipeline.core.sinks import save_run

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


def remove_leftovers(out: Path) -> list[Path]:
    """Delete the temporary files an interrupted (killed) run left in ``out``.

    ``engines.run`` calls it before the engine starts, so a temporary file of this run is never
    taken for a leftover.
    """
    removed = []
    for pattern in LEFTOVERS:
        for path in out.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def publish(config: RunConfig, analysis: Analysis) -> Report:
    """Write every output of the run and return its report: the one place outputs are written.

    The database row goes first, so a database that cannot be reached fails the run before any
    file is written; then the boxplot, rejected.csv, report.md and report.json (last: a reader
    that sees it sees a finished run). Each file appears atomically. ``engines.run`` calls this,
    and leaves ``--out`` as it was when anything fails.
    """
    report = Report.of(config, analysis)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = boxplot_figure(analysis.summaries, xlabel=config.group_col, ylabel=config.value_col)
    url = config.db_url
    if url is not None:
        save_run(url, report)
    save_figure(figure, out / BOXPLOT_PNG)
    write_rejected(analysis.rejected, out / REJECTED_CSV)
    atomic_write_text(out / REPORT_MD, report.to_markdown())
    atomic_write_text(out / REPORT_JSON, report.to_json())
    return report
