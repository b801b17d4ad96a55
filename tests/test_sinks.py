"""The ETL "load" step: one row per run, in SQLite by default and in a real PostgreSQL."""

from __future__ import annotations

import pytest

from exam_pipeline.core.sinks import read_runs


def test_sqlite_gets_one_row_per_run(run_cli, tmp_path):
    url = f"sqlite:///{(tmp_path / 'runs.db').as_posix()}"
    for test in ("welch", "student"):
        code, _, err = run_cli("run", "--out", tmp_path / "o", "--db", url, "--test", test)
        assert code == 0, err
    runs = read_runs(url)
    assert [r["test"] for r in runs] == ["welch", "student"]
    assert (
        runs[1]["df"] == 8 and runs[1]["group_a"] == "A" and runs[1]["mean_b"] == pytest.approx(80)
    )


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    """A throwaway PostgreSQL server (pgserver ships the binaries in its wheel)."""
    import pgserver  # a dev dependency: a missing install fails here rather than skipping

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        server.cleanup()


def test_postgresql_url_works_like_sqlite(run_cli, tmp_path, postgres_url):
    code, _, err = run_cli("run", "--out", tmp_path / "o", "--db", postgres_url)
    assert code == 0, err
    runs = read_runs(postgres_url)
    assert len(runs) == 1 and runs[0]["engine"] == "pandas" and runs[0]["n_b"] == 5
    assert not (tmp_path / "o" / "results.db").exists()
