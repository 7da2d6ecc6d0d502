"""The worker side of the process pool (``executors.pool``): batches in, outcomes out.

A worker says "ready" once its imports are done, then reads messages
``(forget, functions, tasks)`` until end of input: ``functions`` maps digests
to function bytes it keeps (``forget`` lists digests to drop), ``tasks`` is a
batch of ``(seq, name, payload, digest, live)`` it runs in order. Before each
task it takes the shared lock and either skips the task (its slot's flag is
set: the pool took it back) or records it as taken (``state[TAKEN] = seq``);
after it, ``state[DONE] = seq``. So if the worker dies, ``TAKEN > DONE`` names
the task that was running.

Outcomes are sent together, as tuples of :data:`OUTCOME_FIELDS`, at the end
of the batch, or by the reporter thread as soon as a task has been running
for :data:`REPORT_AFTER` seconds: it then sends the outcomes of the tasks
finished before it and the task's "started" event. A task that ends sooner
sends no "started" (its outcome carries its start time). A task's first live
output is preceded by its "started" event. Messages to the pool: "ready",
``("done", [(seq, fields), ...])`` and ``("event", seq, kind, value)``.
"""

from __future__ import annotations

import dataclasses
import pickle
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from valence.executors.base import Outcome

__all__ = ["DONE", "OUTCOME_FIELDS", "REPORT_AFTER", "SLOTS", "TAKEN", "worker_main"]

TAKEN, DONE = 0, 1  # indices in the shared state; skip flags follow at 2 + seq % SLOTS
SLOTS = 512  # more than the tasks a worker may have in flight (pool.BATCH, taken-back ones)
REPORT_AFTER = 0.02  # seconds a task runs before its start (and earlier outcomes) are sent
OUTCOME_FIELDS = tuple(f.name for f in dataclasses.fields(Outcome))
_PICKLE = pickle.HIGHEST_PROTOCOL


def worker_main(conn: Connection, state: Any, lock: Any) -> None:
    """A worker of the pool: run the batches received on ``conn`` (see the module)."""
    from valence.executors.worker import run_serialized

    _ignore_interrupts()
    reporter = _Reporter(conn)
    try:
        reporter.send("ready")  # a task's time limit starts when it reaches a ready worker
    except (BrokenPipeError, OSError):
        return  # the pool closed while this worker was starting: nothing to do
    known: dict[str, bytes] = {}
    while True:
        try:
            forget, functions, tasks = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        for digest in forget:
            known.pop(digest, None)
        known.update(functions)
        for seq, name, payload, digest, live in tasks:
            slot = 2 + seq % SLOTS
            with lock:
                skip = state[slot]
                if skip:
                    state[slot] = 0
                    state[DONE] = seq
                state[TAKEN] = seq
            if skip:
                continue
            listener = reporter.begin(seq, live)
            outcome = run_serialized(payload, name, listener, known.get(digest))
            reporter.finish(seq, tuple(getattr(outcome, f) for f in OUTCOME_FIELDS))
            state[DONE] = seq
        reporter.flush()


def _ignore_interrupts() -> None:
    """Ignore SIGINT: a Ctrl-C or a notebook's Interrupt reaches the whole process group.

    The pool's manager thread starts workers with SIGINT blocked, so one arriving
    before this runs stays pending and is discarded once ignored here.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class _Reporter:
    """Everything a worker sends, under one lock; a thread reports long tasks."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._pending: list[tuple[int, tuple[Any, ...]]] = []  # outcomes not sent yet
        self._since = 0.0  # when the oldest pending outcome was made
        self._current: list[Any] | None = None  # [seq, start, announced, began (monotonic)]
        self._busy = threading.Event()  # set while the worker runs a batch
        self._thread: threading.Thread | None = None

    def send(self, message: Any) -> None:
        self._conn.send_bytes(pickle.dumps(message, _PICKLE))

    def begin(self, seq: int, live: bool) -> Any:
        """Task ``seq`` starts; its listener (None if nobody listens)."""
        with self._lock:
            self._current = [seq, None, not live, time.monotonic()]
        if not self._busy.is_set():
            self._busy.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="valence-report", daemon=True
                )
                self._thread.start()
        return (lambda kind, value: self._event(seq, kind, value)) if live else None

    def finish(self, seq: int, fields: tuple[Any, ...]) -> None:
        with self._lock:
            self._current = None
            if not self._pending:
                self._since = time.monotonic()
            self._pending.append((seq, fields))

    def flush(self) -> None:
        """Send the pending outcomes (the batch is done)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self.send(("done", pending))

    def _event(self, seq: int, kind: str, value: Any) -> None:
        with self._lock:
            current = self._current
            if current is None or current[0] != seq:
                return  # the task is over: its outcome has the final word
            if kind == "started":
                current[1] = value
                return
            self._announce(current)
            self.send(("event", seq, kind, value))

    def _announce(self, current: list[Any]) -> None:
        if not current[2] and current[1] is not None:
            current[2] = True
            self.send(("event", current[0], "started", current[1]))

    def _watch(self) -> None:
        while True:
            self._busy.wait()
            time.sleep(REPORT_AFTER)
            try:
                with self._lock:
                    now = time.monotonic()
                    current = self._current
                    if current is not None and now - current[3] >= REPORT_AFTER:
                        self._flush()  # what finished before this long task
                        self._announce(current)
                    elif self._pending and now - self._since >= REPORT_AFTER:
                        self._flush()
                    if current is None and not self._pending:
                        self._busy.clear()
            except OSError:  # the pool is gone: the main thread ends at end of input
                return
