"""Reading from a source that fails now and then: a flaky loopback server and a retrying reader.

Lessons 09 and 11 need an unreliable source that behaves the same on every run, so :class:`FlakyServer`
serves the exam CSV on 127.0.0.1 and answers some requests with an error, chosen by a seeded
random generator (the same seed and the same order of requests give the same failures).
:func:`fetch_with_retries` reads it with tenacity: only *transient* errors are retried, with
short exponential waits, and giving up raises one clear :class:`SourceUnavailable`.
"""

from __future__ import annotations

import http.client
import http.server
import logging
import random
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType

import pandas as pd
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from exam_pipeline.core.data import dataset_path, read_scores
from exam_pipeline.core.validate import PipelineInputError

log = logging.getLogger(__name__)

#: The path the flaky server serves the CSV on.
SCORES_PATH = "/scores.csv"

#: Status codes that mean "try again later" (worth a retry); other errors are permanent.
TRANSIENT_STATUS: frozenset[int] = frozenset({429, 500, 502, 503, 504})


class SourceError(RuntimeError):
    """Reading the source failed for good (e.g. 404): retrying would not help."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"{url}: {detail}")
        self.url = url
        self.detail = detail


class TransientSourceError(SourceError):
    """Reading the source failed in a way that may pass (5xx, refused or dropped connection)."""


class SourceUnavailable(SourceError):
    """The retrying reader gave up: every attempt failed."""


@dataclass
class FlakyPlan:
    """Decides, request by request, whether the server fails: seeded, so runs repeat exactly.

    ``fail_first`` requests always fail (handy to show a retry for sure); after that each request
    fails with probability ``failure_rate``. ``outcomes`` records the status sent for each request.
    """

    failure_rate: float = 0.5
    seed: int = 0
    fail_first: int = 0
    status: int = HTTPStatus.SERVICE_UNAVAILABLE
    outcomes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be between 0 and 1, got {self.failure_rate}")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def next_status(self) -> int:
        """The status of the next request (200 or the failure status)."""
        with self._lock:
            roll = self._rng.random()  # drawn every time, so the sequence depends only on the seed
            fails = len(self.outcomes) < self.fail_first or roll < self.failure_rate
            status = int(self.status) if fails else int(HTTPStatus.OK)
            self.outcomes.append(status)
            return status


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _FlakyHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (the name http.server expects)
        if self.path != SCORES_PATH:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n")
            return
        status = self.server.plan.next_status()
        body = self.server.body if status == HTTPStatus.OK else b"try again later\n"
        self._send(status, body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet by default (no request lines on stderr); visible at DEBUG level."""
        log.debug("flaky server: " + format, *args)


class _FlakyHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], plan: FlakyPlan, body: bytes) -> None:
        super().__init__(address, _Handler)
        self.plan = plan
        self.body = body


class FlakyServer:
    """A CSV source on 127.0.0.1 that fails on purpose; use it as a context manager.

    >>> with FlakyServer(failure_rate=0.5, seed=1) as server:   # doctest: +SKIP
    ...     text = fetch_with_retries(server.url).text
    """

    def __init__(
        self,
        body: bytes | None = None,
        failure_rate: float = 0.5,
        seed: int = 0,
        fail_first: int = 0,
        status: int = HTTPStatus.SERVICE_UNAVAILABLE,
        port: int = 0,
    ) -> None:
        self.plan = FlakyPlan(
            failure_rate=failure_rate, seed=seed, fail_first=fail_first, status=status
        )
        self.body = body if body is not None else dataset_path().read_bytes()
        self.port = port
        self._server: _FlakyHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address of the CSV (the port is free one chosen by the OS unless given)."""
        if self._server is None:
            raise RuntimeError("the server is not running; call start() or use `with`")
        return f"http://127.0.0.1:{self._server.server_address[1]}{SCORES_PATH}"

    @property
    def requests(self) -> int:
        """How many CSV requests were answered so far."""
        return len(self.plan.outcomes)

    def start(self) -> FlakyServer:
        """Bind 127.0.0.1 (port 0 = any free port) and serve in a background thread."""
        if self._server is not None:
            return self
        self._server = _FlakyHTTPServer(("127.0.0.1", self.port), self.plan, self.body)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (safe to call twice)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> FlakyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def fetch_text(url: str, timeout: float = 2.0) -> str:
    """One attempt to GET ``url``; sort failures into transient and permanent ones."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        detail = f"HTTP {exc.code} {exc.reason}"
        if exc.code in TRANSIENT_STATUS:
            raise TransientSourceError(url, detail) from None
        raise SourceError(url, detail) from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        raise TransientSourceError(url, str(getattr(exc, "reason", exc))) from None


@dataclass(frozen=True)
class FetchResult:
    """What the retrying reader got, and how many attempts it took."""

    text: str
    attempts: int


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    detail = getattr(error, "detail", error)
    log.warning("attempt %d failed (%s); retrying", state.attempt_number, detail)


def retrying(attempts: int = 5, wait_initial: float = 0.01, wait_max: float = 0.2) -> Retrying:
    """The retry policy: at most ``attempts`` tries, waits 0.01 s, 0.02 s, 0.04 s ... capped.

    Only :class:`TransientSourceError` is retried: a 404 fails at once.
    """
    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_initial, min=wait_initial, max=wait_max),
        retry=retry_if_exception_type(TransientSourceError),
        before_sleep=_log_retry,
        reraise=False,
    )


def fetch_with_retries(
    url: str,
    attempts: int = 5,
    wait_initial: float = 0.01,
    wait_max: float = 0.2,
    timeout: float = 2.0,
) -> FetchResult:
    """GET ``url`` with retries; raise :class:`SourceUnavailable` naming the last error on giving up."""
    policy = retrying(attempts, wait_initial, wait_max)
    try:
        text = policy(fetch_text, url, timeout)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        detail = getattr(last, "detail", str(last))
        raise SourceUnavailable(
            url, f"gave up after {attempts} attempts; last error: {detail}"
        ) from last
    return FetchResult(text=text, attempts=int(policy.statistics["attempt_number"]))


def read_scores_url(
    url: str, group_col: str = "Class", value_col: str = "Score", attempts: int = 5
) -> pd.DataFrame:
    """Read the group and score columns of a CSV over HTTP, as text, with retries.

    The body goes through :func:`exam_pipeline.core.data.read_scores` (by way of a temporary file),
    so a file served over HTTP is read exactly as the same file on disk: separator, decimal
    commas, byte-order mark and the cleaning rules' raw text alike.
    """
    text = fetch_with_retries(url, attempts=attempts).text
    with tempfile.TemporaryDirectory(prefix="exam-url-") as folder:
        path = Path(folder) / "scores.csv"
        path.write_text(text, encoding="utf-8", newline="")
        try:
            frame, _ = read_scores(path, group_col, value_col)
        except PipelineInputError as exc:  # name the URL, not the temporary file
            raise PipelineInputError(str(exc).replace(str(path), url)) from None
    return frame
