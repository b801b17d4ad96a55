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

The second table splits Dask's, Luigi's and Prefect's time into fixed cost and data work: one
process runs the 10-row lesson file twice, then the big file. The third table is each
orchestrator's cost per extra task, from many no-op tasks.

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

from bench import KINDS, ROOT, data_file, machine

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

#: engines whose time is split into fixed cost and data work
FIXED_COST = ("dask", "luigi", "prefect")

#: no-op tasks per orchestrator for the per-task overhead
TASKS = {"dask": 2000, "luigi": 200, "prefect": 200}

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
    from exam_pipeline.core.config import RunConfig

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
        from exam_pipeline.engines import dask_engine

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

        from exam_pipeline.engines.prefect_settings import configure, flush

        configure()
        from prefect import flow, task

        @task
        def noop(i: int) -> int:
            return i

        @flow
        def many(k: int) -> int:
            return sum(noop(i) for i in range(k))

        def run(k: int) -> None:
            many(k)
            flush()
            # Task runs reach the server in the background, and the server records them in its
            # own process. The next flow run has to wait for that: count it.
            many(0)

        logging.getLogger("prefect").setLevel(logging.CRITICAL)
        return _slope(run, n)
    raise SystemExit(f"unknown tool {tool!r}")


def split_costs(engine: str, path: Path) -> dict:
    """In one process: the lesson file twice, then ``path``; the differences split the costs.

    first - second lesson run = one-off start-up (temporary server, lazy imports, caches);
    second lesson run = what every run pays (scheduler, cluster, flow and task records);
    big run - second lesson run = the data work.
    """
    from exam_pipeline import engines
    from exam_pipeline.core.config import RunConfig
    from exam_pipeline.core.data import dataset_path

    times = []
    with tempfile.TemporaryDirectory() as out:
        for i, source in enumerate((dataset_path(), dataset_path(), path)):
            config = RunConfig(input=source, out=Path(out) / str(i), engine=engine, db="none")
            start = time.perf_counter()
            engines.run(config)
            times.append(time.perf_counter() - start)
    first, second, big = times
    return {"seconds": big, "startup": first - second, "per_run": second, "data": big - second}


def _slope(run, n: int) -> float:
    """Per-task seconds from the best of 3 runs of 1 task and of ``n`` tasks (run-level noise out)."""
    run(1)  # warm-up: start servers, fill caches

    def best(k: int) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run(k)
            times.append(time.perf_counter() - start)
        return min(times)

    return (best(n) - best(1)) / (n - 1)


#: modules each method needs, imported before the clock starts (as bench.py does)
IMPORTS = {
    "dask": "exam_pipeline.engines.dask_engine",
    "luigi": "exam_pipeline.engines.luigi_tasks",
    "prefect": "exam_pipeline.engines.prefect_flow",
    "duckdb": "duckdb",
    "polars": "polars",
    "pyarrow": "pyarrow",
}


def child(method: str, path: str, out: str) -> None:
    import importlib

    import exam_pipeline.engines  # noqa: F401 - import cost stays out of the timing
    import exam_pipeline.engines.pipeline  # noqa: F401
    import exam_pipeline.engines.streaming  # noqa: F401

    tool = method.removeprefix("task:").split("_")[0]
    if tool in IMPORTS:
        importlib.import_module(IMPORTS[tool])

    if method.startswith("split:"):
        print(MARK + json.dumps(split_costs(method.split(":", 1)[1], Path(path))), flush=True)
        return
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
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument(
        "--child", nargs=3, metavar=("METHOD", "CSV", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the start.\n")
    print("| data | rows | method | wall time (s) | rows/s | % of pandas+pyarrow rows/s | note |")
    print("|---|---:|---|---:|---:|---:|---|")
    for kind, rows in [(k, n) for k in args.kinds for n in args.sizes]:
        path = data_file(rows, args.data, KINDS[kind])
        results = {m: measure(m, path, args.repeat) for m in METHODS}
        reference, base = results["pandas"], results["pyarrow"]["seconds"]
        for method, label in METHODS.items():
            r = results[method]
            check(method, r, reference)
            seconds = r["seconds"]
            note = ""
            if method == "bytes":
                note = f"{r['bytes'] / seconds / 1e6:,.0f} MB/s ({r['bytes'] / 1e6:.0f} MB)"
            print(
                f"| {kind} | {rows:,} | {label} | {seconds:.2f} | {rows / seconds:,.0f} "
                f"| {100 * base / seconds:.0f} % | {note} |"
            )
        sys.stdout.flush()

    rows = max(args.sizes)
    print(
        f"\nFixed cost vs data work ({rows:,} rows; one process runs the 10-row lesson file twice,"
        " then the big file):\n"
    )
    print("| engine | one-off start-up (s) | every run (s) | data work (s) | data rows/s |")
    print("|---|---:|---:|---:|---:|")
    for engine in FIXED_COST:
        r = measure(f"split:{engine}", data_file(rows, args.data), args.repeat)
        print(
            f"| {engine} | {r['startup']:.2f} | {r['per_run']:.2f} | {r['data']:.2f} "
            f"| {rows / r['data']:,.0f} |"
        )

    print("\nCost per extra task (no-op tasks, after a warm-up; data work excluded):\n")
    print("| orchestrator | tasks | ms per task |")
    print("|---|---:|---:|")
    for tool, n in TASKS.items():
        r = measure(f"task:{tool}", None, args.repeat)
        print(f"| {tool} | {n:,} | {1000 * r['seconds']:.2f} |")
    print(f"\nLoad average {os.getloadavg()[0]:.1f} at the end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
