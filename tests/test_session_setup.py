"""The test session's own set-up (``support.session``): the order xdist hands out files, and
the database of the session's Prefect server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from conftest import ROOT
from support import postgres, session


def test_slowest_first_names_existing_test_files_once():
    listed = session.SLOWEST_FIRST
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
    session.pytest_collection_modifyitems(pytestconfig, items)
    assert [i.name for i in items] == ["d", "b", "e", "a", "c"]


def test_session_server_keeps_its_data_in_postgresql_where_installed():
    """Where PostgreSQL (with pg_trgm) is installed, what the server stores lands there;
    elsewhere in the session's SQLite file."""
    db_url = os.environ.get(session.SESSION_DB_URL)
    if not db_url:
        pytest.skip("no session server here (EXAM_PIPELINE_TEST_SERVER=0 or PREFECT_API_URL set)")
    if postgres.postgres_bin() is None or os.environ.get(postgres.DB_SWITCH) == "sqlite":
        assert db_url.startswith("sqlite:///")
        assert Path(db_url.removeprefix("sqlite:///")).is_file()
    else:
        assert db_url.startswith("postgresql://"), os.environ.get(session.SESSION_DB_PROBLEM)
        db_url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)

    import sqlalchemy
    from prefect.client.orchestration import get_client

    name = f"session-db-probe-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as api:
        api.create_flow_from_name(name)
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as db:
            found = db.execute(
                sqlalchemy.text("SELECT name FROM flow WHERE name = :n"), {"n": name}
            )
            assert found.scalars().all() == [name]
    finally:
        engine.dispose()
