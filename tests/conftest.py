"""Shared fixtures: the project root and a runner for the CLI (process helpers: ``support``)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_cli(capsys):
    """Run ``exam-pipeline ARGS`` in-process; return (exit code, stdout, stderr)."""
    # Imported here: the CLI pulls in pandas, SciPy and Matplotlib (about 1.5 s), which a
    # `pytest tests/test_clean.py` run from lesson 10 does not need.
    from exam_pipeline.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


@pytest.fixture
def write_csv(tmp_path):
    """Write text (or bytes) to a CSV file under tmp_path and return its path."""

    def _write(content: str | bytes, name: str = "scores.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
