"""What the tests share for the processes they start: free ports, polling, stopping, servers.

Importable as ``support`` (``pythonpath = ["tests"]`` in pyproject.toml).
"""
