"""A process pool that knows which worker runs which task (``LocalExecutor``'s pool).

Unlike ``concurrent.futures.ProcessPoolExecutor``, a worker that dies fails
only the task it was running, a task can be stopped by killing its worker, and
both leave the rest of the pool running. That is what ``timeout=`` and
cancelling a running task need.

Tasks travel in batches: when several are queued, a worker receives up to
:data:`BATCH` of them in one message and returns their outcomes together
(:mod:`valence.executors.batch` is the worker's side). Each worker shares a
small array with the pool, written under a lock the two share: the sequence
number of the task it took last and of the task it finished last, and one
"skip" flag per slot. So the pool knows, at any moment, which task a worker
runs, can take back tasks it has not started (cancel, or to give them to an
idle worker), and, when a worker dies, fails only the task it was running:
the others of its batch are queued again (those it had finished but not yet
reported run again). A task with a timeout travels alone; its time limit
starts when it reaches a ready worker. A function's bytes go to a worker once
(workers keep them by digest; the pool tells a worker which to drop).

State, owned by one manager thread under ``_lock``: a FIFO ``queue`` of jobs,
the ``workers`` (process, pipe, shared array, the jobs in flight by sequence
number). ``submit`` hands a task straight to an idle worker from the calling
thread when nothing is queued (a chain's round trip needs no thread hop);
otherwise it queues it and wakes the manager if a worker could take it. The
manager waits on the wake-up pipe, every worker's pipe and process sentinel,
with a timeout that ends at the nearest task deadline; it then finishes jobs
whose outcomes arrived, handles the death of a worker, kills the worker of a
job past its deadline (``TimeoutError``), hands out queued jobs and moves
unstarted ones from a busy worker to an idle one. Futures resolve and
listeners are called outside the lock. ``submit`` and ``cancel`` may be called
from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pickle
import select
import signal
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from multiprocessing.connection import Connection
from typing import Any

from valence.clock import utcnow
from valence.executors.base import Outcome, failed
from valence.executors.batch import DONE, SLOTS, TAKEN, worker_main

__all__ = [
    "BATCH",
    "ProcessPool",
    "abandon_live_pools",
    "exit_status",
    "failed",
    "timed_out",
    "worker_died",
]

log = logging.getLogger("valence.executors")
_live: weakref.WeakSet[ProcessPool] = weakref.WeakSet()

BATCH = 64  # most tasks sent to a worker in one message
DIRECT_LIMIT = 64 * 1024  # larger payloads go through the manager (never block a submitter)
KNOWN_FUNCTIONS = 128  # function bytes a worker keeps (by digest)
MAX_LOST = 3  # a task whose workers die under it this often (blame unknown) fails
_PICKLE = pickle.HIGHEST_PROTOCOL


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
    __slots__ = (
        "deadline",
        "digest",
        "fn_bytes",
        "future",
        "listener",
        "lost",
        "name",
        "payload",
        "seq",
        "start",
        "timeout",
        "worker",
    )

    def __init__(
        self,
        payload: bytes,
        name: str,
        timeout: float | None,
        listener: Any,
        function: tuple[str, bytes],
    ) -> None:
        self.payload = payload
        self.name = name
        self.timeout = timeout
        self.listener = listener
        self.digest, self.fn_bytes = function
        self.future: Future[Outcome] = Future()
        self.worker: _Worker | None = None
        self.seq = 0
        self.deadline: float | None = None
        self.lost = 0  # times its worker died under it, not blamed on it
        self.start = utcnow()

    def resolve(self, outcome: Outcome) -> None:
        # InvalidStateError: its owner cancelled the future itself, so nobody waits.
        with contextlib.suppress(InvalidStateError):
            self.future.set_result(outcome)


class _Worker:
    __slots__ = (
        "conn",
        "doomed",
        "fds",
        "inflight",
        "known",
        "lock",
        "next_seq",
        "process",
        "ready",
        "state",
    )

    def __init__(self, process: Any, conn: Connection, state: Any, lock: Any) -> None:
        self.process = process
        self.conn = conn
        self.state = state  # shared with the process: TAKEN, DONE, skip flags (batch.py)
        self.lock = lock  # shared with the process, guards ``state``
        self.fds = (conn.fileno(), process.sentinel)  # what the manager polls
        self.inflight: dict[int, _Job] = {}  # sent, not reported, by sequence number
        self.known: OrderedDict[str, None] = OrderedDict()  # digests whose bytes it holds
        self.next_seq = 1
        self.ready = False  # it said so once its imports were done
        self.doomed = False  # being killed (cancel) or unreachable: takes no more jobs

    @property
    def idle(self) -> bool:
        return self.ready and not self.inflight and not self.doomed


def _ignore_interrupts_in_manager() -> None:
    # Processes started from this thread (the forkserver, workers) inherit the
    # mask: a SIGINT meant for the caller never interrupts a starting worker.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


Calls = list[tuple[Callable[..., Any], tuple[Any, ...]]]


class ProcessPool:
    """``size`` worker processes started on demand from ``context``."""

    def __init__(self, size: int, context: Any) -> None:
        self.size = size
        self._context = context
        self._lock = threading.Lock()
        self._queue: deque[_Job] = deque()
        self._jobs: dict[Future[Outcome], _Job] = {}  # every job not yet resolved
        self._workers: list[_Worker] = []
        self._closing = False
        self._abandoned = False
        self._signalled = False  # a wake-up byte is in the pipe, not yet drained
        self._wake_r, wake_w = os.pipe()
        self._wake_w: int | None = wake_w
        self._wake_lock = threading.Lock()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(wake_w, False)
        self._poller = select.poll()  # the wake-up pipe, every worker's pipe and sentinel
        self._poller.register(self._wake_r, select.POLLIN)
        self._thread = threading.Thread(target=self._manage, name="valence-pool", daemon=True)
        self._thread.start()
        _live.add(self)

    # ---- any thread ------------------------------------------------------------
    def submit(
        self,
        payload: bytes,
        name: str,
        timeout: float | None = None,
        listener: Any = None,
        function: tuple[str, bytes] = ("", b""),
    ) -> Future[Outcome]:
        """Queue a task; ``function`` is its (digest, bytes); ``listener`` hears its
        start and output (``TaskSpec.listener``)."""
        job = _Job(payload, name, timeout, listener, function)
        wake = False
        with self._lock:
            if self._closing:
                raise RuntimeError("the process pool is shut down")
            self._jobs[job.future] = job
            if not self._queue and timeout is None and len(payload) <= DIRECT_LIMIT:
                worker = next((w for w in self._workers if w.idle), None)
                if worker is not None and self._send(worker, [job]):
                    return job.future
            self._queue.append(job)
            if not self._signalled and self._could_take():
                self._signalled = wake = True
        if wake:
            self._wake()
        return job.future

    def cancel(self, future: Future[Outcome]) -> bool:
        """Drop a queued or unstarted job, or kill the worker of a running one; True
        if it will not finish."""
        return self._cancel(future, kill=True)

    def cancel_queued(self, future: Future[Outcome]) -> bool:
        """Drop a job that no worker has started yet; False for a running or finished one."""
        return self._cancel(future, kill=False)

    def _cancel(self, future: Future[Outcome], kill: bool) -> bool:
        with self._lock:
            job = self._jobs.get(future)
            if job is None:
                return future.cancel()
            worker = job.worker
            if worker is None:  # queued
                self._queue.remove(job)
            else:
                where = self._take_back(worker, [job])
                if where is None or where == "taken":
                    pass  # its worker is dead (the manager reaps it) or it was not started
                elif where == "finished":
                    return future.cancel()  # its outcome is on its way: it is dropped
                elif not kill:
                    return False
                else:  # running: kill its worker; the rest of its batch runs elsewhere
                    del worker.inflight[job.seq]
                    worker.doomed = True
                    worker.process.kill()
            del self._jobs[future]
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
            self._closing = self._abandoned = True
            queued, self._queue = list(self._queue), deque()
            for worker in self._workers:
                if worker.inflight:
                    worker.process.kill()
        for job in queued:
            job.resolve(failed(f"ExecutorError: task {job.name!r}: the pool was abandoned"))
        self._wake()
        if self._thread is not threading.current_thread():
            self._thread.join(10)

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_w is None:  # the manager is gone
                return
            with contextlib.suppress(BlockingIOError):  # a full pipe wakes the manager too
                os.write(self._wake_w, b"x")

    def _could_take(self) -> bool:
        """True if the manager could hand out a queued job now (lock held)."""
        if self._closing or len(self._workers) < self.size:
            return True
        return any(w.idle for w in self._workers)

    def _send(self, worker: _Worker, jobs: list[_Job]) -> bool:
        """Send ``jobs`` to ``worker`` in one message (lock held); False if it is gone."""
        forget: list[str] = []
        functions: dict[str, bytes] = {}
        tasks = []
        known = worker.known
        seq = worker.next_seq
        for job in jobs:
            digest = job.digest
            if digest in known:
                known.move_to_end(digest)
            else:
                functions[digest] = job.fn_bytes
                known[digest] = None
                if len(known) > KNOWN_FUNCTIONS:
                    forget.append(known.popitem(last=False)[0])
            tasks.append((seq, job.name, job.payload, digest, job.listener is not None))
            job.seq, seq = seq, seq + 1
        try:
            worker.conn.send_bytes(pickle.dumps((forget, functions, tasks), _PICKLE))
        except (OSError, ValueError):  # it died: the manager reaps it, the jobs go elsewhere
            worker.doomed = True
            return False
        worker.next_seq = seq
        now = time.monotonic()
        for job in jobs:
            job.worker = worker
            worker.inflight[job.seq] = job
            if job.timeout is not None:
                job.deadline = now + job.timeout
        return True

    def _take_back(self, worker: _Worker, jobs: list[_Job]) -> str | None:
        """Flag ``jobs`` (in flight on ``worker``) so that it skips them if it has not
        started them (lock held). Returns, for the last of them, "taken" (skipped:
        back with the pool), "running", "finished", or None if the worker is dead.
        Taken jobs leave ``worker.inflight``."""
        state, lock = worker.state, worker.lock
        where: str | None = None
        while not lock.acquire(timeout=0.05):
            if not worker.process.is_alive():  # it died holding the lock
                for job in jobs:
                    worker.inflight.pop(job.seq, None)
                    job.worker = None
                return None
        try:
            taken, finished = state[TAKEN], state[DONE]
            for job in jobs:
                if job.seq > taken:
                    state[2 + job.seq % SLOTS] = 1
                    del worker.inflight[job.seq]
                    job.worker, job.deadline, where = None, None, "taken"
                else:
                    where = "finished" if job.seq <= finished else "running"
        finally:
            lock.release()
        return where

    # ---- the manager thread ---------------------------------------------------
    def _manage(self) -> None:
        _ignore_interrupts_in_manager()
        try:
            while self._step():
                pass
        except Exception as exc:  # a bug here must fail the tasks, not hang them
            log.exception("valence process pool manager failed")
            with self._lock:
                self._closing = True
                jobs = [j for w in self._workers for j in w.inflight.values()]
                for worker in self._workers:
                    worker.inflight.clear()
            for job in jobs:
                job.resolve(failed(f"ExecutorError: process pool failed: {exc!r}"))
        finally:
            self._close()

    def _step(self) -> bool:
        calls: Calls = []
        with self._lock:
            self._assign(calls)
            busy = any(w.inflight for w in self._workers)
            if self._closing and not self._queue and not busy:
                stop = True
            else:
                stop = False
                timeout = self._until_deadline()
        _call(calls)
        if stop:
            return False
        wait_ms = None if timeout is None else math.ceil(timeout * 1000)
        ready = {fd for fd, _ in self._poller.poll(wait_ms)}
        with self._lock:
            if self._wake_r in ready:
                self._drain_wake()
            for worker in list(self._workers):
                if worker.fds[0] in ready:
                    self._receive(worker, calls)
                if worker in self._workers and worker.fds[1] in ready:
                    self._reap(worker, calls)
            self._expire(calls)
        _call(calls)
        return True

    def _until_deadline(self) -> float | None:
        deadlines = [j.deadline for w in self._workers for j in w.inflight.values() if j.deadline]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _drain_wake(self) -> None:
        self._signalled = False
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _assign(self, calls: Calls) -> None:
        """Hand queued jobs to idle workers in batches, start workers, balance (lock held)."""
        queue = self._queue
        if not queue:
            self._balance()
        for worker in self._workers:
            if not queue:
                break
            if not worker.idle:
                continue
            share = max(1, min(BATCH, math.ceil(len(queue) / self.size)))
            jobs: list[_Job] = []
            while queue and len(jobs) < share:
                job = queue[0]
                if job.future.cancelled():
                    queue.popleft()
                    self._jobs.pop(job.future, None)
                    continue
                if job.timeout is not None and jobs:
                    break  # a task with a timeout travels alone
                jobs.append(queue.popleft())
                if job.timeout is not None:
                    break
            if jobs and not self._send(worker, jobs):
                queue.extendleft(reversed(jobs))
        starting = sum(1 for w in self._workers if not w.ready)
        while queue and len(self._workers) < self.size and starting < len(queue):
            try:
                self._start_worker()
            except Exception as exc:
                job = queue.popleft()
                self._jobs.pop(job.future, None)
                error = f"ExecutorError: cannot start a worker process: {exc!r}"
                calls.append((job.resolve, (failed(error),)))
                continue
            starting += 1

    def _balance(self) -> None:
        """Nothing queued but a worker idle: take back the unstarted jobs of the busiest
        worker, to be shared out again (lock held)."""
        if not any(w.idle for w in self._workers):
            return
        busiest = max(self._workers, key=lambda w: len(w.inflight))
        if len(busiest.inflight) < 2 or busiest.doomed:
            return
        jobs = sorted(busiest.inflight.values(), key=lambda j: j.seq)
        self._take_back(busiest, jobs[1:])  # the first one is running (or about to)
        self._queue.extend(j for j in jobs[1:] if j.worker is None)

    def _start_worker(self) -> _Worker:
        state, lock = self._context.RawArray("q", 2 + SLOTS), self._context.Lock()
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(target=worker_main, args=(child_conn, state, lock))
        process.start()
        child_conn.close()
        worker = _Worker(process, parent_conn, state, lock)
        for fd in worker.fds:
            self._poller.register(fd, select.POLLIN)
        self._workers.append(worker)
        return worker

    def _receive(self, worker: _Worker, calls: Calls, reap: bool = True) -> None:
        """Read every message ``worker`` has sent so far (lock held); reap it at its end."""
        conn = worker.conn
        try:
            while True:
                message = pickle.loads(conn.recv_bytes())
                if message == "ready":
                    worker.ready = True
                elif message[0] == "done":
                    for seq, fields in message[1]:
                        job = worker.inflight.pop(seq, None)
                        if job is not None:
                            self._jobs.pop(job.future, None)
                            calls.append((job.resolve, (Outcome(*fields),)))
                else:  # ("event", seq, kind, value) while a task runs
                    job = worker.inflight.get(message[1])
                    if job is not None and job.listener is not None:
                        calls.append((job.listener, (message[2], message[3])))
                if not conn.poll():
                    return
        except (EOFError, OSError):  # it died (while sending)
            if reap:
                self._reap(worker, calls)

    def _reap(self, worker: _Worker, calls: Calls) -> None:
        """``worker`` died or was killed: fail the job it was running, queue the others."""
        with contextlib.suppress(EOFError, OSError):
            if worker.conn.poll():  # outcomes it sent before it died
                self._receive(worker, calls, reap=False)
        worker.process.join()
        status = exit_status(worker.process.exitcode)
        state = worker.state
        running = state[TAKEN] if state[TAKEN] > state[DONE] else None
        jobs = sorted(worker.inflight.values(), key=lambda j: j.seq)
        worker.inflight.clear()
        self._remove(worker)
        again: list[_Job] = []
        for job in jobs:
            job.worker, job.deadline = None, None
            job.lost += job.seq != running
            if self._abandoned:
                error = f"ExecutorError: task {job.name!r}: the pool was abandoned"
            elif job.seq == running or job.lost >= MAX_LOST:
                error = worker_died(job.name, status)
            else:
                again.append(job)
                continue
            self._jobs.pop(job.future, None)
            calls.append((job.resolve, (failed(error, job.start),)))
        self._queue.extendleft(reversed(again))
        if not worker.ready and not jobs and self._queue:  # it could not even start
            job = self._queue.popleft()
            self._jobs.pop(job.future, None)
            error = f"WorkerDiedError: a worker process for task {job.name!r} failed to start"
            calls.append((job.resolve, (failed(f"{error} ({status})", job.start),)))

    def _expire(self, calls: Calls) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            for job in list(worker.inflight.values()):
                if job.deadline is not None and job.deadline <= now:
                    del worker.inflight[job.seq]
                    self._jobs.pop(job.future, None)
                    assert job.timeout is not None
                    error = timed_out(job.name, job.timeout)
                    calls.append((job.resolve, (failed(error, job.start),)))
                    worker.process.kill()
                    self._reap(worker, calls)
                    break

    def _remove(self, worker: _Worker) -> None:
        """Kill (if needed) and reap ``worker``, and forget it."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        for fd in worker.fds:
            self._poller.unregister(fd)
        worker.conn.close()
        worker.process.close()
        self._workers.remove(worker)

    def _close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
            queued, self._queue = list(self._queue), deque()
            self._jobs.clear()
        for job in queued:
            job.resolve(failed(f"ExecutorError: task {job.name!r}: the pool was shut down"))
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


def _call(calls: Calls) -> None:
    """Resolve futures and call listeners, outside the pool's lock."""
    for fn, args in calls:
        try:
            fn(*args)
        except Exception:  # a listener that fails must not stop the pool
            log.exception("valence process pool: a callback failed")
    calls.clear()


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
