"""Runs one task where it executes: the only executor code that runs on a worker.

:func:`run_task` resolves the function (the live ``TaskSpec.fn``, or ``fn_bytes``
loaded once per process and cached by ``fn_digest``), calls it, times it with
aware UTC datetimes, captures what it prints, turns any exception (even
``SystemExit``) into a failed :class:`Outcome`, and serializes the output.
:func:`run_serialized` is the entry point for out-of-process executors: it takes
the whole spec as bytes and returns an Outcome without the live value.

Output capture works per task even when many tasks share the threads of one
process: on first use, ``sys.stdout`` and ``sys.stderr`` are replaced once by
routers that write to the buffer of the task active in the calling thread (a
context variable) and to the original stream otherwise. Nothing is swapped per
task, so capture costs two list appends per ``print``. Output written below
Python (C code, subprocesses, ``sys.stdout.buffer``) is not captured.

Deps and hooks (``TaskSpec.metadata``: ``deps_bash``, ``deps_pip``,
``call_before``, ``call_after``) run here around the function, inside the same
capture, before the function itself is loaded (a function may need a package
its ``deps_pip`` installs).
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TextIO

from valence.executors.base import Outcome, TaskSpec
from valence.executors.hooks import run_after, run_before
from valence.executors.sources import restore_source

__all__ = ["TaskContext", "get_context", "run_serialized", "run_task"]

_FUNCTION_CACHE_SIZE = 256


@dataclass(frozen=True)
class TaskContext:
    """Where the running task belongs; all fields are None outside a task."""

    dispatch_id: str | None
    node_id: int | None
    name: str | None = None

    @property
    def task_id(self) -> int | None:
        """Covalent's name for :attr:`node_id`."""
        return self.node_id


class _Active:
    """The task running in the current thread: its spec and output buffers."""

    __slots__ = ("spec", "streams")

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.streams: tuple[list[str], list[str]] = ([], [])


_active: ContextVar[_Active | None] = ContextVar("valence_active_task", default=None)
_NO_TASK = TaskContext(dispatch_id=None, node_id=None)


def get_context() -> TaskContext:
    """The context of the task running in this thread (``ct.get_context()``)."""
    active = _active.get()
    if active is None:
        return _NO_TASK
    spec = active.spec
    return TaskContext(spec.dispatch_id, spec.node_id, spec.name)


class _Router:
    """Stands in for ``sys.stdout``/``sys.stderr``; routes writes to the active task."""

    def __init__(self, target: TextIO | None, index: int) -> None:
        self._target = target
        self._index = index  # 0: stdout, 1: stderr

    def write(self, text: str) -> int:
        active = _active.get()
        if active is None:
            return self._target.write(text) if self._target is not None else len(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        active.streams[self._index].append(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._target is not None and _active.get() is None:
            self._target.flush()

    def isatty(self) -> bool:
        return _active.get() is None and self._target is not None and self._target.isatty()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, ...
        return getattr(self._target, name)


_install_lock = threading.Lock()


def _install_routers() -> None:
    """Put routers on sys.stdout/sys.stderr unless they are already there."""
    if isinstance(sys.stdout, _Router) and isinstance(sys.stderr, _Router):
        return
    with _install_lock:
        if not isinstance(sys.stdout, _Router):
            sys.stdout = _Router(sys.stdout, 0)
        if not isinstance(sys.stderr, _Router):
            sys.stderr = _Router(sys.stderr, 1)


_functions: dict[str, Callable[..., Any]] = {}
_functions_lock = threading.Lock()


def _resolve(spec: TaskSpec) -> Callable[..., Any]:
    """The task's function: the live one, or ``fn_bytes`` loaded once per digest."""
    if spec.fn is not None:
        restore_source(spec.fn)
        return spec.fn
    fn = _functions.get(spec.fn_digest)
    if fn is None:
        if spec.fn_bytes is None:
            raise ValueError(f"task {spec.name!r} carries neither a function nor its bytes")
        from valence.serialize import loads

        fn = loads(spec.fn_bytes)
        restore_source(fn)
        with _functions_lock:
            if len(_functions) >= _FUNCTION_CACHE_SIZE:
                _functions.pop(next(iter(_functions)))  # oldest first
            if spec.fn_digest:
                _functions[spec.fn_digest] = fn
    return fn


def _now() -> datetime:
    return datetime.now(timezone.utc)


_HOOK_KEYS = ("deps_bash", "deps_pip", "call_before", "call_after", "files", "deps_module")


def _has_hooks(metadata: dict[str, Any]) -> bool:
    return bool(metadata) and any(metadata.get(key) for key in _HOOK_KEYS)


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _format_traceback(exc: BaseException, skip_first: bool) -> str:
    tb = exc.__traceback__
    if skip_first and tb is not None and tb.tb_next is not None:
        tb = tb.tb_next  # drop run_task's own frame
    return "".join(traceback.format_exception(type(exc), exc, tb))


def run_task(spec: TaskSpec, *, serialize_output: bool = True) -> Outcome:
    """Run ``spec`` in this thread and report what happened; never raises.

    The live output is kept (``has_output=True``); with ``serialize_output`` it
    is also serialized with its digest, and a value that cannot be serialized
    fails the task.
    """
    _install_routers()
    active = _Active(spec)
    token = _active.set(active)
    hooked = _has_hooks(spec.metadata)
    try:
        start = _now()
        try:
            kwargs = {**spec.kwargs, **run_before(spec.metadata)} if hooked else spec.kwargs
            output = _resolve(spec)(*spec.args, **kwargs)
            if hooked:
                run_after(spec.metadata)
        except BaseException as exc:  # a task's SystemExit must not end the worker
            return Outcome(
                ok=False,
                start_time=start,
                end_time=_now(),
                error=_describe(exc),
                traceback=_format_traceback(exc, skip_first=True),
                stdout="".join(active.streams[0]),
                stderr="".join(active.streams[1]),
            )
        end = _now()
    finally:
        _active.reset(token)
    outcome = Outcome(
        ok=True,
        start_time=start,
        end_time=end,
        output=output,
        has_output=True,
        stdout="".join(active.streams[0]),
        stderr="".join(active.streams[1]),
    )
    if serialize_output:
        _serialize_output(spec, outcome)
    return outcome


def _serialize_output(spec: TaskSpec, outcome: Outcome) -> None:
    """Fill ``output_bytes``/``output_digest``, or turn ``outcome`` into a failure."""
    from valence.serialize import digest, dumps

    try:
        data = dumps(outcome.output)
    except Exception as exc:
        outcome.ok = False
        outcome.error = (
            f"SerializationError: task {spec.name!r} returned a value of type "
            f"{type(outcome.output).__qualname__} that cannot be serialized ({_describe(exc)}); "
            "return plain data (numbers, strings, lists, dicts, arrays, dataclasses) instead"
        )
        outcome.traceback = _format_traceback(exc, skip_first=False)
        outcome.output, outcome.has_output = None, False
        return
    outcome.output_bytes = data
    outcome.output_digest = digest(data)


def run_serialized(payload: bytes, name: str = "?") -> Outcome:
    """Worker entry for out-of-process executors.

    ``payload`` is ``serialize.dumps(TaskSpec)`` with ``fn=None``; the Outcome
    carries the output as bytes only, never the live value.
    """
    try:
        from valence.serialize import loads

        spec = loads(payload)
    except BaseException as exc:
        now = _now()
        return Outcome(
            ok=False,
            start_time=now,
            end_time=now,
            error=f"SerializationError: the worker cannot load task {name!r}: {_describe(exc)}",
            traceback=_format_traceback(exc, skip_first=False),
        )
    outcome = run_task(spec)
    outcome.output, outcome.has_output = None, False
    if spec.blob_target is not None:
        from valence.executors.outputs import store_output

        store_output(spec, outcome)
    return outcome
