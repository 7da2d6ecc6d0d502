"""Executors on this machine: inline (synchronous), thread pool and process pool.

``InlineExecutor`` runs a task inside ``submit``; ``ThreadExecutor`` runs it on
a thread of this process; ``LocalExecutor`` (the default, ``"local"``) runs it
in a pool of worker processes. Pools start on first submit and are reused.
Executors are configuration objects: they pickle, compare and print by their
settings only (``ThreadExecutor(workers=4)``), never by their pools.

The process pool uses ``forkserver`` (``spawn`` where that is missing), never
plain ``fork`` from the multi-threaded engine. Functions and arguments travel
as ``serialize.dumps`` bytes, by value, so workers need neither the caller's
``__main__`` nor its unpublished modules; workers therefore skip re-running the
caller's main script, which keeps scripts without an ``if __name__ ==
"__main__":`` guard (as Covalent examples are written) working. A worker that
dies (``os._exit``, a crash in native code, the out-of-memory killer) breaks the
pool: every task in it at that moment fails with ``WorkerDiedError`` and the
next submit starts a fresh pool.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Executor as _StdExecutor
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from functools import partial
from typing import Any

from valence.executors.base import Executor, Outcome, TaskSpec
from valence.executors.worker import run_serialized, run_task

__all__ = ["InlineExecutor", "LocalExecutor", "ThreadExecutor"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _failed(error: str, start: datetime | None = None, tb: str | None = None) -> Outcome:
    return Outcome(ok=False, start_time=start or _now(), end_time=_now(), error=error, traceback=tb)


def _resolved(outcome: Outcome) -> Future[Outcome]:
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future


class _Configured(Executor):
    """Equality, hashing, repr and pickling by configuration (``_config()``)."""

    def _config(self) -> dict[str, Any]:
        return {}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._config() == self._config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self._config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"

    def __getstate__(self) -> dict[str, Any]:
        return self._config()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]


class InlineExecutor(_Configured):
    """Runs each task synchronously inside ``submit``: for tests and debugging."""

    name = "inline"
    in_process = True

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        return _resolved(run_task(task))


class _PoolExecutor(_Configured):
    """An executor that owns a lazily started ``concurrent.futures`` pool."""

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be a positive integer or None, not {workers!r}")
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: _StdExecutor | None = None

    def _config(self) -> dict[str, Any]:
        return {"workers": self.workers}

    def _new_pool(self) -> _StdExecutor:
        raise NotImplementedError

    def _get_pool(self) -> _StdExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = self._new_pool()
                pool = self._pool
        return pool

    def _discard(self, pool: _StdExecutor) -> None:
        """Forget ``pool`` (broken or shut down) so the next submit starts a new one."""
        with self._lock:
            if self._pool is pool:
                self._pool = None

    def _submit_to_pool(
        self, fn: Callable[..., Outcome], *args: Any
    ) -> tuple[_StdExecutor, Future[Outcome]]:
        """``pool.submit`` that replaces a pool found broken or shut down, once."""
        pool = self._get_pool()
        try:
            return pool, pool.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):
            self._discard(pool)
        pool = self._get_pool()
        return pool, pool.submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)


class ThreadExecutor(_PoolExecutor):
    """Runs tasks on a thread pool of this process; the live output is kept too."""

    name = "thread"
    in_process = True

    def _new_pool(self) -> _StdExecutor:
        return ThreadPoolExecutor(self.workers, thread_name_prefix="valence-thread")

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        try:
            return self._submit_to_pool(run_task, task)[1]
        except RuntimeError as exc:  # interpreter shutting down
            return _resolved(_failed(f"ExecutorError: cannot run task {task.name!r}: {exc}"))


# ---------------------------------------------------------------- process pool

_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
_base_context = multiprocessing.get_context(_START_METHOD)


class ValenceWorkerProcess(_base_context.Process):  # type: ignore[misc,name-defined]
    """A process-pool worker; its name marks it for :func:`_skip_main_in_workers`."""


class _WorkerContext(type(_base_context)):  # type: ignore[misc]
    Process = ValenceWorkerProcess


_guard_lock = threading.Lock()


def _skip_main_in_workers() -> None:
    """Stop our workers from re-running the caller's ``__main__`` at start-up.

    ``multiprocessing`` re-imports the parent's main script in every spawned
    child so that functions defined there can be found by reference. Ours never
    need that (everything arrives by value) and re-running an unguarded script
    would dispatch its workflow again inside the worker. The hook drops the
    main-module entries from the preparation data of processes named
    ``ValenceWorkerProcess-*`` only; other processes are untouched.
    """
    from multiprocessing import spawn

    with _guard_lock:
        original = spawn.get_preparation_data
        if getattr(original, "_valence_skips_main", False):
            return

        def get_preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            if name.startswith(ValenceWorkerProcess.__name__):
                data.pop("init_main_from_name", None)
                data.pop("init_main_from_path", None)
            return data

        get_preparation_data._valence_skips_main = True  # type: ignore[attr-defined]
        spawn.get_preparation_data = get_preparation_data


class _ProcessFuture(Future):  # type: ignore[type-arg]
    """The caller's future for a pool task; cancelling it cancels the pool's."""

    def __init__(self) -> None:
        super().__init__()
        self.inner: Future[Outcome] | None = None

    def cancel(self) -> bool:
        if self.inner is not None and not self.inner.cancel():
            return False
        return super().cancel()


def _exit_status(pool: ProcessPoolExecutor) -> str:
    """How the dead worker of a broken pool ended, if it can still be seen."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        code = process.exitcode
        if code is None:
            continue
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"
    return "exit status unknown"


class LocalExecutor(_PoolExecutor):
    """Runs tasks in a pool of worker processes (the default executor).

    Tasks travel as bytes (function by value, cached in each worker by digest);
    outcomes come back with the output as bytes only (``has_output=False``).
    """

    name = "local"
    in_process = False

    def _new_pool(self) -> _StdExecutor:
        _skip_main_in_workers()
        return ProcessPoolExecutor(self.workers, mp_context=_WorkerContext())

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        start = _now()
        try:
            payload = _pack(task)
        except Exception as exc:
            error = (
                f"SerializationError: task {task.name!r} cannot be sent to a worker process: "
                f"{type(exc).__name__}: {exc}"
            )
            return _resolved(_failed(error, start))
        outer = _ProcessFuture()
        try:
            pool, inner = self._submit_to_pool(run_serialized, payload, task.name)
        except RuntimeError as exc:  # interpreter shutting down
            return _resolved(_failed(f"ExecutorError: cannot run task {task.name!r}: {exc}"))
        outer.inner = inner
        inner.add_done_callback(partial(self._relay, outer, pool, task.name, start))
        return outer

    def _relay(
        self,
        outer: Future[Outcome],
        pool: ProcessPoolExecutor,
        name: str,
        start: datetime,
        inner: Future[Outcome],
    ) -> None:
        """Copy the pool future's result to ``outer``; turn pool failures into Outcomes."""
        if inner.cancelled():
            Future.cancel(outer)
            return
        exc = inner.exception()
        if exc is None:
            outer.set_result(inner.result())
        elif isinstance(exc, BrokenProcessPool):
            self._discard(pool)
            outer.set_result(_failed(_worker_died(name, _exit_status(pool)), start))
        else:
            outer.set_result(_failed(f"ExecutorError: task {name!r}: {exc!r}", start))


def _worker_died(name: str, status: str) -> str:
    return (
        f"WorkerDiedError: the worker process running task {name!r} died ({status}). "
        "Every task in the process pool at that moment fails this way, so this task is "
        "either the cause (os._exit, a crash in native code, the out-of-memory killer) "
        "or was waiting behind it; later tasks run in a fresh pool."
    )


def _pack(task: TaskSpec) -> bytes:
    """The task as bytes for a worker: function by value, no live function object."""
    from valence.serialize import digest, dumps

    if task.fn_bytes is None:
        if task.fn is None:
            raise ValueError("the task carries neither a function nor its bytes")
        fn_bytes = dumps(task.fn)
        task = dataclasses.replace(task, fn_bytes=fn_bytes, fn_digest=digest(fn_bytes))
    return dumps(dataclasses.replace(task, fn=None))
