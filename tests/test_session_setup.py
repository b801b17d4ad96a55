"""The test session's own set-up in the root conftest.py: the order xdist hands out files, and
the database of the session's Prefect server."""

from __future__ import annotations

import os
import uuid

import pytest

from conftest import ROOT


def root_conftest(config):
    """The root conftest.py as pytest loaded it (registered under its path)."""
    return config.pluginmanager.get_plugin(str(ROOT / "conftest.py"))


def test_slowest_first_names_existing_test_files_once(pytestconfig):
    listed = root_conftest(pytestconfig).SLOWEST_FIRST
    assert len(set(listed)) == len(listed)
    missing = [name for name in listed if not (ROOT / name).is_file()]
    assert missing == [], f"SLOWEST_FIRST names files that are gone: {missing}"


def test_listed_files_come_first_and_every_file_stays_whole(pytestconfig):
    class Item:
        def __init__(self, path: str, name: str) -> None:
            self.path, self.name = ROOT / path, name

    items = [
        Item("tests/test_clean.py", "a"),
        Item("tests/test_prefect.py", "b"),
        Item("tests/test_clean.py", "c"),  # not listed: keeps its place among the unlisted
        Item("tests/test_dask.py", "d"),
        Item("tests/test_prefect.py", "e"),
    ]
    root_conftest(pytestconfig).pytest_collection_modifyitems(pytestconfig, items)
    assert [i.name for i in items] == ["d", "b", "e", "a", "c"]


def test_session_server_keeps_its_data_in_postgresql_where_installed(pytestconfig):
    """Where PostgreSQL (with pg_trgm) is installed, what the server stores lands there."""
    session = root_conftest(pytestconfig)
    db_url = os.environ.get(session.SESSION_DB_URL)
    if not db_url:
        pytest.skip("no session server here (EXAM_PIPELINE_TEST_SERVER=0 or PREFECT_API_URL set)")
    if session.postgres_bin() is None or os.environ.get(session.DB_SWITCH) == "sqlite":
        assert db_url.startswith("sqlite:///")
        pytest.skip("no PostgreSQL with pg_trgm here: the session's server keeps SQLite")
    assert db_url.startswith("postgresql://"), os.environ.get(session.SESSION_DB_PROBLEM)

    import sqlalchemy
    from prefect.client.orchestration import get_client

    name = f"session-db-probe-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as api:
        api.create_flow_from_name(name)
    engine = sqlalchemy.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as db:
            found = db.execute(
                sqlalchemy.text("SELECT name FROM flow WHERE name = :n"), {"n": name}
            )
            assert found.scalars().all() == [name]
    finally:
        engine.dispose()
