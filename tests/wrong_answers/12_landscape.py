"""Plausible wrong answers to lesson 12's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "12-ex1": [
        (
            "hard-coded: the pass rates of the lesson's file",
            """
            return {"A": 0.5231, "B": 0.5806}
            """,
        ),
        (
            "outside the asset graph: the lesson's file cleaned again, cleaned_scores ignored",
            """
            frame = clean_scores(read_scores(SOURCE)[0]).frame
            return {label: float((g["Score"] >= 70).mean()) for label, g in frame.groupby("Class")}
            """,
        ),
        (
            "boundary slip: a score of exactly 70 counted as a fail (> 70)",
            """
            frame = cleaned_scores.frame
            return {label: float((g["Score"] > 70).mean()) for label, g in frame.groupby("Class")}
            """,
        ),
        (
            "right shape, wrong content: the share that fails (< 70) instead of the share that passes",
            """
            frame = cleaned_scores.frame
            return {label: float((g["Score"] < 70).mean()) for label, g in frame.groupby("Class")}
            """,
        ),
    ],
    "12-ex2": [
        (
            "hard-coded: the counts of the lesson's file",
            """
            return {"A": 952, "B": 992}
            """,
        ),
        (
            "not a function of its input: the lesson's file read and cleaned again, cleaned ignored",
            """
            counts = clean_scores(read_scores(SOURCE)[0]).frame["Class"].value_counts()
            return {str(label): int(n) for label, n in counts.items()}
            """,
        ),
        (
            "off by one: the highest row position in each class taken as its count",
            """
            frame = cleaned.frame.reset_index(drop=True)
            return {str(label): int(g.index.max()) for label, g in frame.groupby("Class")}
            """,
        ),
        (
            "right shape, wrong content: the classes' counts swapped",
            """
            counts = cleaned.frame["Class"].value_counts().sort_index()
            return dict(zip(map(str, counts.index), map(int, counts.values[::-1])))
            """,
        ),
    ],
}
