"""Every engine, and what a user might pick instead, on the same generated file: a Markdown table.

    python benchmarks/bench_engines.py                  # 1 M and 4 M rows (what `make bench` runs)
    python benchmarks/bench_engines.py --sizes 200000   # a quick look

Rows of the first table, for each size:

* a raw lower bound: the file read in 1 MiB blocks and thrown away (bytes read per second);
* the engines of ``exam-pipeline run --engine ...``: each does the whole job (read, clean,
  summarise, t-test, write report.json, report.md, the boxplot and rejected.csv). ``dask`` runs
  as the CLI runs it (threads in this process at these sizes); ``dask, processes`` forces worker
  processes to show what they cost;
* duckdb and polars: only the scan and n / mean / std per class (no outputs), as a user would
  write it instead; the t computed from those figures is checked against pandas.

Luigi, Prefect and Dask also run on the 10-row lesson file: that time is their fixed cost
(scheduler, temporary server, cluster), and "data work" is the big-file time minus it.
The second table is each orchestrator's cost per extra task, from many no-op tasks.

Every measurement runs in a fresh interpreter (imports excluded from the time, as in
bench.py); the best of ``--repeat`` runs is kept. Generated files are cached in data/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT, data_file, machine

SIZES = (1_000_000, 4_000_000)

#: method -> label, in table order ("whole job" engines and alternatives)
METHODS: dict[str, str] = {
    "bytes": "raw read, 1 MiB blocks (lower bound)",
    "pyarrow": 'pandas + pyarrow, `read_csv(engine="pyarrow")`',
    "pandas": "`--engine pandas` (default C parser)",
    "stream": "`--engine stream`",
    "dask": "`--engine dask` (LocalCluster, threads)",
    "dask_processes": "`--engine dask`, forced to worker processes",
    "luigi": "`--engine luigi` (local scheduler)",
    "prefect": "`--engine prefect` (temporary server)",
    "duckdb": "duckdb: scan + n/mean/std per class only",
    "polars": "polars (lazy): scan + n/mean/std per class only",
}

#: engines whose fixed cost is measured on the lesson file
FIXED_COST = ("dask", "luigi", "prefect")

#: no-op tasks per orchestrator for the per-task overhead
TASKS = {"dask": 2000, "luigi": 100, "prefect": 100}

#: a run whose figures differ from pandas by more than this (relative) voids the race
TOLERANCE = 1e-6

#: how the child marks its result line (Prefect may log to stdout around it)
MARK = "RESULT "


# -- the child: one measurement in a fresh interpreter ---------------------------------------


def _figures(summaries: dict[str, tuple[int, float, float]]) -> dict:
    """rows kept and Welch's t from per-class (n, mean, std), for checking an alternative."""
    from scipy import stats

    (n1, m1, s1), (n2, m2, s2) = (summaries[k] for k in sorted(summaries))
    t = stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=False).statistic
    return {"kept": n1 + n2, "t": float(t)}


def run_method(method: str, path: Path, out: Path) -> dict:
    """Run one method on ``path``; return figures to check against pandas (and maybe seconds)."""
    from exam_pipeline.config import RunConfig

    config = RunConfig(input=path, out=out, engine=method.split("_")[0], db="none")
    if method == "bytes":
        n = 0
        with path.open("rb", buffering=0) as handle:
            while block := handle.read(2**20):
                n += len(block)
        return {"bytes": n}
    if method == "pyarrow":
        from bench import _run_method  # the same pandas + pyarrow job as bench.py measures

        report = _run_method("pyarrow", path, out)
        return {"kept": report["rows_read"] - report["rows_dropped"], "t": report["t"]}
    if method == "duckdb":
        import duckdb

        query = """
            SELECT g, count(*), avg(s), stddev_samp(s) FROM (
                SELECT trim("Class") AS g, TRY_CAST(trim("Score") AS DOUBLE) AS s
                FROM read_csv(?, all_varchar = true))
            WHERE s IS NOT NULL AND g IS NOT NULL AND g <> '' GROUP BY g"""
        rows = duckdb.connect().execute(query, [str(path)]).fetchall()
        return _figures({g: (n, m, s) for g, n, m, s in rows})
    if method == "polars":
        import polars as pl

        frame = (
            pl.scan_csv(path, infer_schema=False)
            .select(
                pl.col("Class").str.strip_chars().alias("g"),
                pl.col("Score").str.strip_chars().cast(pl.Float64, strict=False).alias("s"),
            )
            .drop_nulls()
            .filter(pl.col("g") != "")
            .group_by("g")
            .agg(pl.len().alias("n"), pl.col("s").mean().alias("m"), pl.col("s").std().alias("sd"))
            .collect()
        )
        return _figures({r["g"]: (r["n"], r["m"], r["sd"]) for r in frame.iter_rows(named=True)})
    if method == "dask_processes":
        from exam_pipeline import dask_engine

        dask_engine.PROCESS_THRESHOLD_BYTES = 0
    from exam_pipeline import engines

    report = engines.run(config)
    return {"kept": report["rows_read"] - report["rows_dropped"], "t": report["t"]}


def per_task(tool: str, n: int) -> float:
    """Seconds per no-op task: (time of n tasks - time of 1 task) / (n - 1), after a warm-up."""
    if tool == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(processes=False, dashboard_address="127.0.0.1:0") as cluster,
            Client(cluster) as client,
        ):

            def run(k: int) -> None:
                client.gather(client.map(abs, range(-k, 0), pure=False))

            return _slope(run, n)
    if tool == "luigi":
        import logging

        import luigi

        logging.getLogger("luigi-interface").setLevel(logging.CRITICAL)

        class Noop(luigi.Task):
            key = luigi.Parameter()
            done = False

            def complete(self) -> bool:
                return self.done

            def run(self) -> None:
                self.done = True

        def run(k: int) -> None:
            tag = time.perf_counter_ns()
            ok = luigi.build(
                [Noop(key=f"{tag}-{i}") for i in range(k)], local_scheduler=True, workers=1
            )
            assert ok

        return _slope(run, n)
    if tool == "prefect":
        import logging

        from exam_pipeline.prefect_settings import configure

        configure()
        from prefect import flow, task

        @task
        def noop(i: int) -> int:
            return i

        @flow
        def many(k: int) -> int:
            return sum(noop(i) for i in range(k))

        logging.getLogger("prefect").setLevel(logging.CRITICAL)
        return _slope(many, n)
    raise SystemExit(f"unknown tool {tool!r}")


def _slope(run, n: int) -> float:
    run(1)  # warm-up: start servers, fill caches
    start = time.perf_counter()
    run(1)
    one = time.perf_counter() - start
    start = time.perf_counter()
    run(n)
    return (time.perf_counter() - start - one) / (n - 1)


def child(method: str, path: str, out: str) -> None:
    import exam_pipeline.engines  # noqa: F401 - import cost stays out of the timing

    if method.startswith("task:"):
        tool = method.split(":", 1)[1]
        print(MARK + json.dumps({"seconds": per_task(tool, TASKS[tool])}), flush=True)
        return
    start = time.perf_counter()
    figures = run_method(method, Path(path), Path(out))
    seconds = time.perf_counter() - start
    figures = {k: figures.get(k) for k in ("kept", "t", "bytes")}
    print(MARK + json.dumps({"seconds": seconds, **figures}), flush=True)


# -- the parent ------------------------------------------------------------------------------


def measure(method: str, path: Path | None, repeat: int) -> dict:
    """Best of ``repeat`` fresh runs; Prefect state goes to data/.prefect (kept between runs)."""
    env = {**os.environ, "PREFECT_HOME": str(ROOT / "data" / ".prefect")}
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run(
                [sys.executable, __file__, "--child", method, str(path), str(Path(out) / "o")],
                capture_output=True,
                text=True,
                check=False,
                env=env,
                cwd=out,
            )
        if done.returncode != 0:
            raise SystemExit(f"{method} on {path} failed:\n{done.stderr[-3000:]}")
        line = next(x for x in done.stdout.splitlines() if x.startswith(MARK))
        runs.append(json.loads(line[len(MARK) :]))
    return min(runs, key=lambda r: r["seconds"])


def check(method: str, r: dict, reference: dict) -> None:
    """Stop if a method's figures differ from pandas: a race to a different answer is void."""
    if method == "bytes":
        return
    if r["kept"] != reference["kept"] or abs(r["t"] - reference["t"]) > TOLERANCE * abs(
        reference["t"]
    ):
        raise SystemExit(f"{method} disagrees with pandas: {r} != {reference}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=2, help="runs per cell; the best is kept")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument(
        "--child", nargs=3, metavar=("METHOD", "CSV", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    from exam_pipeline.data import dataset_path

    print(f"Machine: {machine()}.\n")
    lesson = dataset_path()
    fixed = {m: measure(m, lesson, args.repeat)["seconds"] for m in FIXED_COST}
    print("| rows | method | wall time (s) | rows/s | % of pandas+pyarrow rows/s | note |")
    print("|---:|---|---:|---:|---:|---|")
    for rows in args.sizes:
        path = data_file(rows, args.data)
        results = {m: measure(m, path, args.repeat) for m in METHODS}
        reference, base = results["pandas"], results["pyarrow"]["seconds"]
        for method, label in METHODS.items():
            r = results[method]
            check(method, r, reference)
            seconds = r["seconds"]
            note = ""
            if method == "bytes":
                note = f"{r['bytes'] / seconds / 1e6:,.0f} MB/s ({r['bytes'] / 1e6:.0f} MB)"
            if method in fixed:
                note = (
                    f"fixed cost {fixed[method]:.2f} s + data work {seconds - fixed[method]:.2f} s"
                )
            print(
                f"| {rows:,} | {label} | {seconds:.2f} | {rows / seconds:,.0f} "
                f"| {100 * base / seconds:.0f} % | {note} |"
            )
        sys.stdout.flush()

    print("\nCost per extra task (no-op tasks, after a warm-up; data work excluded):\n")
    print("| orchestrator | tasks | ms per task |")
    print("|---|---:|---:|")
    for tool, n in TASKS.items():
        r = measure(f"task:{tool}", None, args.repeat)
        print(f"| {tool} | {n:,} | {1000 * r['seconds']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
