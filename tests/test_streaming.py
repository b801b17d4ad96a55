"""The streaming pieces agree with pandas row for row, and the stream engine's memory stays flat."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from exam_pipeline.core.clean import NA_TOKENS, clean_scores
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import generate_scores, inspect_csv, read_scores
from exam_pipeline.core.report import read_report
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines.pipeline import run_pipeline
from exam_pipeline.engines.streaming import (
    RunningStats,
    Scan,
    clean_fields,
    clean_rows,
    merge_scans,
    parse_score,
    read_rows,
    run_stream,
    scan_file,
    ttest_from_scan,
)

TOKENS = ["65", " 7 ", "+5", "5.", ".5", "1e3", "-2.25", "inf", "nan", "NaN", "1_000", "0x10",
          "--5", "True", "seventy", "?", "１２", "٣", "1,5", "72,5"]  # fmt: skip

MESSY = (
    "Student,Class,Score\n"
    "1,A,65\n"
    "2,A,abc\n"
    "\n"
    "3,B,\n"
    "4,,70\n"
    "5, B , 80 \n"
    "6,A,n/a\n"
    "7,NA,60\n"
    "8,B\n"
    "9,A,nan\n"
    '10,B,"82"\n'
    "11,A,70.5\n"
    "12,B,79\n"
)


@pytest.fixture
def messy(tmp_path) -> Path:
    path = tmp_path / "messy.csv"
    path.write_text(MESSY, encoding="utf-8")
    return path


def pandas_clean(path: Path):
    raw, fmt = read_scores(path)
    return clean_scores(raw, decimal=fmt.decimal)


@pytest.mark.parametrize("decimal", [".", ","])
def test_parse_score_follows_pandas_to_numeric(decimal):
    for token in TOKENS:
        text = token.strip()
        pandas_text = text.replace(decimal, ".") if decimal != "." else text
        want = pd.to_numeric(pd.Series([pandas_text], dtype="string"), errors="coerce").iloc[0]
        got = parse_score(text, decimal)
        if pd.isna(want):
            assert got is None, token
        else:
            assert got == float(want), token


def test_na_tokens_are_the_pandas_defaults():
    parsers = pytest.importorskip("pandas._libs.parsers")
    assert set(parsers.STR_NA_VALUES) == NA_TOKENS


def test_clean_fields_reasons_and_order():
    assert clean_fields(" A ", " 65 ") == ("A", 65.0, "65", None)
    assert clean_fields("", "") == ("", None, "", "missing group")  # group is checked first
    assert clean_fields("A", None) == ("A", None, "", "missing score")
    assert clean_fields("A", "n/a") == ("A", None, "n/a", "missing score")  # a pandas NA token
    assert clean_fields("A", "n/a ") == ("A", None, "n/a", "missing score")
    for text in ("inf", "-Infinity", "NaN", "+nan", "NAN", "1e999"):
        assert clean_fields("A", text) == ("A", None, text, "not a finite number"), text
    assert clean_fields("NULL", "70") == ("", None, "70", "missing group")
    assert clean_fields("B", "72,5", decimal=",") == ("B", 72.5, "72,5", None)


def test_generator_chain_is_lazy(messy):
    fmt = inspect_csv(messy)
    rows = clean_rows(read_rows(messy, fmt))
    assert next(rows).score == 65.0  # only the first row has been read so far
    rows.close()


def test_generator_chain_matches_clean_scores(messy):
    fmt = inspect_csv(messy)
    rows = list(clean_rows(read_rows(messy, fmt)))
    reference = pandas_clean(messy)
    kept = [(r.group, r.score) for r in rows if r.reason is None]
    assert kept == list(reference.frame.itertuples(index=False, name=None))
    dropped = [(r.group, r.text, r.reason) for r in rows if r.reason is not None]
    assert dropped == list(
        reference.rejected[["group", "score", "reason"]].itertuples(index=False, name=None)
    )
    assert len(rows) == reference.rows_read == 12


def test_stream_rejects_what_pandas_rejects(messy, tmp_path):
    stream = run_stream(RunConfig(input=messy, out=tmp_path / "s", engine="stream", db="none"))
    reference = pandas_clean(messy)
    assert (stream["rows_read"], stream["rows_dropped"]) == (
        reference.rows_read,
        reference.rows_dropped,
    )
    rejected = pd.read_csv(tmp_path / "s" / "rejected.csv", dtype=str, keep_default_na=False)
    assert list(rejected.itertuples(index=False, name=None)) == [
        tuple(str(x) for x in row) for row in reference.rejected.itertuples(index=False, name=None)
    ]
    assert set(reference.labels) == {"A", "B"}


def test_scan_is_the_same_in_any_chunking(tmp_path):
    path = generate_scores(tmp_path / "g.csv", rows=5000, seed=5, decimals=3)
    small, whole = scan_file(path, chunksize=777), scan_file(path)
    assert small.labels == whole.labels == {"A", "B"}
    assert (small.rows_read, small.rows_dropped) == (whole.rows_read, whole.rows_dropped)
    frame = pandas_clean(path).frame
    for label, values in frame.groupby("Class")["Score"]:
        for scan in (small, whole):
            assert scan.stats[label].n == len(values)
            assert math.isclose(scan.stats[label].mean, values.mean(), rel_tol=1e-12)
            assert math.isclose(scan.stats[label].std, values.std(), rel_tol=1e-10)


def test_scan_reads_semicolons_and_decimal_commas(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("Class;Score\nA;72,5\nA;70\nB;80,25\nB;abc\n", encoding="utf-8")
    scan = scan_file(path)
    assert {k: (s.n, s.mean) for k, s in scan.stats.items()} == {"A": (2, 71.25), "B": (1, 80.25)}
    assert scan.rows_dropped == 1


def test_merged_shards_equal_one_scan(tmp_path):
    generate_scores(tmp_path / "all.csv", rows=3000, seed=3, decimals=2)
    lines = (tmp_path / "all.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    (tmp_path / "a.csv").write_text(header + "".join(body[:1000]), encoding="utf-8")
    (tmp_path / "b.csv").write_text(header + "".join(body[1000:]), encoding="utf-8")
    merged = merge_scans([scan_file(tmp_path / "a.csv"), scan_file(tmp_path / "b.csv")])
    whole = scan_file(tmp_path / "all.csv")
    assert merged.labels == whole.labels
    assert (merged.rows_read, merged.rows_dropped) == (whole.rows_read, whole.rows_dropped)
    for label, s in whole.stats.items():
        m = merged.stats[label]
        assert m.n == s.n and math.isclose(m.mean, s.mean, rel_tol=1e-12)
        assert math.isclose(m.m2, s.m2, rel_tol=1e-10)
    result = ttest_from_scan(merged)
    assert math.isclose(result.t, ttest_from_scan(whole).t, rel_tol=1e-9)
    assert isinstance(merged, Scan)


def test_welford_matches_pandas_and_merges():
    rng = np.random.default_rng(0)
    values = rng.normal(1e6, 3.0, size=20_000)  # a big offset defeats the naive formula
    stats_all = RunningStats()
    for x in values:
        stats_all.add(float(x))
    series = pd.Series(values)
    assert stats_all.n == 20_000
    assert math.isclose(stats_all.mean, series.mean(), rel_tol=1e-12)
    assert math.isclose(stats_all.std, series.std(), rel_tol=1e-9)
    left, right = RunningStats(), RunningStats()
    for x in values[:7000]:
        left.add(float(x))
    for x in values[7000:]:
        right.add(float(x))
    merged = left.merge(right)
    assert merged.n == 20_000
    assert math.isclose(merged.std, series.std(), rel_tol=1e-9)
    assert math.isnan(RunningStats(n=1, mean=2.0).variance)


@pytest.mark.parametrize("equal_var", [True, False])
def test_ttest_from_running_stats_matches_ttest_ind(equal_var):
    rng = np.random.default_rng(1)
    a, b = rng.normal(70, 10, 500).round(), rng.normal(72, 9, 700).round()
    sa, sb = RunningStats(), RunningStats()
    for x in a:
        sa.add(float(x))
    for x in b:
        sb.add(float(x))
    got = stats.ttest_ind_from_stats(
        sa.mean, sa.std, sa.n, sb.mean, sb.std, sb.n, equal_var=equal_var
    )
    want = stats.ttest_ind(a, b, equal_var=equal_var)
    assert math.isclose(got.statistic, want.statistic, rel_tol=1e-9)
    assert math.isclose(got.pvalue, want.pvalue, rel_tol=1e-9)


def test_run_stream_writes_what_pandas_writes(messy, tmp_path):
    stream = run_stream(RunConfig(input=messy, out=tmp_path / "s", engine="stream", db="none"))
    ref = run_pipeline(RunConfig(input=messy, out=tmp_path / "p", db="none"))
    assert stream["engine"] == "stream"
    for key in ("test", "significant", "rows_read", "rows_dropped"):
        assert stream[key] == ref[key], key
    figures = ("t", "df", "p", "difference", "ci_low", "ci_high", "hedges_g")
    assert [stream[k] for k in figures] == pytest.approx([ref[k] for k in figures], rel=1e-12)
    assert list(stream["groups"]) == list(ref["groups"])
    for label, group in ref["groups"].items():
        assert stream["groups"][label] == pytest.approx(group, rel=1e-12), label
    # rejected.csv: the same rows, lines and reasons
    mine = pd.read_csv(tmp_path / "s" / "rejected.csv", dtype=str, keep_default_na=False)
    theirs = pd.read_csv(tmp_path / "p" / "rejected.csv", dtype=str, keep_default_na=False)
    assert mine.equals(theirs)
    assert not list((tmp_path / "s").glob(".rejected.*")), "temporary file left behind"


def test_failed_run_leaves_no_trace(tmp_path):
    path = tmp_path / "one_group.csv"
    path.write_text("Class,Score\nA,1\nA,2\nA,3\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(PipelineInputError, match="exactly 2 groups"):
        run_stream(RunConfig(input=path, out=out, engine="stream", db="none"))
    assert not out.exists()


def test_bad_bytes_mid_file_are_a_clear_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"Class,Score\n" + b"A,1\nB,2\n" * 40_000 + b"A,caf\xe9\n")
    with pytest.raises(PipelineInputError, match="not UTF-8"):
        run_stream(RunConfig(input=path, out=tmp_path / "out", engine="stream", db="none"))
    assert not (tmp_path / "out").exists()


# -- memory: peak RSS of the stream engine stays flat as the file grows -------------------

PEAK_RSS = """
import resource, sys
from pathlib import Path
from exam_pipeline.core.config import RunConfig
from exam_pipeline.engines.streaming import run_stream
from exam_pipeline.core.report import read_report
run_stream(RunConfig(input=Path(sys.argv[1]), out=Path(sys.argv[2]), engine="stream", db="none"))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak if sys.platform == "darwin" else peak * 1024)
"""


@pytest.fixture(scope="session")
def sized_files(tmp_path_factory) -> dict[int, Path]:
    """0.1 M and 0.5 M generated rows of six-decimal scores (no two alike), written once.

    Real values, not whole points: a summary that kept one entry per distinct value would stay
    small on whole points and grow here.
    """
    folder = tmp_path_factory.mktemp("sized")
    return {
        n: generate_scores(folder / f"{n}.csv", rows=n, seed=11, decimals=6)
        for n in (100_000, 500_000)
    }


def peak_rss_mb(path: Path, out: Path) -> float:
    """Peak resident memory of a fresh interpreter that runs the stream engine on ``path``."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(path), str(out)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return int(done.stdout.strip()) / 2**20


@pytest.mark.skipif(sys.platform == "win32", reason="the resource module is POSIX-only")
def test_stream_peak_memory_is_flat(sized_files, tmp_path):
    small = peak_rss_mb(sized_files[100_000], tmp_path / "small")
    big = peak_rss_mb(sized_files[500_000], tmp_path / "big")
    report = read_report(tmp_path / "big" / "report.json")
    assert report["rows_read"] == 500_000
    # 5x the rows of six-decimal scores. Measured here: the stream's peak went from 236 to
    # 242 MB, the pandas engine's from 239 to 290 MB, so holding the rows (or one entry per
    # distinct value) would fail this. benchmarks/bench.py measures 4 M rows.
    assert big - small < 20, f"peak RSS grew from {small:.0f} MB to {big:.0f} MB"


def test_scanning_workers_import_neither_scipy_nor_matplotlib():
    """Pool and Dask workers import these modules only to count rows (lessons 03 and 08).

    SciPy, Matplotlib and SQLAlchemy come in only when a run tests or publishes: in a worker
    process they would cost about 1.5 s of CPU for nothing.
    """
    code = (
        "import sys, exam_pipeline.engines.streaming, exam_pipeline.engines.dask_engine\n"
        "print([m for m in ('scipy.stats', 'matplotlib', 'sqlalchemy') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]"]


@pytest.mark.parametrize("decimals", [0, 3])
def test_counting_and_chunks_write_the_same_outputs(decimals, tmp_path, monkeypatch):
    """The counting loop (scores that repeat) and the chunked passes give the same report and
    rejected.csv; a file whose scores stop repeating part-way is read again, rejects written once."""
    from exam_pipeline.engines import streaming

    path = generate_scores(tmp_path / "g.csv", rows=6000, seed=9, decimals=decimals)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n6001,A,inf\n6002,B,n/a\n6003,,70\n")  # after a blank line
    counted = run_stream(RunConfig(input=path, out=tmp_path / "counted", db="none"))
    monkeypatch.setattr(streaming, "COUNT_LIMIT", 50)  # gives up part-way through the file
    chunked = run_stream(RunConfig(input=path, out=tmp_path / "chunked", db="none"))
    reference = run_pipeline(RunConfig(input=path, out=tmp_path / "pandas", db="none"))
    for report in (counted, chunked):
        assert report["groups"] == reference["groups"] or all(
            report["groups"][g] == pytest.approx(reference["groups"][g], rel=1e-12)
            for g in reference["groups"]
        )
        assert report["t"] == pytest.approx(reference["t"], rel=1e-12)
        assert (report["rows_read"], report["rows_dropped"]) == (
            reference["rows_read"],
            reference["rows_dropped"],
        )
    want = (tmp_path / "pandas" / "rejected.csv").read_text(encoding="utf-8")
    assert (tmp_path / "counted" / "rejected.csv").read_text(encoding="utf-8") == want
    assert (tmp_path / "chunked" / "rejected.csv").read_text(encoding="utf-8") == want
    assert "not a finite number" in want
