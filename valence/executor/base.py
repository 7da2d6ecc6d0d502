"""Covalent's executor base classes (``covalent.executor.base``) on valence's executor seam.

Subclass :class:`BaseExecutor` and implement ``run(function, args, kwargs,
task_metadata)`` (or :class:`AsyncBaseExecutor` with ``async def run``), as in
Covalent's "creating a custom executor" guide; valence adapts it onto
``Executor.submit``. ``function`` is the task ready to call: calling it runs
the task's deps and hooks around the electron's function, so an executor that
ships ``function`` elsewhere ships them too. ``task_metadata`` holds
``dispatch_id``, ``node_id`` and ``results_dir``. ``setup``/``teardown`` run
around ``run``; what the task prints (and what ``run`` prints to
``self.task_stdout``/``self.task_stderr``) is captured, and ``log_stdout`` /
``log_stderr`` append it to files. Runs happen on a thread pool of the
dispatching process (one event loop per task for async executors); retries and
timeouts are the electron's (``@ct.electron(retries=..., timeout=...)``).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar, TextIO

from valence.executors.base import Executor, Outcome, TaskSpec
from valence.executors.hooks import run_after, run_before
from valence.executors.options import default_cache_dir, reject_unsupported, write_streams
from valence.executors.worker import run_task
from valence.workflow.deps import HOOK_OPTIONS

__all__ = ["AsyncBaseExecutor", "BaseExecutor"]

HOOK_KEYS = HOOK_OPTIONS

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max(4, os.cpu_count() or 1), thread_name_prefix="valence-covalent-executor"
            )
        return _pool


class TaskFunction:
    """The callable handed to ``run``: deps and hooks around the electron's function."""

    def __init__(self, function: Any, hooks: dict[str, Any]) -> None:
        self.function = function
        self.hooks = hooks
        self.__name__ = getattr(function, "__name__", "task")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        extra = run_before(self.hooks) if self.hooks else {}
        output = self.function(*args, **{**kwargs, **extra})
        if self.hooks:
            run_after(self.hooks)
        return output


class _AbstractBaseExecutor(Executor):
    """What both Covalent base classes share: their arguments and the adapter."""

    name: ClassVar[str] = "covalent-style"
    in_process: ClassVar[bool] = True
    SUPPORTS_MANAGED_EXECUTION: ClassVar[bool] = False

    def __init__(
        self,
        log_stdout: str = "",
        log_stderr: str = "",
        cache_dir: str = "",
        time_limit: int = -1,
        retries: int = 0,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        reject_unsupported(type(self).__name__, time_limit, retries, args, kwargs)
        self.log_stdout = log_stdout
        self.log_stderr = log_stderr
        self.cache_dir = cache_dir or str(default_cache_dir())
        self.time_limit = time_limit
        self.retries = retries

    @property
    def short_name(self) -> str:
        return type(self).__name__.removesuffix("Executor").lower()

    @property
    def task_stdout(self) -> TextIO:
        """Where ``run`` may print to the task's captured stdout."""
        return sys.stdout

    @property
    def task_stderr(self) -> TextIO:
        return sys.stderr

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": str(type(self)),
            "short_name": self.short_name,
            "attributes": dict(vars(self)),
        }

    def from_dict(self, object_dict: dict[str, Any]) -> _AbstractBaseExecutor:
        if object_dict:
            self.__dict__ = dict(object_dict["attributes"])
        return self

    def get_dispatch_context(self, dispatch_info: Any) -> Any:
        import contextlib

        return contextlib.nullcontext(dispatch_info)

    # ---- the adapter onto Executor.submit ---------------------------------------------
    def submit(self, task: TaskSpec) -> Future[Outcome]:
        # One copy per task, as Covalent builds one executor per task: state a run()
        # keeps on self (job handles, ...) is not shared by tasks running at once.
        return _shared_pool().submit(copy.copy(self)._execute, task)

    def cancel_pending(self, future: Future[Outcome]) -> bool:
        return future.cancel()  # a thread-pool future: cancellable only before it starts

    def _execute(self, task: TaskSpec) -> Outcome:
        function = task.fn
        if function is None:
            from valence.serialize import loads

            function = loads(task.fn_bytes or b"")
        hooks = {k: task.metadata[k] for k in HOOK_KEYS if task.metadata.get(k)}
        task_metadata = {
            "dispatch_id": task.dispatch_id,
            "node_id": task.node_id,
            "results_dir": self.cache_dir,
        }
        wrapped = TaskFunction(function, hooks)
        plain = {k: v for k, v in task.metadata.items() if k not in HOOK_KEYS}

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(wrapped, list(args), kwargs, task_metadata)

        outcome = run_task(dataclasses.replace(task, fn=call, fn_bytes=None, metadata=plain))
        write_streams(outcome, task.dispatch_id, self.log_stdout, self.log_stderr, self.cache_dir)
        return outcome

    def _call(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        raise NotImplementedError


class BaseExecutor(_AbstractBaseExecutor):
    """Covalent's synchronous executor base: implement ``run``."""

    def setup(self, task_metadata: dict[str, Any]) -> Any:
        """Called before ``run`` (optional)."""

    def teardown(self, task_metadata: dict[str, Any]) -> Any:
        """Called after ``run``, even when it failed (optional)."""

    def run(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    def _call(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        self.setup(task_metadata)
        try:
            return self.run(function, args, kwargs, task_metadata)
        finally:
            self.teardown(task_metadata)


class AsyncBaseExecutor(_AbstractBaseExecutor):
    """Covalent's asynchronous executor base: implement ``async def run``."""

    async def setup(self, task_metadata: dict[str, Any]) -> Any:
        """Awaited before ``run`` (optional)."""

    async def teardown(self, task_metadata: dict[str, Any]) -> Any:
        """Awaited after ``run``, even when it failed (optional)."""

    async def run(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    def _call(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        async def main() -> Any:
            await self.setup(task_metadata)
            try:
                return await self.run(function, args, kwargs, task_metadata)
            finally:
                await self.teardown(task_metadata)

        return asyncio.run(main())
