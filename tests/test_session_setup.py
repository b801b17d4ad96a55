"""The test session's own set-up in the root conftest.py: the order xdist hands out files."""

from __future__ import annotations

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
