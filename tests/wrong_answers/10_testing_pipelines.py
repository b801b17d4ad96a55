"""Plausible wrong answers to lesson 10's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "10-ex1": [
        (
            "a test that asserts nothing: it only calls the function",
            """
            frame = pd.DataFrame({"Class": ["A", "B"], "Score": [60.0, 80.0]})
            class_means(frame)
            """,
        ),
        (
            "only the keys checked, not the means",
            """
            frame = pd.DataFrame(
                {"Class": ["A", "A", "B", "B", "B"], "Score": [60.0, 71.0, 70.0, 80.0, 96.0]}
            )
            assert set(class_means(frame)) == {"A", "B"}
            """,
        ),
        (
            "one class only: a mean over all rows looks right",
            """
            frame = pd.DataFrame({"Class": ["A", "A", "A"], "Score": [60.0, 71.0, 80.0]})
            assert class_means(frame) == {"A": 70.33333333333333}
            """,
        ),
        (
            "whole-number means: a function that rounds its means passes",
            """
            frame = pd.DataFrame(
                {"Class": ["A", "A", "B", "B", "B"], "Score": [60.0, 70.0, 70.0, 80.0, 96.0]}
            )
            assert class_means(frame) == {"A": 65.0, "B": 82.0}
            """,
        ),
        (
            "one score per class: medians, means and sums all agree",
            """
            frame = pd.DataFrame({"Class": ["A", "B"], "Score": [60.5, 80.5]})
            assert class_means(frame) == {"A": 60.5, "B": 80.5}
            """,
        ),
        (
            "a wrong expected value worked out by hand: the test fails the correct function",
            """
            frame = pd.DataFrame(
                {"Class": ["A", "A", "B", "B", "B"], "Score": [60.0, 71.0, 70.0, 80.0, 96.0]}
            )
            assert class_means(frame) == {"A": 65.5, "B": 80.0}
            """,
        ),
    ],
    "10-ex2": [
        (
            "a non-atomic write: straight into the target",
            """
            with open(target, "w", encoding="utf-8") as handle:
                for part in parts:
                    handle.write(part)
            """,
        ),
        (
            "the temporary file in the system's temp folder, then moved (not one rename)",
            """
            import tempfile

            with tempfile.NamedTemporaryFile("w", encoding="utf-8", delete=False) as handle:
                for part in parts:
                    handle.write(part)
            shutil.move(handle.name, target)
            """,
        ),
        (
            "no clean-up: a failed write leaves its temporary file behind",
            """
            tmp = target.with_name(target.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as handle:
                for part in parts:
                    handle.write(part)
            os.replace(tmp, target)
            """,
        ),
        (
            "the error swallowed: the caller never learns the write failed",
            """
            tmp = target.with_name(target.name + ".tmp")
            try:
                with open(tmp, "w", encoding="utf-8") as handle:
                    for part in parts:
                        handle.write(part)
                os.replace(tmp, target)
            except OSError:
                tmp.unlink(missing_ok=True)
            """,
        ),
        (
            "a temporary file, then copied into the old file (a copy is not atomic)",
            """
            tmp = target.with_name(target.name + ".tmp")
            try:
                with open(tmp, "w", encoding="utf-8") as handle:
                    for part in parts:
                        handle.write(part)
                shutil.copyfile(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            """,
        ),
        (
            "right steps, wrong content: the parts joined with newlines",
            """
            tmp = target.with_name(target.name + ".tmp")
            try:
                tmp.write_text("\\n".join(parts), encoding="utf-8")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            """,
        ),
    ],
}
