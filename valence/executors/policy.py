"""Retries and timeouts around any executor's ``submit``.

:func:`submit_with_policy` is how the engine submits a task. Without
``retries`` and without a timeout the executor cannot enforce, it is exactly
``executor.submit``. Otherwise it returns a :class:`Retrying` future that runs
up to ``1 + retries`` attempts; before retry *k* (1-based) it waits
``retry_delay * 2 ** (k - 1)`` seconds. Every failed attempt is recorded: its
error line goes to ``Outcome.attempt_errors`` and, with its stderr, to the
final Outcome's ``stderr``; the final Outcome carries the attempt count.

``timeout`` is per attempt. Executors with ``enforces_timeout`` stop the task
themselves (killing its process). For the others a timer fails the attempt at
the deadline and abandons it (a thread cannot be stopped; it finishes in the
background, its result discarded), and a synchronous executor's attempt that
ran too long is failed when it returns.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from valence.clock import utcnow
from valence.executors.base import Executor, Outcome, TaskSpec, failed

__all__ = [
    "Retrying",
    "backoff",
    "canceller",
    "error_text",
    "submit_with_policy",
    "task_options",
]

log = logging.getLogger("valence.executors")


def backoff(retry_delay: float, retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): exponential."""
    return float(retry_delay) * 2 ** (retry - 1)


def submit_with_policy(executor: Executor, spec: TaskSpec) -> Future[Outcome]:
    """``executor.submit(spec)`` with the task's retries and timeout applied."""
    retries = int(spec.metadata.get("retries") or 0)
    timeout = spec.metadata.get("timeout")
    if retries < 0:
        raise ValueError(f"task {spec.name!r}: retries must be >= 0, not {retries}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"task {spec.name!r}: timeout must be a positive number of seconds")
    if not retries and (timeout is None or executor.enforces_timeout):
        return executor.submit(spec)
    return Retrying(executor, spec, retries, timeout).start()


class _FutureCanceller:
    """Stands in for the executor when the engine cancels a :class:`Retrying` future."""

    @staticmethod
    def cancel(future: Future[Outcome]) -> bool:
        return future.cancel()

    @staticmethod
    def cancel_pending(future: Future[Outcome]) -> bool:
        assert isinstance(future, Retrying)
        return future.cancel_pending()


def canceller(executor: Executor, future: Future[Outcome]) -> Any:
    """What the engine should call ``.cancel(future)`` on to cancel ``future``."""
    return _FutureCanceller if isinstance(future, Retrying) else executor


class Retrying(Future):  # type: ignore[type-arg]
    """The future of a task with retries or an emulated timeout."""

    def __init__(
        self, executor: Executor, spec: TaskSpec, retries: int, timeout: float | None
    ) -> None:
        super().__init__()
        self._executor = executor
        self._spec = spec
        self._retries = retries
        self._delay = float(spec.metadata.get("retry_delay") or 0.0)
        self._timeout = timeout
        self._emulate = timeout is not None and not executor.enforces_timeout
        self._attempt = 0
        self._open: int | None = None  # the attempt whose report is still awaited
        self._inner: Future[Outcome] | None = None
        self._last_attempt = False  # the dispatch was cancelled: no retry after this attempt
        self._errors: list[str] = []
        self._stderr: list[str] = []
        self._lock = threading.RLock()

    def start(self) -> Retrying:
        self._submit()
        return self

    def _submit(self) -> None:
        with self._lock:
            if self.done():
                return
            self._attempt += 1
            attempt = self._open = self._attempt
            started = utcnow()
            try:
                inner = self._executor.submit(self._spec)
            except Exception as exc:
                inner = Future()
                inner.set_result(failed(f"ExecutorError: {type(exc).__name__}: {exc}", started))
            self._inner = inner
        if self._emulate:
            assert self._timeout is not None
            timers.call_later(self._timeout, self._deadline, inner, attempt, started)
        inner.add_done_callback(lambda f: self._finished(f, attempt, started))

    def _deadline(self, inner: Future[Outcome], attempt: int, started: datetime) -> None:
        if inner.done():
            return
        self._record(attempt, self._timed_out(started, "was abandoned"))
        self._executor.cancel(inner)  # stops it if still queued; a running thread runs on

    def _finished(self, inner: Future[Outcome], attempt: int, started: datetime) -> None:
        if inner.cancelled():
            with self._lock:
                if attempt == self._open and not self.done():
                    Future.cancel(self)
            return
        outcome = inner.result()
        if self._emulate and outcome.ok and self._ran_too_long(outcome):
            outcome = self._timed_out(started, "ran to its end (this executor cannot stop it)")
        self._record(attempt, outcome)

    def _ran_too_long(self, outcome: Outcome) -> bool:
        assert self._timeout is not None
        return (outcome.end_time - outcome.start_time).total_seconds() > self._timeout

    def _timed_out(self, started: datetime, what: str) -> Outcome:
        error = (
            f"TimeoutError: task {self._spec.name!r} exceeded its timeout of "
            f"{self._timeout:g} s and {what}"
        )
        return failed(error, started)

    def _record(self, attempt: int, outcome: Outcome) -> None:
        """Finish with ``outcome`` or schedule the next attempt (first report wins)."""
        with self._lock:
            if attempt != self._open or self.done():
                return
            self._open = None
            total = 1 + self._retries
            if not outcome.ok:
                self._errors.append(f"attempt {attempt} of {total}: {outcome.error}")
            if outcome.ok or attempt >= total or self._last_attempt:
                outcome.attempts = attempt
                outcome.attempt_errors = list(self._errors)
                outcome.stderr = "".join(self._stderr) + outcome.stderr
                self.set_result(outcome)
                return
            delay = backoff(self._delay, attempt)
            self._stderr.append(
                f"{outcome.stderr}valence: attempt {attempt} of {total} failed: "
                f"{(outcome.error or 'failed').splitlines()[0]}; retrying in {delay:g} s\n"
            )
            self._inner = None
        timers.call_later(delay, self._submit)

    def cancel(self) -> bool:
        with self._lock:
            if self.done():
                return False
            inner = self._inner
            if inner is not None and not self._executor.cancel(inner):
                return False
            return Future.cancel(self)

    def cancel_pending(self) -> bool:
        """Cancel unless an attempt is running (then it finishes, and no retry follows it)."""
        with self._lock:
            if self.done():
                return False
            inner = self._inner
            if inner is not None and not inner.done() and not self._executor.cancel_pending(inner):
                self._last_attempt = True
                return False
            return Future.cancel(self)


class _Timers:
    """One daemon thread running callbacks at their due time (retry delays, deadlines)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        with self._cond:
            due = time.monotonic() + max(0.0, delay)
            heapq.heappush(self._heap, (due, next(self._order), fn, args))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="valence-timers", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                _, _, fn, args = heapq.heappop(self._heap)
            try:
                fn(*args)
            except Exception:  # a callback bug must not stop every later timer
                log.exception("valence timer callback failed")


timers = _Timers()


TASK_OPTIONS = (
    "deps_bash",
    "deps_pip",
    "call_before",
    "call_after",
    "retries",
    "retry_delay",
    "files",
    "deps_module",
)
"""Electron options a task's submission needs (plus ``timeout``); the rest stay home."""


def task_options(metadata: dict[str, Any]) -> dict[str, Any]:
    """The options of ``metadata`` that travel with a task (unset ones left out)."""
    options = {key: metadata[key] for key in TASK_OPTIONS if metadata.get(key)}
    if metadata.get("timeout") is not None:
        options["timeout"] = metadata["timeout"]
    return options


def error_text(outcome: Outcome) -> str:
    """A failed Outcome's error, followed by every failed attempt when it was retried."""
    error = outcome.error or "task failed"
    if outcome.attempts <= 1:
        return error
    return f"{error}\nall {outcome.attempts} attempts failed:\n  " + "\n  ".join(
        outcome.attempt_errors
    )
