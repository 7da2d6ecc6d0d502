"""Runs one task where it executes: the only executor code that runs on a worker.

:func:`run_task` resolves the function (the live ``TaskSpec.fn``, or ``fn_bytes``
loaded once per process and cached by ``fn_digest``), calls it, times it with
aware UTC datetimes, captures what it prints, turns any exception (even
``SystemExit``) into a failed :class:`Outcome`, and serializes the output.
:func:`run_serialized` is the entry point for out-of-process executors: it takes
the spec as bytes (``serialize.dumps(TaskSpec)``, or :func:`pack_task`'s lean
tuple, whose function may travel apart) and returns an Outcome without the
live value.

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

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from valence.clock import utcnow
from valence.config import DEFAULT_MAX_STREAM_BYTES, max_stream_bytes
from valence.executors.base import Outcome, TaskSpec
from valence.executors.hooks import run_after, run_before
from valence.executors.options import OPTIONS_KEY
from valence.executors.sources import restore_source
from valence.workflow.deps import HOOK_OPTIONS

__all__ = ["TaskContext", "get_context", "pack_task", "run_serialized", "run_task"]

_FUNCTION_CACHE_SIZE = 256
log = logging.getLogger("valence.executors")


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


Listener = Callable[[str, Any], None]
LIVE_INTERVAL = 0.25  # seconds between deliveries of a running task's new output
_STREAMS = ("stdout", "stderr")


class _Active:
    """The task running in the current thread: its spec and output buffers.

    With a ``live`` listener, what it prints is also queued in ``pending`` and
    delivered every :data:`LIVE_INTERVAL` by the flusher thread. Each stream
    keeps its first ``limit`` bytes (live delivery too); the rest is counted,
    not kept, and a note at the end says how much was dropped.
    """

    __slots__ = (
        "dropped",
        "limit",
        "listed",
        "live",
        "lock",
        "pending",
        "sizes",
        "spec",
        "streams",
    )

    def __init__(self, spec: TaskSpec, live: Listener | None = None) -> None:
        self.spec = spec
        self.streams: tuple[list[str], list[str]] = ([], [])
        self.live = live
        self.pending: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self.listed = False  # known to the flusher (from its first write on)
        self.sizes = [0, 0]
        self.dropped = [0, 0]
        self.limit = DEFAULT_MAX_STREAM_BYTES

    def flush(self) -> None:
        """Deliver pending output; a listener that fails ends live delivery for this task."""
        with self.lock:
            pending, self.pending = self.pending, []
            for index in (0, 1):
                text = "".join(t for i, t in pending if i == index)
                if text and self.live is not None:
                    try:
                        self.live(_STREAMS[index], text)
                    except Exception:  # the receiver is gone: the outcome still has it all
                        log.debug("live output stopped", exc_info=True)
                        self.live = None

    def stop_live(self) -> None:
        """No delivery after this returns (the outcome follows on the same channel)."""
        with self.lock:
            self.live, self.pending = None, []

    def keep(self, index: int, text: str) -> str:
        """Keep what fits under the limit of stream ``index``; return the part kept."""
        size = len(text) if text.isascii() else len(text.encode())
        sizes = self.sizes
        if sizes[index] + size <= self.limit:
            self.streams[index].append(text)
            sizes[index] += size
            return text
        room = max(self.limit - sizes[index], 0)
        self.dropped[index] += size - room
        if not room:
            return ""
        kept = text.encode()[:room].decode(errors="ignore")
        self.streams[index].append(kept)
        sizes[index] += room
        return kept

    def text(self, index: int) -> str:
        kept = "".join(self.streams[index])
        if self.dropped[index]:
            name = ("stdout", "stderr")[index]
            kept += (
                f"\n[valence: {self.dropped[index]} more bytes of {name} not kept; a task keeps "
                f"{self.limit} bytes per stream (VALENCE_MAX_STREAM_BYTES)]\n"
            )
        return kept


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
        kept = active.keep(self._index, text)
        if kept and active.live is not None:
            with active.lock:
                active.pending.append((self._index, kept))
            if not active.listed:
                _go_live(active)
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
_live: set[_Active] = set()
_live_lock = threading.Lock()
_flusher: threading.Thread | None = None


def _flush_forever() -> None:
    while True:
        time.sleep(LIVE_INTERVAL)
        with _live_lock:
            actives = list(_live)
        for active in actives:
            active.flush()


def _go_live(active: _Active) -> None:
    global _flusher
    active.listed = True
    with _live_lock:
        _live.add(active)
        if _flusher is None or not _flusher.is_alive():
            _flusher = threading.Thread(target=_flush_forever, name="valence-live", daemon=True)
            _flusher.start()


def _end_live(active: _Active) -> None:
    if active.listed:
        with _live_lock:
            _live.discard(active)
    active.stop_live()


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


_HOOK_KEYS = (*HOOK_OPTIONS, "files", "deps_module")


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


def run_task(
    spec: TaskSpec, *, serialize_output: bool = True, listener: Listener | None = None
) -> Outcome:
    """Run ``spec`` in this thread and report what happened; never raises.

    The live output is kept (``has_output=True``); with ``serialize_output`` it
    is also serialized with its digest, and a value that cannot be serialized
    fails the task. ``listener`` (default ``spec.listener``) hears "started" and,
    while the task runs, what it prints.
    """
    _install_routers()
    live = listener or spec.listener
    active = _Active(spec, live)
    token = _active.set(active)
    hooked = _has_hooks(spec.metadata)
    try:
        start = utcnow()
        if live is not None:
            _started(live, start)
        try:
            active.limit = max_stream_bytes()
            kwargs = {**spec.kwargs, **run_before(spec.metadata)} if hooked else spec.kwargs
            output = _resolve(spec)(*spec.args, **kwargs)
            if hooked:
                run_after(spec.metadata)
        except BaseException as exc:  # a task's SystemExit must not end the worker
            return Outcome(
                ok=False,
                start_time=start,
                end_time=utcnow(),
                error=_describe(exc),
                traceback=_format_traceback(exc, skip_first=True),
                stdout=active.text(0),
                stderr=active.text(1),
            )
        end = utcnow()
    finally:
        _active.reset(token)
        if live is not None:
            _end_live(active)
    outcome = Outcome(
        ok=True,
        start_time=start,
        end_time=end,
        output=output,
        has_output=True,
        stdout=active.text(0),
        stderr=active.text(1),
    )
    if serialize_output:
        _serialize_output(spec, outcome)
    return outcome


def _started(live: Listener, start: datetime) -> None:
    try:
        live("started", start)
    except Exception:  # the receiver is gone: the outcome carries the times
        log.debug("cannot report the start of a task", exc_info=True)


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


def pack_task(spec: TaskSpec, fn_bytes: bool = True) -> bytes:
    """``spec`` as lean bytes for :func:`run_serialized` (no live function, no listener).

    A tuple of its fields, pickled with plain ``pickle`` when they are builtin data
    (cloudpickle otherwise). Without ``fn_bytes`` the function travels apart: the
    process pool sends each function's bytes once per worker.
    """
    from valence.serialize import dumps

    return dumps(
        (
            spec.dispatch_id,
            spec.node_id,
            spec.name,
            spec.fn_bytes if fn_bytes else None,
            spec.fn_digest,
            spec.args,
            spec.kwargs,
            spec.metadata,
            spec.blob_target,
        )
    )


def _unpack(payload: bytes, fn_bytes: bytes | None) -> TaskSpec:
    from valence.serialize import loads

    spec = loads(payload)
    if isinstance(spec, TaskSpec):  # serialize.dumps(TaskSpec): Dask, older callers
        return spec
    dispatch_id, node_id, name, packed_fn, fn_digest, args, kwargs, metadata, target = spec
    fn = packed_fn if packed_fn is not None else fn_bytes
    return TaskSpec(dispatch_id, node_id, name, None, fn, fn_digest, args, kwargs, metadata, target)


def run_serialized(
    payload: bytes,
    name: str = "?",
    listener: Listener | None = None,
    fn_bytes: bytes | None = None,
) -> Outcome:
    """Worker entry for out-of-process executors.

    ``payload`` is ``serialize.dumps(TaskSpec)`` with ``fn=None``, or
    :func:`pack_task`'s bytes (``fn_bytes`` then gives the function if the payload
    lacks it); the Outcome carries the output as bytes only, never the live
    value. ``listener`` hears the task start and its output while it runs (see
    :func:`run_task`).
    """
    try:
        spec = _unpack(payload, fn_bytes)
    except BaseException as exc:
        now = utcnow()
        return Outcome(
            ok=False,
            start_time=now,
            end_time=now,
            error=f"SerializationError: the worker cannot load task {name!r}: {_describe(exc)}",
            traceback=_format_traceback(exc, skip_first=False),
        )
    options = spec.metadata.get(OPTIONS_KEY)
    outcome = (
        _run_with_options(spec, options, listener) if options else run_task(spec, listener=listener)
    )
    outcome.output, outcome.has_output = None, False
    if spec.blob_target is not None:
        from valence.executors.outputs import store_output

        store_output(spec, outcome)
    return outcome


def dask_setup(worker: Any) -> None:
    """Dask's preload hook: a worker of the cluster valence starts ignores SIGINT.

    ``DaskExecutor``'s ``LocalCluster`` sets ``valence.ignore-sigint``, so a
    Ctrl-C or a notebook's Interrupt (sent to the whole process group) stops
    only the caller's wait, never a task. Workers of your own cluster
    (``dask worker --preload valence.executors.worker``) are left alone.
    """
    import signal

    import dask

    main = threading.current_thread() is threading.main_thread()
    if main and dask.config.get("valence.ignore-sigint", False):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_with_options(
    spec: TaskSpec, options: dict[str, Any], listener: Listener | None = None
) -> Outcome:
    """``run_task`` in the executor's work dir, then its log files written (``LocalExecutor``)."""
    from valence.executors.options import task_workdir, working_directory, write_streams

    try:
        with working_directory(task_workdir(options, spec.dispatch_id, spec.node_id)):
            outcome = run_task(spec, listener=listener)
    except OSError as exc:  # the work dir cannot be created or entered
        now = utcnow()
        return Outcome(False, now, now, error=f"ExecutorError: workdir: {_describe(exc)}")
    try:
        write_streams(
            outcome,
            spec.dispatch_id,
            options.get("log_stdout", ""),
            options.get("log_stderr", ""),
            options.get("cache_dir", ""),
        )
    except OSError as exc:
        outcome.stderr += f"valence: could not write the task's log files: {_describe(exc)}\n"
    return outcome
