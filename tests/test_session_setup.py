"""The test session's own set-up (``support.session``): the order xdist hands out files, the
durations it is made from, and the database of the session's Prefect server."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT
from support import postgres, session


class Item:
    """The two things the ordering reads from a collected test: its file and its name."""

    def __init__(self, path: str, name: str) -> None:
        self.path, self.name = ROOT / path, name


def test_longest_recorded_files_first_unrecorded_before_them_and_every_file_whole():
    items = [
        Item("tests/test_clean.py", "a"),
        Item("tests/test_prefect.py", "b"),
        Item("tests/test_clean.py", "c"),
        Item("tests/test_new.py", "d"),  # no record yet: counts as long
        Item("tests/test_dask.py", "e"),
        Item("tests/test_prefect.py", "f"),
    ]
    seconds = {"tests/test_clean.py": 1.0, "tests/test_dask.py": 30.0, "tests/test_prefect.py": 9.0}
    session.longest_first(items, ROOT, seconds)
    assert [i.name for i in items] == ["d", "e", "b", "f", "a", "c"]


def test_recorded_durations_round_trip(tmp_path, monkeypatch):
    """--record-durations adds up setup, call and teardown per file and writes them, longest
    first; the ordering reads them back."""
    target = tmp_path / "durations.json"
    monkeypatch.setattr(session, "DURATIONS", target)
    monkeypatch.setattr(session, "_recording", {})
    for nodeid, duration in [
        ("tests/test_a.py::test_one", 0.5),
        ("solutions/01_x.ipynb::Cell 0", 2.0),
        ("tests/test_a.py::test_one", 0.25),  # its teardown
        ("tests/test_b.py::test_two", 1.0),
    ]:
        session.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=duration))
    session.pytest_sessionfinish(SimpleNamespace(testsfailed=0, shouldstop=False))
    assert list(json.loads(target.read_text()).items()) == [
        ("solutions/01_x.ipynb", 2.0),
        ("tests/test_b.py", 1.0),
        ("tests/test_a.py", 0.8),
    ]
    assert session.recorded_durations(target) == {
        "solutions/01_x.ipynb": 2.0,
        "tests/test_b.py": 1.0,
        "tests/test_a.py": 0.8,
    }


def test_a_failed_session_records_nothing(tmp_path, monkeypatch):
    """A session cut short would make its unfinished files look short."""
    monkeypatch.setattr(session, "DURATIONS", tmp_path / "durations.json")
    monkeypatch.setattr(session, "_recording", {"tests/test_a.py": 1.0})
    session.pytest_sessionfinish(SimpleNamespace(testsfailed=1, shouldstop=False))
    assert not (tmp_path / "durations.json").exists()


def test_the_recorded_durations_are_read():
    """The committed record parses, and covers the suite's notebooks (else nothing is ordered)."""
    recorded = session.recorded_durations()
    assert "solutions/05_prefect_basics.ipynb" in recorded
    assert all(seconds >= 0 for seconds in recorded.values())


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
