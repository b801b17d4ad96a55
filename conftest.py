"""The test session's set-up, for every test file and notebook under the repository.

It lives in ``tests/support/session.py`` (with the other test helpers, importable as
``support``): one shared Prefect server for every Prefect user, and the files handed to the
xdist workers longest first; and the
mutation and re-run tests of the exercises (``support.wrong_answers``). This file stays at the root so that it also applies to a run of
``solutions/`` or ``notebooks/`` alone.
"""

# support.wrong_answers last: its collection hook (tryfirst) then runs before support.landscape's.
pytest_plugins = ["support.session", "support.landscape", "support.wrong_answers"]
