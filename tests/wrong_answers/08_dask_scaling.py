"""Plausible wrong answers to lesson 08's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "08-ex1": [
        (
            ".compute() of the whole frame first, then pandas",
            """
            whole = frame.compute()
            whole["Score"] = pd.to_numeric(whole["Score"].str.strip(), errors="coerce")
            return whole.dropna().groupby("Class")["Score"].mean().sort_index()
            """,
        ),
        (
            "pandas where Dask was asked for: every partition computed and cleaned in pandas",
            """
            parts = dask.compute(*frame.to_delayed())
            whole = pd.concat(parts)
            whole["Score"] = pd.to_numeric(whole["Score"].str.strip(), errors="coerce")
            return whole.dropna().groupby("Class")["Score"].mean().sort_index()
            """,
        ),
        (
            "hard-coded: the lesson file's means",
            """
            return pd.Series({k: reference["groups"][k]["mean"] for k in ("A", "B")})
            """,
        ),
        (
            "the mean of the partition means, not the mean of the rows",
            """
            def partition_means(part):
                scores = pd.to_numeric(part["Score"].str.strip(), errors="coerce")
                return part.assign(Score=scores).dropna().groupby("Class")["Score"].mean()

            per_partition = frame.map_partitions(partition_means, meta=("Score", "f8"))
            return per_partition.groupby(level=0).mean().compute().sort_index()
            """,
        ),
        (
            "junk counted as zero: fillna(0) instead of dropping the rows",
            """
            numeric = frame.assign(Score=dd.to_numeric(frame["Score"].str.strip(), errors="coerce").fillna(0))
            return numeric.groupby("Class")["Score"].mean().compute().sort_index()
            """,
        ),
        (
            "never computed: returns the lazy Dask Series",
            """
            numeric = frame.assign(Score=dd.to_numeric(frame["Score"].str.strip(), errors="coerce"))
            return numeric.dropna().groupby("Class")["Score"].mean()
            """,
        ),
    ],
    "08-ex2": [
        (
            "pandas where Dask was asked for: one pandas read, one summary",
            """
            raw = pd.read_csv(path, usecols=["Class", "Score"], dtype=str)
            return merge_scans([dask_engine.summarize_partition(raw, "Class", "Score", ".")])
            """,
        ),
        (
            ".compute() of the whole frame first, then one summary",
            """
            frame = dd.read_csv(path, usecols=["Class", "Score"], dtype=str, blocksize=blocksize)
            whole = frame.compute()
            return merge_scans([dask_engine.summarize_partition(whole, "Class", "Score", ".")])
            """,
        ),
        (
            "one compute per partition, in a loop",
            """
            frame = dd.read_csv(path, usecols=["Class", "Score"], dtype=str, blocksize=blocksize)
            work = dask.delayed(dask_engine.summarize_partition, pure=True)
            return merge_scans([work(p, "Class", "Score", ".").compute() for p in frame.to_delayed()])
            """,
        ),
        (
            "the block size ignored: Dask's default gives one partition here",
            """
            frame = dd.read_csv(path, usecols=["Class", "Score"], dtype=str)
            work = dask.delayed(dask_engine.summarize_partition, pure=True)
            return merge_scans(dask.compute(*[work(p, "Class", "Score", ".") for p in frame.to_delayed()]))
            """,
        ),
        (
            "right type, wrong content: the last partition's Scan instead of the merge",
            """
            frame = dd.read_csv(path, usecols=["Class", "Score"], dtype=str, blocksize=blocksize)
            work = dask.delayed(dask_engine.summarize_partition, pure=True)
            return dask.compute(*[work(p, "Class", "Score", ".") for p in frame.to_delayed()])[-1]
            """,
        ),
    ],
    "08-ex3": [
        ("hard-coded: the number of threads asked for, no cluster", "return 3"),
        (
            "no with: the cluster is never closed",
            """
            local = LocalCluster(processes=False, n_workers=1, threads_per_worker=n_threads,
                                 dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            client = Client(local)
            return sum(client.nthreads().values())
            """,
        ),
        (
            "closed at the end, but not on an error (no with, no finally)",
            """
            local = LocalCluster(processes=False, n_workers=1, threads_per_worker=n_threads,
                                 dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            client = Client(local)
            threads = sum(client.nthreads().values())
            client.close()
            local.close()
            return threads
            """,
        ),
        (
            "right count, wrong shape: n one-thread workers instead of one n-thread worker",
            """
            with (
                LocalCluster(processes=False, n_workers=n_threads, threads_per_worker=1,
                             dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as local,
                Client(local) as client,
            ):
                return sum(client.nthreads().values())
            """,
        ),
        (
            "counts workers, not threads",
            """
            with (
                LocalCluster(processes=False, n_workers=1, threads_per_worker=n_threads,
                             dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as local,
                Client(local) as client,
            ):
                return len(client.nthreads())
            """,
        ),
    ],
}
