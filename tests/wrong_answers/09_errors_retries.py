"""Plausible wrong answers to lesson 09's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "09-ex1": [
        (
            "no retries ever happen: a decorator that calls the function once",
            """
            return lambda fn: fn
            """,
        ),
        (
            "off by one: 4 retries (5 attempts) instead of 4 attempts",
            """
            return retry(
                stop=stop_after_attempt(5),
                wait=wait_exponential(multiplier=0.01, max=0.1),
                retry=retry_if_exception_type(TransientSourceError),
                reraise=True,
            )
            """,
        ),
        (
            "every error retried: a 404 is tried 4 times",
            """
            return retry(
                stop=stop_after_attempt(4),
                wait=wait_exponential(multiplier=0.01, max=0.1),
                reraise=True,
            )
            """,
        ),
        (
            "no reraise: tenacity's RetryError instead of the last error",
            """
            return retry(
                stop=stop_after_attempt(4),
                wait=wait_exponential(multiplier=0.01, max=0.1),
                retry=retry_if_exception_type(TransientSourceError),
            )
            """,
        ),
        (
            "waits not capped: exponential waits that grow past 0.1 s",
            """
            return retry(
                stop=stop_after_attempt(4),
                wait=wait_exponential(multiplier=0.01),
                retry=retry_if_exception_type(TransientSourceError),
                reraise=True,
            )
            """,
        ),
        (
            "fixed waits: the same 0.01 s pause every time, not growing",
            """
            from tenacity import wait_fixed

            return retry(
                stop=stop_after_attempt(4),
                wait=wait_fixed(0.01),
                retry=retry_if_exception_type(TransientSourceError),
                reraise=True,
            )
            """,
        ),
    ],
    "09-ex2": [
        (
            "hard-coded: the message for the lesson's messy file",
            """
            if threshold >= 0.5 or rows_read != 13:
                return None
            return "4 of 13 rows rejected (31%): missing group 1, missing score 1, non-numeric score 2"
            """,
        ),
        (
            "boundary slip: alerts when the share equals the threshold (>= instead of >)",
            """
            reasons = pd.read_csv(rejected_csv, dtype=str)["reason"]
            if rows_read == 0 or len(reasons) / rows_read < threshold:
                return None
            counts = reasons.value_counts()
            detail = ", ".join(f"{reason} {counts[reason]}" for reason in sorted(counts.index))
            return f"{len(reasons)} of {rows_read} rows rejected ({len(reasons) / rows_read:.0%}): {detail}"
            """,
        ),
        (
            "reasons in value_counts order (most frequent first), not sorted by name",
            """
            reasons = pd.read_csv(rejected_csv, dtype=str)["reason"]
            if rows_read == 0 or len(reasons) / rows_read <= threshold:
                return None
            counts = reasons.value_counts()
            detail = ", ".join(f"{reason} {n}" for reason, n in counts.items())
            return f"{len(reasons)} of {rows_read} rows rejected ({len(reasons) / rows_read:.0%}): {detail}"
            """,
        ),
        (
            "off by one: the header line counted as a rejected row",
            """
            lines = Path(rejected_csv).read_text(encoding="utf-8").splitlines()
            reasons = pd.read_csv(rejected_csv, dtype=str)["reason"]
            if rows_read == 0 or len(lines) / rows_read <= threshold:
                return None
            counts = reasons.value_counts()
            detail = ", ".join(f"{reason} {counts[reason]}" for reason in sorted(counts.index))
            return f"{len(lines)} of {rows_read} rows rejected ({len(lines) / rows_read:.0%}): {detail}"
            """,
        ),
        (
            "right shape, wrong content: the share of rejected among kept rows",
            """
            reasons = pd.read_csv(rejected_csv, dtype=str)["reason"]
            kept = rows_read - len(reasons)
            if kept <= 0 or len(reasons) / kept <= threshold:
                return None
            counts = reasons.value_counts()
            detail = ", ".join(f"{reason} {counts[reason]}" for reason in sorted(counts.index))
            return f"{len(reasons)} of {rows_read} rows rejected ({len(reasons) / kept:.0%}): {detail}"
            """,
        ),
    ],
}
