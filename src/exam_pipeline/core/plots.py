"""The boxplot of scores per class, drawn from group summaries so every engine can draw it."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from exam_pipeline.core.analysis import GroupSummary
from exam_pipeline.core.files import atomic_path


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a PNG even when pyplot's inline backend was never loaded.

    We draw without pyplot (no global state, safe in threads and worker processes); a plain
    Figure would then show only as ``<Figure size ...>`` text in a notebook.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()


def boxplot_figure(
    summaries: Mapping[str, GroupSummary],
    title: str = "Exam scores by class",
    xlabel: str = "Class",
    ylabel: str = "Score",
) -> Figure:
    """A boxplot (Tukey whiskers, outliers not drawn) of each group; no pyplot state touched."""
    fig = NotebookFigure(figsize=(5, 4), dpi=100)
    ax = fig.add_subplot()
    boxes = [
        {
            "label": label,
            "med": s.median,
            "q1": s.q1,
            "q3": s.q3,
            "whislo": s.whislo,
            "whishi": s.whishi,
            "mean": s.mean,
            "fliers": [],
        }
        for label, s in summaries.items()
    ]
    ax.bxp(boxes, showmeans=True, showfliers=False)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG atomically (no half-written image if saving fails)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        # metadata={"Software": None}: the same figure gives the same bytes on every machine.
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return path
