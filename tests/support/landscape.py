"""Lesson 12's notebooks carry the ``landscape`` marker: ``make test-landscape`` runs them.

Each takes 100-170 s on the 2-core course machine (Spark's JVM, Metaflow's and Airflow's
subprocesses, a measured comparison table), more than ``make test``'s whole two-minute budget,
so the Makefile's ``test`` target deselects ``-m "not landscape"`` and ``test-landscape`` selects
``-m landscape``. The marker is put on every item of these notebooks, the exercises' re-run and
wrong-answer items (``support.wrong_answers``, whose hook runs before this one) included.
tests/test_landscape_split.py fails if ``make test-landscape`` stops collecting them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Notebook file names (in solutions/ and notebooks/) that only make test-landscape runs.
LANDSCAPE_NOTEBOOKS = frozenset({"12_landscape.ipynb"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects; after support.wrong_answers adds items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).name in LANDSCAPE_NOTEBOOKS:
            item.add_marker(pytest.mark.landscape)
