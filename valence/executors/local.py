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
dies (``os._exit``, a crash in native code, the out-of-memory killer) fails the
task it was running with ``WorkerDiedError`` and is replaced; the other tasks
and workers of the pool are not affected (``executors.pool``, which sends
queued tasks to a worker in batches).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import queue
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from valence.clock import utcnow
from valence.errors import ExecutorError
from valence.executors import poolthread
from valence.executors.base import Executor, Outcome, TaskSpec, failed
from valence.executors.options import OPTIONS_KEY, conda_python, reject_unsupported
from valence.executors.pool import ProcessPool
from valence.executors.worker import pack_task, run_task

__all__ = ["InlineExecutor", "LocalExecutor", "ThreadExecutor"]

log = logging.getLogger("valence.executors")


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
    reports_start = True

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        return _resolved(run_task(task))


class _Pooled(_Configured):
    """An executor that owns a lazily started pool of ``workers`` (None: one per CPU)."""

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be a positive integer or None, not {workers!r}")
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: Any = None

    def _config(self) -> dict[str, Any]:
        return {"workers": self.workers}

    def _new_pool(self) -> Any:
        raise NotImplementedError

    def _get_pool(self, stale: Any = None) -> Any:
        """The pool, started if needed; a new one if it is still ``stale``."""
        with self._lock:
            if self._pool is None or self._pool is stale:
                self._pool = self._new_pool()
            return self._pool

    def _submit(self, task: TaskSpec, *args: Any) -> Future[Outcome]:
        """Submit to the pool; a pool shut down meanwhile is replaced, once."""
        pool = self._get_pool()
        try:
            return pool.submit(*args)
        except RuntimeError:
            pass
        try:
            return self._get_pool(stale=pool).submit(*args)
        except RuntimeError as exc:  # interpreter shutting down
            return _resolved(failed(f"ExecutorError: cannot run task {task.name!r}: {exc}"))

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)


class ThreadExecutor(_Pooled):
    """Runs tasks on a thread pool of this process; the live output is kept too.

    A thread cannot be stopped: at its timeout (or when cancelled while it runs)
    a task fails (``executors.policy``) but its thread runs on in the background,
    its result discarded. Such an abandoned thread is replaced in the pool and
    never delays the interpreter's exit (the pool's threads are daemons).
    """

    name = "thread"
    in_process = True
    reports_start = True

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(
            workers if workers is not None else _configured("thread").get("workers") or None
        )

    def _new_pool(self) -> DaemonThreadPool:
        return DaemonThreadPool(self.workers or min(32, (os.cpu_count() or 1) + 4))

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        return self._submit(task, run_task, task)

    def cancel(self, future: Future[Outcome]) -> bool:
        if future.cancel():
            return True
        pool = self._pool
        if pool is not None:
            pool.abandon(future)
        return False

    def cancel_pending(self, future: Future[Outcome]) -> bool:
        return future.cancel()  # the thread pool marks a started task's future running


class DaemonThreadPool:
    """At most ``workers`` daemon threads running submitted calls, started on demand.

    A call given up on (:meth:`abandon`) keeps its thread, which leaves the pool
    (another one may start in its place) and is not waited for by ``shutdown``.
    After each call a thread runs the hooks its future's callbacks registered
    (``executors.poolthread``); the first call those hooks submit here is run
    next by the same thread, without a hand-over.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = 0  # threads waiting for work that no queued call is promised to yet
        self._lock = threading.Lock()
        self._threads: dict[threading.Thread, Future[Any] | None] = {}  # thread -> its call
        self._closed = False

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if poolthread.keep(self, (future, fn, args)):
                return future
            self._queue.put((future, fn, args))
            if self._idle:
                self._idle -= 1
            else:
                self._grow()
        return future

    def _grow(self) -> None:
        if len(self._threads) < self._workers:
            thread = threading.Thread(target=self._work, name="valence-thread", daemon=True)
            self._threads[thread] = None
            thread.start()

    def abandon(self, future: Future[Any]) -> None:
        """Give up on the running call ``future``: its thread leaves the pool."""
        with self._lock:
            for thread, running in list(self._threads.items()):
                if running is future:
                    del self._threads[thread]
                    if not self._queue.empty():
                        self._grow()

    def _work(self) -> None:
        me = threading.current_thread()
        local = poolthread.state
        local.pool = self
        while True:
            item, local.kept = local.kept, None
            if item is None:
                item = self._queue.get()
                if item is None:
                    return
            future, fn, args = item
            with self._lock:
                self._threads[me] = future
            local.calling = True
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # reported through the future
                    future.set_exception(exc)
            local.calling = False
            with self._lock:
                stays = me in self._threads  # else abandoned: the pool has replaced it
                if stays:
                    self._threads[me] = None
            self._after(stays)
            if not stays:
                return
            if local.kept is None:
                with self._lock:
                    self._idle += 1

    @staticmethod
    def _after(stays: bool) -> None:
        """Run the hooks the call registered; a thread that stays may keep a new call."""
        local = poolthread.state
        hooks, local.hooks = local.hooks, []
        local.helping = stays
        try:
            for hook in hooks:
                try:
                    hook(stays)
                except Exception:  # a hook's bug must not end the pool thread
                    log.exception("valence pool thread hook failed")
        finally:
            local.helping = False

    def shutdown(self, wait: bool = True) -> None:
        """Stop the threads once the queued calls are done; ``wait`` joins them."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


# ---------------------------------------------------------------- process pool

_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
_base_context = multiprocessing.get_context(_START_METHOD)


class ValenceWorkerProcess(_base_context.Process):  # type: ignore[misc,name-defined]
    """A process-pool worker; its name marks it for :func:`_skip_main_in_workers`."""


class _WorkerContext(type(_base_context)):  # type: ignore[misc]
    Process = ValenceWorkerProcess


_guard_lock = threading.Lock()
_skip_prefixes: set[str] = {ValenceWorkerProcess.__name__}


def _skip_main_in_workers(prefix: str | None = None) -> None:
    """Stop our workers from re-running the caller's ``__main__`` at start-up.

    ``multiprocessing`` re-imports the parent's main script in every spawned
    child so that functions defined there can be found by reference. Ours never
    need that (everything arrives by value) and re-running an unguarded script
    would dispatch its workflow again inside the worker. The hook drops the
    main-module entries from the preparation data of processes whose name
    starts with ``ValenceWorkerProcess`` (or another registered ``prefix``, such
    as Dask's worker processes of the cluster valence starts); other processes
    are untouched.
    """
    from multiprocessing import spawn

    with _guard_lock:
        if prefix is not None:
            _skip_prefixes.add(prefix)
        original = spawn.get_preparation_data
        if getattr(original, "_valence_skips_main", False):
            return

        def get_preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            if name.startswith(tuple(_skip_prefixes)):
                data.pop("init_main_from_name", None)
                data.pop("init_main_from_path", None)
            return data

        get_preparation_data._valence_skips_main = True  # type: ignore[attr-defined]
        spawn.get_preparation_data = get_preparation_data


class LocalExecutor(_Pooled):
    """Runs tasks in a pool of worker processes (the default executor).

    Tasks travel as bytes (function by value, cached in each worker by digest);
    outcomes come back with the output as bytes only (``has_output=False``).
    ``metadata["timeout"]`` is enforced by killing the task's worker; cancelling
    a running task kills its worker too. A dead worker fails only its own task
    and is replaced.

    Covalent's options are honoured (``executors.options``): ``log_stdout`` and
    ``log_stderr`` append the task's output to files (relative paths under
    ``cache_dir/<dispatch_id>/``), ``workdir`` is the directory tasks run in
    (``create_unique_workdir``: one per task), ``conda_env`` runs each task with
    that environment's interpreter in a process of its own. Unset options come
    from the config (``executors.local.*``); ``time_limit`` and ``retries`` are
    refused (use ``@ct.electron(timeout=..., retries=...)``).
    """

    name = "local"
    in_process = False
    enforces_timeout = True
    reports_start = True
    OPTIONS = ("log_stdout", "log_stderr", "cache_dir", "workdir", "conda_env")

    def __init__(
        self,
        workers: int | None = None,
        log_stdout: str | None = None,
        log_stderr: str | None = None,
        cache_dir: str | None = None,
        workdir: str | None = None,
        create_unique_workdir: bool = False,
        conda_env: str | None = None,
        current_env_on_conda_fail: bool = False,
        time_limit: int = -1,
        retries: int = 0,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        reject_unsupported("LocalExecutor", time_limit, retries, args, kwargs)
        configured = _configured("local")
        super().__init__(workers if workers is not None else configured.get("workers") or None)
        given = {
            "log_stdout": log_stdout,
            "log_stderr": log_stderr,
            "cache_dir": cache_dir,
            "workdir": workdir,
            "conda_env": conda_env,
        }
        for option, value in given.items():
            setattr(self, option, str(value if value is not None else configured.get(option, "")))
        self.create_unique_workdir = bool(create_unique_workdir)
        self.current_env_on_conda_fail = bool(current_env_on_conda_fail)
        self._threads: ThreadPoolExecutor | None = None

    def _config(self) -> dict[str, Any]:
        options = {option: getattr(self, option) for option in self.OPTIONS}
        return {
            "workers": self.workers,
            **options,
            "create_unique_workdir": self.create_unique_workdir,
            "current_env_on_conda_fail": self.current_env_on_conda_fail,
        }

    def __repr__(self) -> str:
        shown = {k: v for k, v in self._config().items() if k == "workers" or v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def _new_pool(self) -> ProcessPool:
        _skip_main_in_workers()
        return ProcessPool(self.workers or os.cpu_count() or 1, _WorkerContext())

    def _worker_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            k: getattr(self, k) for k in self.OPTIONS[:4] if getattr(self, k)
        }
        if options.get("workdir") and self.create_unique_workdir:
            options["create_unique_workdir"] = True
        return options

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        options = self._worker_options()
        if options:
            task = dataclasses.replace(task, metadata={**task.metadata, OPTIONS_KEY: options})
        try:
            task = _with_function_bytes(task)
            payload = pack_task(task, fn_bytes=bool(self.conda_env))
        except Exception as exc:
            error = (
                f"SerializationError: task {task.name!r} cannot be sent to a worker process: "
                f"{type(exc).__name__}: {exc}"
            )
            return _resolved(failed(error))
        if self.conda_env:
            return self._submit_conda(task, payload)
        assert task.fn_bytes is not None
        timeout = task.metadata.get("timeout")
        function = (task.fn_digest, task.fn_bytes)
        return self._submit(task, payload, task.name, timeout, task.listener, function)

    def _submit_conda(self, task: TaskSpec, payload: bytes) -> Future[Outcome]:
        try:
            python = conda_python(self.conda_env)
        except ExecutorError as exc:
            if not self.current_env_on_conda_fail:
                return _resolved(failed(f"ExecutorError: task {task.name!r}: {exc}"))
            python = sys.executable
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(
                    self.workers or os.cpu_count() or 1, thread_name_prefix="valence-conda"
                )
            threads = self._threads
        timeout = task.metadata.get("timeout")
        return threads.submit(run_in_interpreter, python, payload, task.name, timeout)

    def cancel(self, future: Future[Outcome]) -> bool:
        pool = self._pool
        return pool.cancel(future) if pool is not None else future.cancel()

    def cancel_pending(self, future: Future[Outcome]) -> bool:
        pool = self._pool
        return pool.cancel_queued(future) if pool is not None else future.cancel()

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=wait)


def _configured(name: str) -> dict[str, Any]:
    """``executors.<name>.*`` from the config (empty if the file has none)."""
    from valence.config import get_config

    try:
        value = get_config(f"executors.{name}")
    except KeyError:
        return {}
    return value if isinstance(value, dict) else {}


def run_in_interpreter(python: str, payload: bytes, name: str, timeout: float | None) -> Outcome:
    """Run one packed task with another interpreter (``executors.subprocess_worker``)."""
    from valence.executors.pool import timed_out
    from valence.serialize import loads

    start = utcnow()
    with tempfile.TemporaryDirectory(prefix="valence-task-") as tmp:
        source, target = os.path.join(tmp, "task"), os.path.join(tmp, "outcome")
        with open(source, "wb") as fh:
            fh.write(payload)
        command = [python, "-m", "valence.executors.subprocess_worker", source, target]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return failed(timed_out(name, timeout or 0), start)
        except OSError as exc:
            return failed(f"ExecutorError: cannot start {python} for task {name!r}: {exc}", start)
        if done.returncode != 0 or not os.path.exists(target):
            tail = (done.stderr or "").strip().splitlines()[-3:]
            return failed(
                f"ExecutorError: {python} could not run task {name!r} (exit code "
                f"{done.returncode}; is valence installed in that environment?): "
                + " | ".join(tail),
                start,
            )
        with open(target, "rb") as fh:
            return loads(fh.read())


def _with_function_bytes(task: TaskSpec) -> TaskSpec:
    """``task`` with its function as bytes (serialized here if it has only the function)."""
    from valence.serialize import digest, dumps

    if task.fn_bytes is None:
        if task.fn is None:
            raise ValueError("the task carries neither a function nor its bytes")
        fn_bytes = dumps(task.fn)
        task = dataclasses.replace(task, fn_bytes=fn_bytes, fn_digest=digest(fn_bytes))
    return task


def _pack(task: TaskSpec) -> bytes:
    """The task as bytes for a worker: function by value, no live function object."""
    from valence.serialize import dumps

    task = _with_function_bytes(task)
    return dumps(dataclasses.replace(task, fn=None, listener=None))
