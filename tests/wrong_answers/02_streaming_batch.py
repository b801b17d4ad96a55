"""Plausible wrong answers to lesson 02's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "02-ex1": [
        (
            "a list instead of a generator: every row is read before the first score comes out",
            """
            kept = []
            for _, group, text in rows:
                clean_label, score, _, reason = clean_fields(group, text)
                if reason is None and clean_label == label:
                    kept.append(score)
            return kept
            """,
        ),
        (
            "no cleaning: float() on the raw text, the class compared unstripped",
            """
            for _, group, text in rows:
                if group == label:
                    try:
                        yield float(text)
                    except ValueError:
                        pass
            """,
        ),
        (
            "hard-coded: the scores of the old check's endless input",
            "yield from [65.0, 70.0, 65.0, 70.0]",
        ),
        (
            "off by one: the first row is skipped as if it were the header",
            """
            for _, group, text in itertools.islice(rows, 1, None):
                clean_label, score, _, reason = clean_fields(group, text)
                if reason is None and clean_label == label:
                    yield score
            """,
        ),
        (
            "right shape, wrong content: the score text is yielded instead of the number",
            """
            for _, group, text in rows:
                clean_label, score, score_text, reason = clean_fields(group, text)
                if reason is None and clean_label == label:
                    yield score_text
            """,
        ),
        (
            "reads ahead: rows are pulled in batches of 100 before any score is yielded",
            """
            while batch_rows := list(itertools.islice(rows, 100)):
                for _, group, text in batch_rows:
                    clean_label, score, _, reason = clean_fields(group, text)
                    if reason is None and clean_label == label:
                        yield score
            """,
        ),
    ],
    "02-ex2": [
        (
            "no merge: each chunk replaces the class's totals instead of adding to them",
            """
            cleaned = clean_scores(chunk).frame
            parts = cleaned.groupby("Class")["Score"].agg(["count", "mean", "var"])
            for label, (n, mean, var) in parts.iterrows():
                m2 = var * (n - 1) if n > 1 else 0.0
                totals[label] = RunningStats(int(n), float(mean), float(m2))
            """,
        ),
        (
            "off by one: m2 = variance x n instead of variance x (n - 1)",
            """
            cleaned = clean_scores(chunk).frame
            parts = cleaned.groupby("Class")["Score"].agg(["count", "mean", "var"])
            for label, (n, mean, var) in parts.iterrows():
                m2 = var * n if n > 1 else 0.0
                part = RunningStats(int(n), float(mean), float(m2))
                totals[label] = totals.get(label, RunningStats()).merge(part)
            """,
        ),
        (
            "a chunk with one score of a class: its variance is NaN, and NaN spreads into m2",
            """
            cleaned = clean_scores(chunk).frame
            parts = cleaned.groupby("Class")["Score"].agg(["count", "mean", "var"])
            for label, (n, mean, var) in parts.iterrows():
                part = RunningStats(int(n), float(mean), float(var * (n - 1)))
                totals[label] = totals.get(label, RunningStats()).merge(part)
            """,
        ),
        (
            "no cleaning: to_numeric on the raw chunk, so ' B ' is a class of its own",
            """
            scores = pd.to_numeric(chunk["Score"], errors="coerce")
            cleaned = chunk.assign(Score=scores).dropna()
            parts = cleaned.groupby("Class")["Score"].agg(["count", "mean", "var"])
            for label, (n, mean, var) in parts.iterrows():
                m2 = var * (n - 1) if n > 1 else 0.0
                part = RunningStats(int(n), float(mean), float(m2))
                totals[label] = totals.get(label, RunningStats()).merge(part)
            """,
        ),
        (
            "merge result dropped: .merge() returns a new object, which is never stored",
            """
            cleaned = clean_scores(chunk).frame
            parts = cleaned.groupby("Class")["Score"].agg(["count", "mean", "var"])
            for label, (n, mean, var) in parts.iterrows():
                m2 = var * (n - 1) if n > 1 else 0.0
                totals.setdefault(label, RunningStats()).merge(RunningStats(int(n), float(mean), float(m2)))
            """,
        ),
        (
            "right shape, wrong content: the standard deviation used where the variance belongs",
            """
            cleaned = clean_scores(chunk).frame
            parts = cleaned.groupby("Class")["Score"].agg(["count", "mean", "std"])
            for label, (n, mean, std) in parts.iterrows():
                m2 = std * (n - 1) if n > 1 else 0.0
                part = RunningStats(int(n), float(mean), float(m2))
                totals[label] = totals.get(label, RunningStats()).merge(part)
            """,
        ),
    ],
}
