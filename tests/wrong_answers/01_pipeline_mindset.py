"""Plausible wrong answers to lesson 01's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "01-ex1": [
        (
            "hard-coded: the counts of the messy file",
            'return {"missing group": 1, "missing score": 1, "non-numeric score": 1}',
        ),
        (
            "no stripping: a class or score of spaces is not seen as missing",
            """
            group = raw["Class"].astype("string").fillna("")
            text = raw["Score"].astype("string").fillna("")
            numeric = pd.to_numeric(text.mask(text == ""), errors="coerce")
            counts = {
                "missing group": int((group == "").sum()),
                "missing score": int(((group != "") & (text == "")).sum()),
                "non-numeric score": int(((group != "") & (text != "") & numeric.isna()).sum()),
            }
            return {reason: n for reason, n in counts.items() if n}
            """,
        ),
        (
            "reasons not exclusive: a row is counted under every rule, not the first that applies",
            """
            group = raw["Class"].astype("string").str.strip().fillna("")
            text = raw["Score"].astype("string").str.strip().fillna("")
            numeric = pd.to_numeric(text.mask(text == ""), errors="coerce")
            counts = {
                "missing group": int((group == "").sum()),
                "missing score": int((text == "").sum()),
                "non-numeric score": int(((text != "") & numeric.isna()).sum()),
            }
            return {reason: n for reason, n in counts.items() if n}
            """,
        ),
        (
            "empty reasons kept: zero counts are returned too",
            """
            group = raw["Class"].astype("string").str.strip().fillna("")
            text = raw["Score"].astype("string").str.strip().fillna("")
            numeric = pd.to_numeric(text.mask(text == ""), errors="coerce")
            return {
                "missing group": int((group == "").sum()),
                "missing score": int(((group != "") & (text == "")).sum()),
                "non-numeric score": int(((group != "") & (text != "") & numeric.isna()).sum()),
            }
            """,
        ),
        (
            "right keys, wrong content: a missing score also counts as non-numeric",
            """
            group = raw["Class"].astype("string").str.strip().fillna("")
            text = raw["Score"].astype("string").str.strip().fillna("")
            numeric = pd.to_numeric(text.mask(text == ""), errors="coerce")
            counts = {
                "missing group": int((group == "").sum()),
                "missing score": int(((group != "") & (text == "")).sum()),
                "non-numeric score": int(((group != "") & numeric.isna()).sum()),
            }
            return {reason: n for reason, n in counts.items() if n}
            """,
        ),
    ],
    "01-ex2": [
        (
            "ETL, not ELT: SELECT * and then cleaning and aggregating in pandas",
            """
            raw = pd.read_sql("SELECT * FROM scores_raw", engine)
            return clean(raw).groupby("Class")["Score"].agg(n="count", mean="mean").reset_index()
            """,
        ),
        (
            "ETL with a hand-written filter: only the columns are selected, the rest in pandas",
            """
            raw = pd.read_sql("SELECT Class, Score FROM scores_raw", engine)
            raw["Class"] = raw["Class"].str.strip()
            raw["Score"] = raw["Score"].str.strip()
            raw = raw[raw["Class"].fillna("").ne("") & raw["Score"].fillna("").str.fullmatch(r"[0-9]*\\.?[0-9]*")]
            raw["Score"] = raw["Score"].astype(float)
            return raw.groupby("Class")["Score"].agg(n="count", mean="mean").reset_index()
            """,
        ),
        (
            "no number filter: CAST turns 'absent' into 0.0, which is averaged in",
            """
            query = '''
                SELECT TRIM(Class) AS Class, COUNT(*) AS n, AVG(CAST(TRIM(Score) AS REAL)) AS mean
                FROM scores_raw
                WHERE TRIM(COALESCE(Class, '')) <> '' AND TRIM(COALESCE(Score, '')) <> ''
                GROUP BY TRIM(Class) ORDER BY TRIM(Class)
            '''
            return pd.read_sql(query, engine)
            """,
        ),
        (
            "a prefix test: GLOB '[0-9]*' keeps any text that starts with a digit ('12abc')",
            """
            query = '''
                SELECT TRIM(Class) AS Class, COUNT(*) AS n, AVG(CAST(TRIM(Score) AS REAL)) AS mean
                FROM scores_raw
                WHERE TRIM(COALESCE(Class, '')) <> '' AND TRIM(Score) GLOB '[0-9]*'
                GROUP BY TRIM(Class) ORDER BY TRIM(Class)
            '''
            return pd.read_sql(query, engine)
            """,
        ),
        (
            "two dots allowed: '7.5.1' is kept (the one-dot rule forgotten)",
            """
            query = '''
                SELECT TRIM(Class) AS Class, COUNT(*) AS n, AVG(CAST(TRIM(Score) AS REAL)) AS mean
                FROM scores_raw
                WHERE TRIM(COALESCE(Class, '')) <> ''
                  AND TRIM(COALESCE(Score, '')) <> ''
                  AND TRIM(Score) NOT GLOB '*[^0-9.]*'
                GROUP BY TRIM(Class) ORDER BY TRIM(Class)
            '''
            return pd.read_sql(query, engine)
            """,
        ),
        (
            "class not trimmed in GROUP BY: ' B ' and 'B' are two groups",
            """
            query = '''
                SELECT Class, COUNT(*) AS n, AVG(CAST(TRIM(Score) AS REAL)) AS mean
                FROM scores_raw
                WHERE TRIM(COALESCE(Class, '')) <> ''
                  AND TRIM(COALESCE(Score, '')) <> ''
                  AND TRIM(Score) NOT GLOB '*[^0-9.]*'
                  AND TRIM(Score) NOT GLOB '*.*.*'
                GROUP BY Class ORDER BY Class
            '''
            return pd.read_sql(query, engine)
            """,
        ),
    ],
    "01-ex3": [
        ("hard-coded: the lesson data's df", "return 6.23"),
        (
            "population variances (ddof=0) instead of sample variances",
            """
            va, vb = a.var(ddof=0) / len(a), b.var(ddof=0) / len(b)
            return float((va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)))
            """,
        ),
        (
            "off by one: n instead of n - 1 in the denominator",
            """
            va, vb = a.var() / len(a), b.var() / len(b)
            return float((va + vb) ** 2 / (va**2 / len(a) + vb**2 / len(b)))
            """,
        ),
        (
            "Student's df (pooled) instead of Welch's: n_a + n_b - 2",
            "return float(len(a) + len(b) - 2)",
        ),
    ],
}
