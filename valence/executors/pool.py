"""A process pool that knows which worker runs which task (``LocalExecutor``'s pool).

Unlike ``concurrent.futures.ProcessPoolExecutor``, a worker that dies fails
only the task it was running, a task can be stopped by killing its worker, and
both leave the rest of the pool running. That is what ``timeout=`` and
cancelling a running task need.

State, owned by one manager thread: a FIFO ``queue`` of jobs, the ``workers``
(each with its process, its end of a pipe and the job it runs, if any). Policy:
a queued job goes to an idle worker, and a new worker starts (up to ``size``)
only when none is idle. The manager waits on the wake-up pipe, every busy
worker's pipe and every worker's process sentinel, with a timeout that ends at
the nearest task deadline; it then finishes jobs whose results arrived, fails
the job of a worker that died (``WorkerDiedError``), kills the worker of a job
past its deadline (``TimeoutError``), and hands out queued jobs. ``submit`` and
``cancel`` may be called from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, InvalidStateError
from multiprocessing.connection import Connection, wait
from typing import Any

from valence.clock import utcnow
from valence.executors.base import Outcome, failed

__all__ = [
    "ProcessPool",
    "abandon_live_pools",
    "exit_status",
    "failed",
    "timed_out",
    "worker_died",
]

log = logging.getLogger("valence.executors")
_live: weakref.WeakSet[ProcessPool] = weakref.WeakSet()


def worker_died(name: str, status: str) -> str:
    return (
        f"WorkerDiedError: the worker process running task {name!r} died ({status}): the task "
        "called os._exit, crashed in native code or was killed (e.g. by the out-of-memory "
        "killer); the pool replaced the worker"
    )


def timed_out(name: str, timeout: float) -> str:
    return (
        f"TimeoutError: task {name!r} exceeded its timeout of {timeout:g} s and was stopped "
        "(its worker process was killed)"
    )


def exit_status(code: int | None) -> str:
    """How a process ended, for humans."""
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Job:
    __slots__ = ("deadline", "future", "listener", "name", "payload", "start", "timeout", "worker")

    def __init__(
        self, payload: bytes, name: str, timeout: float | None, listener: Any = None
    ) -> None:
        self.payload = payload
        self.name = name
        self.timeout = timeout
        self.listener = listener
        self.future: Future[Outcome] = Future()
        self.worker: _Worker | None = None
        self.deadline: float | None = None
        self.start = utcnow()

    def resolve(self, outcome: Outcome) -> None:
        # InvalidStateError: its owner cancelled the future itself, so nobody waits.
        with contextlib.suppress(InvalidStateError):
            self.future.set_result(outcome)


class _Worker:
    __slots__ = ("conn", "doomed", "job", "process", "ready")

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.job: _Job | None = None
        self.ready = False  # it said so once its imports were done
        self.doomed = False  # killed by cancel: takes no more jobs

    @property
    def idle(self) -> bool:
        return self.ready and self.job is None and not self.doomed


def _worker_main(conn: Connection) -> None:
    """A worker: say "ready", then run each (name, payload) received; stop at end of input."""
    from valence.executors.worker import run_serialized

    _ignore_interrupts()
    sending = threading.Lock()  # the live-output thread sends too

    def send(message: Any) -> None:
        with sending:
            conn.send(message)

    try:
        send("ready")  # a task's time limit starts when it reaches a ready worker
    except (BrokenPipeError, OSError):
        return  # the pool closed while this worker was starting: nothing to do
    while True:
        try:
            name, payload, live = conn.recv()
        except (EOFError, OSError):
            return
        listener = (lambda kind, value: send(("event", kind, value))) if live else None
        send(run_serialized(payload, name, listener))


def _ignore_interrupts() -> None:
    """Ignore SIGINT: a Ctrl-C or a notebook's Interrupt reaches the whole process group.

    The pool's manager thread starts workers with SIGINT blocked, so one arriving
    before this runs stays pending and is discarded once ignored here.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class ProcessPool:
    """``size`` worker processes started on demand from ``context``."""

    def __init__(self, size: int, context: Any) -> None:
        self.size = size
        self._context = context
        self._lock = threading.Lock()
        self._queue: deque[_Job] = deque()
        self._workers: list[_Worker] = []
        self._closing = False
        self._wake_r, wake_w = os.pipe()
        self._wake_w: int | None = wake_w
        self._wake_lock = threading.Lock()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(wake_w, False)
        self._thread = threading.Thread(target=self._manage, name="valence-pool", daemon=True)
        self._thread.start()
        _live.add(self)

    # ---- any thread ------------------------------------------------------------
    def submit(
        self, payload: bytes, name: str, timeout: float | None = None, listener: Any = None
    ) -> Future[Outcome]:
        """Queue a task; ``listener`` hears its start and output (``TaskSpec.listener``)."""
        job = _Job(payload, name, timeout, listener)
        with self._lock:
            if self._closing:
                raise RuntimeError("the process pool is shut down")
            self._queue.append(job)
        self._wake()
        return job.future

    def cancel(self, future: Future[Outcome]) -> bool:
        """Drop a queued job, or kill the worker of a running one; True if it will not finish."""
        with self._lock:
            job = next((j for j in self._queue if j.future is future), None)
            if job is not None:
                self._queue.remove(job)
            else:
                worker = next((w for w in self._workers if w.job and w.job.future is future), None)
                if worker is None:
                    return future.cancel()
                worker.job, worker.doomed = None, True  # the manager reaps it when it dies
                worker.process.kill()
        return future.cancel()

    def cancel_queued(self, future: Future[Outcome]) -> bool:
        """Drop a job that no worker has taken yet; False for a running or finished one."""
        with self._lock:
            job = next((j for j in self._queue if j.future is future), None)
            if job is None:
                running = any(w.job and w.job.future is future for w in self._workers)
                return False if running else future.cancel()
            self._queue.remove(job)
        return future.cancel()

    def shutdown(self, wait: bool = True) -> None:
        """Finish queued and running jobs, then stop the workers."""
        with self._lock:
            self._closing = True
        self._wake()
        if wait and self._thread is not threading.current_thread():
            self._thread.join()

    def abandon(self) -> None:
        """Stop now: drop queued jobs and kill busy workers (for an exit that leaves
        dispatches to be resumed; their futures resolve as failures nobody records)."""
        with self._lock:
            self._closing = True
            for job in self._queue:
                job.resolve(failed(f"ExecutorError: task {job.name!r}: the pool was abandoned"))
            self._queue.clear()
            for worker in self._busy():
                worker.process.kill()
        self._wake()
        if self._thread is not threading.current_thread():
            self._thread.join(10)

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_w is None:  # the manager is gone
                return
            with contextlib.suppress(BlockingIOError):  # a full pipe wakes the manager too
                os.write(self._wake_w, b"x")

    # ---- the manager thread ---------------------------------------------------
    def _manage(self) -> None:
        # Processes started from this thread (the forkserver, workers) inherit the
        # mask: a SIGINT meant for the caller never interrupts a starting worker.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            while self._step():
                pass
        except Exception as exc:  # a bug here must fail the tasks, not hang them
            log.exception("valence process pool manager failed")
            with self._lock:
                self._closing = True
                for worker in self._busy():
                    assert worker.job is not None
                    worker.job.resolve(failed(f"ExecutorError: process pool failed: {exc!r}"))
                    worker.job = None
        finally:
            self._close()

    def _step(self) -> bool:
        with self._lock:
            self._assign()
            if self._closing and not self._queue and not self._busy():
                return False
            waitables: list[Any] = [self._wake_r]
            for worker in self._workers:
                waitables.append(worker.process.sentinel)
                if worker.job is not None or not worker.ready:
                    waitables.append(worker.conn)
            timeout = self._until_deadline()
        ready = set(wait(waitables, timeout))
        if self._wake_r in ready:
            self._drain_wake()
        with self._lock:
            for worker in list(self._workers):
                if worker.conn in ready:
                    self._receive(worker)
                elif worker.process.sentinel in ready:
                    self._died(worker)
            self._expire()
        return True

    def _busy(self) -> list[_Worker]:
        return [w for w in self._workers if w.job is not None]

    def _until_deadline(self) -> float | None:
        deadlines = [w.job.deadline for w in self._workers if w.job and w.job.deadline]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _assign(self) -> None:
        while self._queue:
            worker = next((w for w in self._workers if w.idle), None)
            if worker is None:
                starting = sum(1 for w in self._workers if not w.ready)
                if starting >= len(self._queue) or len(self._workers) >= self.size:
                    return
                try:
                    self._start_worker()
                except Exception as exc:
                    job = self._queue.popleft()
                    job.resolve(failed(f"ExecutorError: cannot start a worker process: {exc!r}"))
                continue
            job = self._queue.popleft()
            if job.future.cancelled():
                continue
            try:
                worker.conn.send((job.name, job.payload, job.listener is not None))
            except (OSError, ValueError):  # the worker died before it took the job
                self._queue.appendleft(job)
                self._remove(worker)
                continue
            worker.job, job.worker = job, worker
            job.payload = b""
            if job.timeout is not None:
                job.deadline = time.monotonic() + job.timeout

    def _start_worker(self) -> _Worker:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_conn,))
        process.start()
        child_conn.close()
        worker = _Worker(process, parent_conn)
        self._workers.append(worker)
        return worker

    def _receive(self, worker: _Worker) -> None:
        job = worker.job
        try:
            outcome = worker.conn.recv()
        except (EOFError, OSError):  # it died while sending
            self._died(worker)
            return
        if not worker.ready:  # its "ready"
            worker.ready = True
            return
        if isinstance(outcome, tuple):  # ("event", kind, value) while the task runs
            if job is not None and job.listener is not None:
                job.listener(outcome[1], outcome[2])
            return
        worker.job = None
        if job is not None:
            job.resolve(outcome)

    def _died(self, worker: _Worker) -> None:
        job = worker.job
        worker.process.join()
        status = exit_status(worker.process.exitcode)
        self._remove(worker)
        if job is not None:
            job.resolve(failed(worker_died(job.name, status), job.start))
        elif not worker.ready and self._queue:  # it could not even start: do not loop
            job = self._queue.popleft()
            error = f"WorkerDiedError: a worker process for task {job.name!r} failed to start"
            job.resolve(failed(f"{error} ({status})", job.start))

    def _expire(self) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            job = worker.job
            if job is not None and job.deadline is not None and job.deadline <= now:
                worker.job = None
                self._remove(worker)
                assert job.timeout is not None
                job.resolve(failed(timed_out(job.name, job.timeout), job.start))

    def _remove(self, worker: _Worker) -> None:
        """Kill (if needed) and reap ``worker``, and forget it."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        worker.process.close()
        self._workers.remove(worker)

    def _close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
            for job in self._queue:
                job.resolve(failed(f"ExecutorError: task {job.name!r}: the pool was shut down"))
            self._queue.clear()
        for worker in workers:
            worker.conn.close()  # the worker sees end of input and exits
        for worker in workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.process.close()
        with self._wake_lock:
            assert self._wake_w is not None
            os.close(self._wake_w)
            os.close(self._wake_r)
            self._wake_w = None


def abandon_live_pools() -> None:
    """Kill every pool's running tasks now (see :meth:`ProcessPool.abandon`)."""
    for pool in list(_live):
        pool.abandon()


def _shutdown_live_pools() -> None:
    """Stop every pool before ``multiprocessing`` joins its children at exit."""
    for pool in list(_live):
        pool.shutdown(wait=True)


_register = getattr(threading, "_register_atexit", None)
if _register is not None:  # runs before atexit handlers, while threads still work
    _register(_shutdown_live_pools)
else:  # pragma: no cover - very old Pythons
    import atexit

    atexit.register(_shutdown_live_pools)
