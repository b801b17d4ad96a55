"""The "load" step of ETL: one row per pipeline run in a SQL database, through SQLAlchemy.

SQLite is the default (a file beside the report); any SQLAlchemy URL works, for example
``postgresql+psycopg://user:pass@localhost/exams`` once a PostgreSQL driver is installed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from exam_pipeline.core.report import Report
from exam_pipeline.core.validate import PipelineInputError

metadata = sa.MetaData()

#: One row per run: the test and, for the two groups in sorted order, n and mean.
runs = sa.Table(
    "pipeline_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("engine", sa.String(32), nullable=False),
    sa.Column("test", sa.String(16), nullable=False),
    sa.Column("alpha", sa.Float, nullable=False),
    sa.Column("t", sa.Float, nullable=False),
    sa.Column("df", sa.Float, nullable=False),
    sa.Column("p", sa.Float, nullable=False),
    sa.Column("significant", sa.Boolean, nullable=False),
    # The effect's size and precision; nullable only for rows saved before they were reported.
    sa.Column("difference", sa.Float),
    sa.Column("ci_low", sa.Float),
    sa.Column("ci_high", sa.Float),
    sa.Column("hedges_g", sa.Float),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("rows_dropped", sa.Integer, nullable=False),
    sa.Column("group_a", sa.String(64), nullable=False),
    sa.Column("n_a", sa.Integer, nullable=False),
    sa.Column("mean_a", sa.Float, nullable=False),
    sa.Column("group_b", sa.String(64), nullable=False),
    sa.Column("n_b", sa.Integer, nullable=False),
    sa.Column("mean_b", sa.Float, nullable=False),
)


def add_missing_columns(conn: sa.Connection) -> None:
    """Bring a ``pipeline_runs`` table made by an older version up to date (new columns added).

    An earlier run's database in ``output/`` would otherwise make every new run fail.
    """
    have = {column["name"] for column in sa.inspect(conn).get_columns(runs.name)}
    for column in runs.columns:
        if column.name not in have:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {runs.name} ADD COLUMN {column.name} {kind}"))


def make_engine(url: str) -> sa.Engine:
    """An SQLAlchemy engine for ``url``, or a clear error if the URL or its driver is wrong."""
    try:
        return sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise PipelineInputError(f"--db {url}: not a usable database URL ({exc})") from None


def run_row(report: Report) -> dict[str, Any]:
    """One ``pipeline_runs`` row: the report's figures, and n and mean of each group by name."""
    (label_a, a), (label_b, b) = report.groups.items()
    return {
        "engine": report.engine,
        "test": report.test,
        "alpha": report.alpha,
        "t": report.t,
        "df": report.df,
        "p": report.p,
        "significant": report.significant,
        "difference": report.difference,
        "ci_low": report.ci_low,
        "ci_high": report.ci_high,
        "hedges_g": report.hedges_g,
        "rows_read": report.rows_read,
        "rows_dropped": report.rows_dropped,
        "group_a": label_a,
        "n_a": a.n,
        "mean_a": a.mean,
        "group_b": label_b,
        "n_b": b.n,
        "mean_b": b.mean,
    }


def save_run(url: str, report: Report) -> None:
    """Append one row for this run, creating the table on first use (in one transaction)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            add_missing_columns(conn)
            conn.execute(runs.insert().values(**run_row(report)))
    except SQLAlchemyError as exc:
        raise PipelineInputError(
            f"--db {url}: could not save the run ({exc.__class__.__name__}: {exc.orig if hasattr(exc, 'orig') else exc})"
        ) from None
    finally:
        engine.dispose()


def read_runs(url: str) -> list[dict[str, Any]]:
    """All saved runs, oldest first (for lessons and tests)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.select(runs).order_by(runs.c.id))]
    finally:
        engine.dispose()
