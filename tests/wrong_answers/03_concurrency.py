"""Plausible wrong answers to lesson 03's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "03-ex1": [
        (
            "no concurrency: a plain loop, one fetch after another",
            "return [slow_fetch(name) for name in names]",
        ),
        (
            "results in the order they finish: submit and as_completed",
            """
            from concurrent.futures import as_completed

            with ThreadPoolExecutor(max_workers=8) as pool:
                futures = [pool.submit(slow_fetch, name) for name in names]
                return [future.result() for future in as_completed(futures)]
            """,
        ),
        (
            "a pool of one worker: threads, but still one fetch at a time",
            """
            with ThreadPoolExecutor(max_workers=1) as pool:
                return list(pool.map(slow_fetch, names))
            """,
        ),
        (
            "hard-coded: the upper-cased names, without fetching anything",
            "return [name.upper() for name in names]",
        ),
        (
            "off by one: the last name is left out",
            """
            with ThreadPoolExecutor(max_workers=8) as pool:
                return list(pool.map(slow_fetch, names[:-1]))
            """,
        ),
        (
            "right content, wrong type: the lazy iterator of pool.map, not a list",
            """
            with ThreadPoolExecutor(max_workers=8) as pool:
                return pool.map(slow_fetch, names)
            """,
        ),
    ],
    "03-ex2": [
        (
            "no concurrency: each fetch is awaited before the next one starts",
            "return [await slow_fetch_async(name) for name in names]",
        ),
        (
            "results in the order they finish: asyncio.as_completed",
            """
            pending = [slow_fetch_async(name) for name in names]
            return [await done for done in asyncio.as_completed(pending)]
            """,
        ),
        (
            "results from asyncio.wait's set: in no particular order",
            """
            if not names:
                return []
            done, _ = await asyncio.wait([asyncio.create_task(slow_fetch_async(n)) for n in names])
            return [task.result() for task in done]
            """,
        ),
        (
            "blocking: exercise 1's thread-based slow_fetch called from the coroutine",
            "return [slow_fetch(name) for name in names]",
        ),
        (
            "hard-coded: the upper-cased names, without fetching anything",
            "return [name.upper() for name in names]",
        ),
        (
            "off by one: the first name is left out",
            "return list(await asyncio.gather(*(slow_fetch_async(name) for name in names[1:])))",
        ),
        (
            "right shape, wrong content: the coroutines themselves, never awaited",
            "return [slow_fetch_async(name) for name in names]",
        ),
    ],
}
