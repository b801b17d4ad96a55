"""The synthetic data generator: reproducible, messy in the stated proportions, streaming."""

from __future__ import annotations

import pandas as pd
import pytest

from exam_pipeline.core.data import JUNK_TOKENS, generate_scores
from exam_pipeline.core.report import read_report


def test_same_seed_same_bytes(tmp_path):
    a = generate_scores(tmp_path / "a.csv", rows=5000, seed=7)
    b = generate_scores(tmp_path / "b.csv", rows=5000, seed=7)
    c = generate_scores(tmp_path / "c.csv", rows=5000, seed=8)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_messy_proportions_and_effect(tmp_path):
    path = generate_scores(tmp_path / "g.csv", rows=200_000, seed=1, effect=3.0, chunk_rows=30_000)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(df) == 200_000 and list(df.columns) == ["Student", "Class", "Score"]
    junk = df["Score"].isin(JUNK_TOKENS).mean()
    blank = (df["Score"] == "").mean()
    assert 0.008 < junk < 0.012 and 0.008 < blank < 0.012
    scores = pd.to_numeric(df["Score"], errors="coerce")
    diff = scores[df["Class"] == "B"].mean() - scores[df["Class"] == "A"].mean()
    assert diff == pytest.approx(3.0, abs=0.2)


def test_cli_generate_then_run(run_cli, tmp_path):
    csv = tmp_path / "big.csv"
    code, out, _ = run_cli("generate", "--rows", "20000", "--seed", "3", "--out", csv)
    assert code == 0 and "20000 rows" in out
    code, _, err = run_cli("run", "--input", csv, "--out", tmp_path / "o", "--db", "none")
    assert code == 0, err
    report = read_report(tmp_path / "o" / "report.json")
    assert report["rows_read"] == 20000 and 200 < report["rows_dropped"] < 600
    assert not list(tmp_path.glob(".*.tmp"))


def test_generate_into_a_folder_is_an_error(run_cli, tmp_path):
    code, _, err = run_cli("generate", "--rows", "10", "--out", tmp_path)
    assert code == 2 and "is a folder" in err
