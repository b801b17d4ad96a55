"""Statistics you can trust on any input: references from outside the code, and degenerate data.

- The interval and the tests against R's ``t.test`` on a published data set (written down below).
- Property tests (Hypothesis): any two samples, in any chunking (what tells the engines apart),
  give SciPy's t, df, p and confidence interval, and Hedges' g by its formula.
- Every engine gives the same exit status and the same one line, or the same figures, on files
  that break a naive t-test: non-finite values, constant groups, huge and tiny magnitudes.
- Files as spreadsheets and gradebooks export them: comma, semicolon and tab; UTF-8 with or
  without a byte-order mark, UTF-16, and Windows-1252 with ``--encoding``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from exam_pipeline import engines
from exam_pipeline.core.analysis import compare
from exam_pipeline.core.clean import clean_scores
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import LESSON_SCORES
from exam_pipeline.core.report import build_report, read_report
from exam_pipeline.core.summary import extents, summarize
from exam_pipeline.core.validate import PipelineInputError
from exam_pipeline.engines import pipeline, streaming

ENGINES = engines.available()

# R's datasets::sleep (Cushny and Peebles, 1905; Student, 1908): extra hours of sleep with two
# drugs, ten patients each. The reference figures are R 4.x's printout of the examples in
# ?t.test: t.test(extra ~ group, data = sleep) and the same with var.equal = TRUE.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
# R prints the two ends of an interval with the same number of decimals.
R_WELCH = {"t": -1.8608, "df": 17.776, "p": 0.07939, "ci": (-3.3654832, 0.2054832), "dp": 7}
R_STUDENT = {"t": -1.8608, "df": 18, "p": 0.07919, "ci": (-3.363874, 0.203874), "dp": 6}


def summaries_in_chunks(groups: dict[str, np.ndarray], chunks: int = 1):
    """Each group's summary made from ``chunks`` pieces, as the stream and Dask engines do."""
    parts = {label: np.array_split(values, chunks) for label, values in groups.items()}

    def run_pass(f):
        return [f({label: parts[label][i] for label in parts}) for i in range(chunks)]

    return summarize(run_pass, extents(run_pass, list(groups)))


def sig(x: float, digits: int) -> float:
    """``x`` to ``digits`` significant digits, as R prints it."""
    return float(f"{x:.{digits - 1}e}")


@pytest.mark.parametrize(("test", "ref"), [("welch", R_WELCH), ("student", R_STUDENT)])
def test_interval_and_test_match_r_on_the_sleep_data(test, ref):
    s = summaries_in_chunks({"1": np.array(SLEEP_1), "2": np.array(SLEEP_2)})
    result = compare(s, test)
    report = build_report("pandas", s, result, 0.05, 20, 0)
    assert sig(report["t"], 5) == ref["t"]
    assert sig(report["df"], 5) == ref["df"]
    assert sig(report["p"], 4) == ref["p"]
    assert (round(report["ci_low"], ref["dp"]), round(report["ci_high"], ref["dp"])) == ref["ci"]
    assert report["difference"] == pytest.approx(0.75 - 2.33)
    assert report["confidence"] == 0.95


def test_lesson_effect_size_by_hand():
    # s_pooled^2 = (32.8 + 10) / 8 = 5.35; d = -11.8 / sqrt(5.35); J = 1 - 3 / (4 * 10 - 9)
    groups = {k: np.array(v, float) for k, v in LESSON_SCORES.items()}
    result = compare(summaries_in_chunks(groups), "welch")
    assert result.hedges_g == pytest.approx((1 - 3 / 31) * -11.8 / math.sqrt(5.35))
    low, high = result.interval(0.05)
    assert (round(-high, 1), round(-low, 1)) == (8.3, 15.3)  # "B 11.8 higher, 8.3 to 15.3"


# Scores with up to six decimals, as exams and gradebooks have them (SciPy's own df underflows
# for spreads near 1e-124, which is not what this compares).
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 6))
sample = st.lists(finite, min_size=2, max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=sample, b=sample, chunks=st.integers(1, 5), test=st.sampled_from(["welch", "student"]))
def test_any_two_samples_give_scipys_figures(a, b, chunks, test):
    x, y = np.array(a), np.array(b)
    try:
        result = compare(summaries_in_chunks({"a": x, "b": y}, chunks), test)
    except PipelineInputError as exc:
        # Refused only where R refuses too: no spread at all, or spread below rounding noise.
        assert "vary" in str(exc) or "too close" in str(exc)
        se = math.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
        assert se <= 1e-13 * max(1.0, abs(x.mean()), abs(y.mean()))
        return
    with warnings.catch_warnings():  # SciPy warns of its own precision loss on near-equal data
        warnings.simplefilter("ignore", RuntimeWarning)
        want = stats.ttest_ind(x, y, equal_var=test == "student")
    low, high = result.interval(0.05)
    want_low, want_high = want.confidence_interval(0.95)
    scale = max(1.0, float(np.abs(np.concatenate([x, y])).max()))
    assert math.isclose(result.t, want.statistic, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(result.df, want.df, rel_tol=1e-9)
    assert math.isclose(result.p, want.pvalue, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(low, want_low, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(high, want_high, rel_tol=1e-9, abs_tol=1e-9 * scale)
    pooled = ((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / (len(x) + len(y) - 2)
    g = (1 - 3 / (4 * (len(x) + len(y)) - 9)) * (x.mean() - y.mean()) / math.sqrt(pooled)
    assert math.isclose(result.hedges_g, g, rel_tol=1e-9, abs_tol=1e-9)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=sample, b=sample, limit=st.sampled_from([0, 5, 10_000]))
def test_the_stream_engine_agrees_with_the_pandas_engine_on_any_file(
    a, b, limit, tmp_path, monkeypatch
):
    """The engines' own code on a written file: counted, or a few rows a chunk and a block."""
    monkeypatch.setattr(streaming, "COUNT_LIMIT", limit)  # 0: never counted, 10 000: always
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 7)
    monkeypatch.setattr(streaming, "BLOCK_VALUES", 5)
    path = tmp_path / "sample.csv"
    rows = [f"A,{x!r}" for x in a] + [f"B,{y!r}" for y in b]
    path.write_text("Class,Score\n" + "\n".join(rows) + "\n", encoding="utf-8")
    config = RunConfig(input=path, out=tmp_path / "o", db="none")
    try:
        raw, fmt = pipeline.load(config)
        want_summaries, want = pipeline.analyze(pipeline.clean(raw, fmt, config), config)
    except PipelineInputError as exc:
        with pytest.raises(PipelineInputError) as caught:
            streaming.stream_summaries(config)
        assert str(caught.value) == str(exc)
        return
    summaries, got, rows_read, rows_dropped = streaming.stream_summaries(config)
    assert (rows_read, rows_dropped) == (len(a) + len(b), 0)
    for label, s in want_summaries.items():
        for field in ("n", "median", "q1", "q3", "min", "max", "whislo", "whishi"):
            assert getattr(summaries[label], field) == getattr(s, field), (label, field)
        assert math.isclose(summaries[label].mean, s.mean, rel_tol=1e-12, abs_tol=1e-9)
    for field in ("t", "df", "p", "difference", "se", "hedges_g"):
        assert math.isclose(getattr(got, field), getattr(want, field), rel_tol=1e-9, abs_tol=1e-9)


NON_FINITE = ["inf", "-inf", "+inf", "Inf", "INFINITY", "-Infinity", "nan", "NaN", "-nan",
              "+NaN", "NAN", "1e999", "-1E400"]  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.one_of(
                st.sampled_from(NON_FINITE),
                finite.map(repr),
                st.sampled_from(NON_FINITE).map(lambda t: f" {t} "),
            ),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_non_finite_scores_are_rejected_and_counted(rows):
    raw = pd.DataFrame(rows, columns=["Class", "Score"])
    result = clean_scores(raw)
    bad = [i for i, (_, text) in enumerate(rows) if text.strip() in NON_FINITE]
    reasons = result.rejected.set_index("line")["reason"]
    assert sorted(reasons.index - 2) == bad
    assert set(reasons) <= {"not a finite number"}
    assert result.rows_dropped == len(bad)
    assert np.isfinite(result.frame["Score"]).all()


# -- every engine alike on degenerate files ------------------------------------------------------

DEGENERATE = {
    # kind: (file text, what the engines must say: a message or None for a report)
    "both groups constant": (
        "Class,Score\nA,70\nA,70\nA,70\nB,80.5\nB,80.5\n",
        "does not vary within either group",
    ),
    "both groups one repeated decimal": (
        "Class,Score\nA,0.1\nA,0.1\nA,0.1\nB,0.1\nB,0.1\nB,0.1\n",
        "does not vary within either group",
    ),
    "essentially constant": (
        "Class,Score\nA,1e15\nA,1000000000000001\nB,1000000000000002\nB,1000000000000001\n",
        "essentially constant",
    ),
    "squares overflow": ("Class,Score\nA,1e300\nA,-1e300\nA,5\nB,1e300\nB,2e300\n", "too far"),
    "too small to square": ("Class,Score\nA,1e-300\nA,2e-300\nB,3e-300\nB,5e-300\n", "too close"),
    "one constant group": ("Class,Score\nA,70\nA,70\nA,70\nB,80\nB,81\nB,79\n", None),
    "huge but finite": ("Class,Score\nA,1e100\nA,2e100\nA,1.5e100\nB,3e100\nB,4e100\n", None),
    "non-finite values": (
        "Class,Score\nA,70\nA,inf\nA,72\nA,-Infinity\nA,71\nB,80\nB,NaN\nB,81\nB,1e999\nB,83\n",
        None,
    ),
}


@pytest.fixture(scope="module")
def degenerate_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("degenerate")
    files = {}
    for i, (kind, (text, _)) in enumerate(DEGENERATE.items()):
        files[kind] = folder / f"case{i}.csv"
        files[kind].write_text(text, encoding="utf-8")
    return files


#: The engines that start a server, a scheduler or a cluster per run try one file of each rule
#: (every engine goes through the same summary and test code; this checks each engine's wiring).
SLOW_ENGINES = {"luigi", "prefect", "dask", "spark"}
ONE_OF_EACH = {
    "both groups constant",
    "essentially constant",
    "squares overflow",
    "one constant group",
    "non-finite values",
}


#: Spark's degenerate cases (a JVM job per file) run in ``make test-landscape``, not ``make test``.
DEGENERATE_ENGINES = [
    pytest.param(name, marks=pytest.mark.landscape) if name == "spark" else name for name in ENGINES
]


@pytest.mark.parametrize("engine", DEGENERATE_ENGINES)
def test_every_engine_answers_degenerate_files_alike(engine, degenerate_files, run_cli, tmp_path):
    for kind, path in degenerate_files.items():
        if engine in SLOW_ENGINES and kind not in ONE_OF_EACH:
            continue
        message = DEGENERATE[kind][1]
        out = tmp_path / kind.replace(" ", "-")
        code, stdout, stderr = run_cli(
            "run", "--input", path, "--engine", engine, "--out", out, "--db", "none"
        )
        if message is not None:
            assert code == 2, (kind, stdout, stderr)
            assert stderr.startswith(f"exam-pipeline: error: {path}: ") and message in stderr
            assert stderr.count("\n") == 1, f"{kind}: more than one line on stderr: {stderr}"
            assert not out.exists(), f"{kind}: a failed run wrote {list(out.iterdir())}"
            continue
        assert (code, stderr) == (0, ""), (kind, stderr)
        report = read_report(out / "report.json")
        reference = pandas_reference(path, tmp_path / f"ref-{kind}")
        for key in ("t", "df", "p", "difference", "ci_low", "ci_high", "hedges_g"):
            assert math.isclose(report[key], reference[key], rel_tol=1e-9), (kind, key)
        assert same_groups(report["groups"], reference["groups"]), kind
        assert report["rows_dropped"] == reference["rows_dropped"]
        if kind == "non-finite values":
            rejected = pd.read_csv(out / "rejected.csv")
            assert list(rejected["reason"]) == ["not a finite number"] * 4
            assert report["rows_dropped"] == 4


def same_groups(got: dict, want: dict, rel: float = 1e-9) -> bool:
    """The same group labels with the same n, mean, std, median, min and max."""
    return list(got) == list(want) and all(
        got[label] == pytest.approx(values, rel=rel) for label, values in want.items()
    )


_references: dict[str, dict] = {}


def pandas_reference(path, out):
    if str(path) not in _references:
        _references[str(path)] = engines.run(
            RunConfig(input=path, out=out, engine="pandas", db="none")
        )
    return _references[str(path)]


# -- files as spreadsheets export them ----------------------------------------------------------

LESSON_ROWS = [(label, score) for label, scores in LESSON_SCORES.items() for score in scores]


def exported(sep: str, encoding: str, bom: bool = False, decimal_comma: bool = False) -> bytes:
    lines = [f"Student{sep}Class{sep}Score"]
    for i, (label, score) in enumerate(LESSON_ROWS):
        text = f"{score}.0".replace(".", ",") if decimal_comma else str(score)
        lines.append(f"Ré{i}{sep}{label}{sep}{text}")  # an accented name: the encoding matters
    data = ("\r\n".join(lines) + "\r\n").encode(encoding)
    if encoding == "utf-16-le":
        data = b"\xff\xfe" + data
    return (b"\xef\xbb\xbf" if bom else b"") + data


DIALECTS = {
    "comma utf-8": (exported(",", "utf-8"), None),
    "comma utf-8 with BOM": (exported(",", "utf-8", bom=True), None),
    "semicolon, decimal commas": (exported(";", "utf-8", decimal_comma=True), None),
    "tab utf-8": (exported("\t", "utf-8"), None),
    "tab utf-16 (Excel's Unicode text)": (exported("\t", "utf-16-le"), None),
    "comma windows-1252": (exported(",", "cp1252"), "cp1252"),
}


@pytest.mark.parametrize("engine", ["pandas", "stream", "dask", "luigi"])
def test_spreadsheet_exports_give_the_lesson_figures(engine, run_cli, tmp_path):
    want = pandas_reference_of_lesson(tmp_path)
    for name, (data, encoding) in DIALECTS.items():
        path = tmp_path / f"{name.split()[0]}-{len(data)}.csv"
        path.write_bytes(data)
        args = ["run", "--input", path, "--engine", engine, "--db", "none"]
        out = tmp_path / f"out-{name.replace(' ', '_')}"
        code, _, stderr = run_cli(
            *args, "--out", out, *(["--encoding", encoding] if encoding else [])
        )
        assert (code, stderr) == (0, ""), name
        got = read_report(out / "report.json")
        assert same_groups(got["groups"], want["groups"], rel=1e-12), name
        assert math.isclose(got["t"], want["t"], rel_tol=1e-12), name


def pandas_reference_of_lesson(tmp_path):
    return engines.run(RunConfig(out=tmp_path / "lesson", db="none"))


def test_a_legacy_encoding_is_refused_with_the_option_named(run_cli, write_csv, tmp_path):
    path = write_csv(exported(",", "cp1252"))
    code, _, stderr = run_cli("run", "--input", path, "--out", tmp_path / "o", "--db", "none")
    assert code == 2
    assert "is not UTF-8 text" in stderr and "--encoding cp1252" in stderr
    code, _, stderr = run_cli("run", "--input", path, "--encoding", "klingon", "--db", "none")
    assert code == 2 and "--encoding klingon: not an encoding" in stderr
