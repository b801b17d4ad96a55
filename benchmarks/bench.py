"""Time and peak memory of the batch, chunked and streaming ways to run the exam analysis.

    python benchmarks/bench.py                 # 0.2 M, 1 M and 4 M rows (what `make bench` runs)
    python benchmarks/bench.py --sizes 200000  # a quick look

Every measurement runs in a fresh interpreter, so one run's memory cannot leak into the next:
the child times the run (imports excluded) and reports its own peak RSS (imports included;
the "imports only" row shows that fixed floor). Each method does the whole job: read, clean,
summarise, t-test, and write report.json, report.md, the boxplot and rejected.csv.
The generated files are cached in data/ (gitignored). Prints Markdown on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (200_000, 1_000_000, 4_000_000)

#: method -> label in the table, in table order
METHODS: dict[str, str] = {
    "imports": "imports only (the floor)",
    "pandas": "pandas, default C parser (`--engine pandas`)",
    "pyarrow": 'pandas, `read_csv(engine="pyarrow")`',
    "na_values": "pandas, junk tokens told to `read_csv(na_values=...)`",
    "stream": "stream: chunks, summaries merged, values spilled to disk (`--engine stream`)",
    "dask": "dask: partitions on a local cluster (`--engine dask`)",
}

#: scan-only pieces for "where the time goes" (no cleaning rules beyond what is named)
PIECES: dict[str, str] = {
    "read_csv": "`pd.read_csv(dtype=str)` alone",
    "to_numeric": "`pd.to_numeric(errors='coerce')` on the read column",
    "bare_reader": "a bare `csv.reader` loop that only counts rows",
    "generator_chain": "generator chain `read_rows` -> `clean_rows` -> Welford (calls per row)",
    "distinct_cache": "a dict of every distinct (class, score) text: the old stream's cache",
}


# -- the child: one measurement in a fresh interpreter ---------------------------------------


def _run_method(method: str, path: Path, out: Path) -> dict:
    """Run one method on ``path``; return the report (or row counts for scan-only pieces)."""
    import csv
    from collections import Counter

    import pandas as pd

    from exam_pipeline.core.analysis import Analysis, split_groups, summarize_groups, ttest
    from exam_pipeline.core.clean import clean_scores
    from exam_pipeline.core.config import RunConfig
    from exam_pipeline.core.data import JUNK_TOKENS, inspect_csv
    from exam_pipeline.core.outputs import publish
    from exam_pipeline.engines import pipeline
    from exam_pipeline.engines.streaming import RunningStats, clean_rows, read_rows, run_stream

    config = RunConfig(input=path, out=out, engine=method, db="none")
    cols = ["Class", "Score"]
    if method == "imports":
        return {}
    if method == "pandas":
        return pipeline.run_pipeline(config)
    if method == "pyarrow":
        raw = pd.read_csv(path, engine="pyarrow", usecols=cols, dtype=str)
        cleaned = clean_scores(raw)
        summaries, result = pipeline.analyze(cleaned, config)
        return publish(config, Analysis.of(cleaned, summaries, result))
    if method == "na_values":
        # The pandas answer when the junk is known up front: the C parser makes floats directly.
        frame = pd.read_csv(path, usecols=cols, na_values=list(JUNK_TOKENS), dtype={"Score": float})
        kept = frame.dropna()
        groups = split_groups(kept)
        first, second = groups.values()
        dropped = len(frame) - len(kept)
        rejected = frame[frame.isna().any(axis=1)]  # no per-row reasons: that is the trade
        found = Analysis(
            summarize_groups(groups), ttest(first, second), len(frame), rejected, dropped
        )
        return publish(config, found)
    if method == "stream":
        return run_stream(config)
    if method == "dask":
        from exam_pipeline import engines

        return engines.run(config)
    fmt = inspect_csv(path)
    if method == "read_csv":
        return {"rows_read": len(pd.read_csv(path, usecols=cols, dtype=str))}
    if method == "to_numeric":
        column = pd.read_csv(path, usecols=cols, dtype=str)["Score"]
        start = time.perf_counter()  # time only the conversion
        converted = pd.to_numeric(column, errors="coerce")
        return {"rows_read": len(converted), "seconds": time.perf_counter() - start}
    if method == "bare_reader":
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            n = 0
            for _ in reader:
                n += 1
        return {"rows_read": n}
    if method == "generator_chain":
        stats: dict[str, RunningStats] = {}
        for r in clean_rows(read_rows(path, fmt)):
            if not r.reason:
                stats.setdefault(r.group, RunningStats()).add(r.score)
        return {"rows_read": sum(s.n for s in stats.values())}
    if method == "distinct_cache":
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            seen = Counter((row[1], row[2]) for row in reader if len(row) > 2)
        return {"rows_read": sum(seen.values()), "distinct": len(seen)}
    raise SystemExit(f"unknown method {method!r}")


def child(method: str, path: Path, out: Path) -> None:
    import resource

    import exam_pipeline.engines.pipeline  # noqa: F401
    import exam_pipeline.engines.streaming  # noqa: F401 - import cost stays out of the timing

    start = time.perf_counter()
    report = _run_method(method, path, out)
    seconds = report.pop("seconds", None) or time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024
    keep = {k: report.get(k) for k in ("t", "df", "p", "rows_read", "rows_dropped")}
    print(json.dumps({"seconds": seconds, "peak_bytes": peak_bytes, **keep}))


# -- the parent: files, repeats, the tables ---------------------------------------------------


def measure(method: str, path: Path, repeat: int) -> dict:
    """Best wall time of ``repeat`` fresh runs; the largest peak RSS seen."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run(
                [sys.executable, __file__, "--child", method, str(path), str(Path(out) / "o")],
                capture_output=True,
                text=True,
                check=False,
            )
        if done.returncode != 0:
            raise SystemExit(f"{method} on {path.name} failed:\n{done.stderr}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_bytes"] = max(r["peak_bytes"] for r in runs)
    return best


#: The two kinds of data: whole points (few distinct values, which flatters a method that keeps
#: one entry per value) and six-decimal scores that almost never repeat.
KINDS: dict[str, int] = {"integer": 0, "real": 6}


def data_file(rows: int, folder: Path, decimals: int = 0) -> Path:
    from exam_pipeline.core.data import generate_scores

    suffix = "" if decimals == 0 else f"_d{decimals}"
    path = folder / f"bench_{rows}{suffix}.csv"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        generate_scores(path, rows=rows, seed=2024, effect=2.0, decimals=decimals)
    return path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pandas
    import pyarrow

    return (
        f"{dt.date.today().isoformat()}, {os.cpu_count()} cores ({cpu}), {platform.system()}, "
        f"Python {platform.python_version()}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per cell; the best time is kept"
    )
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--no-pieces", action="store_true", help="skip 'where the time goes'")
    parser.add_argument(
        "--child", nargs=3, metavar=("METHOD", "CSV", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        method, path, out = args.child
        child(method, Path(path), Path(out))
        return 0

    print(f"Machine: {machine()}.\n")
    print(
        "| data | rows | method | wall time (s) | rows/s | % of pandas rows/s | peak RSS (MB) "
        "| RSS / pandas |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for kind, rows in [(k, n) for k in args.kinds for n in args.sizes]:
        path = data_file(rows, args.data, KINDS[kind])
        results = {m: measure(m, path, args.repeat) for m in METHODS}
        reference = results["pandas"]
        for method, label in METHODS.items():
            r = results[method]
            mb = r["peak_bytes"] / 2**20
            if method == "imports":
                print(f"| {kind} | {rows:,} | {label} | | | | {mb:.0f} | |")
                continue
            for key in (
                "rows_read",
                "rows_dropped",
            ):  # every method must agree, or the race is void
                if r[key] != reference[key]:
                    raise SystemExit(
                        f"{method} disagrees with pandas on {key}: {r[key]} != {reference[key]}"
                    )
            if abs(r["t"] - reference["t"]) > 1e-9 * abs(reference["t"]):
                raise SystemExit(
                    f"{method} disagrees with pandas on t: {r['t']} != {reference['t']}"
                )
            rate = rows / r["seconds"]
            share = 100 * reference["seconds"] / r["seconds"]
            ratio = r["peak_bytes"] / reference["peak_bytes"]
            print(
                f"| {kind} | {rows:,} | {label} | {r['seconds']:.2f} | {rate:,.0f} | {share:.0f} % "
                f"| {mb:.0f} | {ratio:.2f} |"
            )
        sys.stdout.flush()

    if not args.no_pieces:
        rows = max(args.sizes)
        path = data_file(rows, args.data, KINDS["real"])
        print(
            f"\nWhere the time goes ({rows:,} rows of real-valued scores, scan only: no analysis, "
            "no outputs):\n"
        )
        print("| piece | wall time (s) | rows/s | peak RSS (MB) |")
        print("|---|---:|---:|---:|")
        for method, label in PIECES.items():
            r = measure(method, path, args.repeat)
            mb = r["peak_bytes"] / 2**20
            print(f"| {label} | {r['seconds']:.2f} | {rows / r['seconds']:,.0f} | {mb:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
