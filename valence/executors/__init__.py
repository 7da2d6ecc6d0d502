"""Executors and the registry that resolves them by name or instance.

Names resolve through the ``valence.executors`` entry-point group (``local``,
``thread``, ``inline`` and ``dask`` built in; plugins add their own) on first use. Every
executor this module hands out is shared per process: one instance per name,
and instances deduplicated by equality, so two unpickled copies of
``ThreadExecutor(workers=4)`` use one pool.
"""

from __future__ import annotations

import os
import sys
import threading
from importlib import import_module

from valence.errors import ExecutorError, UnknownExecutorError
from valence.executors.base import Executor, Outcome, TaskSpec

__all__ = [
    "Executor",
    "Outcome",
    "TaskSpec",
    "get_executor",
    "is_registered",
    "registered_names",
    "shutdown_all",
]

ENTRY_POINT_GROUP = "valence.executors"

BUILT_IN = {
    "local": "valence.executors.local:LocalExecutor",
    "thread": "valence.executors.local:ThreadExecutor",
    "inline": "valence.executors.local:InlineExecutor",
    "dask": "valence.executors.dask:DaskExecutor",
}
"""valence's own entry points (``pyproject.toml``; a test keeps both in step): resolved
without listing every installed distribution's entry points, which costs a fresh process
more than the rest of resolving an executor."""

_lock = threading.RLock()
_by_name: dict[str, Executor] = {}
_by_config: dict[Executor, Executor] = {}
_unhashable: list[Executor] = []  # plugin instances that define __eq__ but not __hash__


_names: tuple[tuple[float, ...], list[str]] | None = None  # (sys.path mtimes, names)


def registered_names() -> list[str]:
    """The executor names installed in this environment, sorted.

    Scanning every installed distribution's metadata costs tens of milliseconds, and a
    server checks names on every dispatch: the names are kept until a directory on
    ``sys.path`` changes (installing or removing a distribution changes its directory).
    """
    global _names
    stamp = _path_stamp()
    known = _names
    if known is None or known[0] != stamp:
        from importlib.metadata import entry_points

        names = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        known = _names = (stamp, names)
    return list(known[1])


def _path_stamp() -> tuple[float, ...]:
    stamps = []
    for entry in sys.path:
        try:
            stamps.append(os.stat(entry or ".").st_mtime)
        except OSError:
            stamps.append(-1.0)
    return tuple(stamps)


def is_registered(name: str) -> bool:
    """Whether an executor is registered under ``name`` (a built-in one without a scan)."""
    return name in BUILT_IN or name in registered_names()


def get_executor(spec: str | Executor | None, default: str = "local") -> Executor:
    """The shared executor for a name, an instance, or None (meaning ``default``)."""
    if spec is None:
        spec = default
    if isinstance(spec, Executor):
        return _intern(spec)
    if not isinstance(spec, str):
        raise TypeError(f"an executor is a name or an Executor instance, not {type(spec).__name__}")
    executor = _by_name.get(spec)
    if executor is None:
        with _lock:
            executor = _by_name.get(spec)
            if executor is None:
                executor = _by_name[spec] = _intern(_load(spec)())
    return executor


def _load(name: str) -> type[Executor]:
    """The executor class registered under ``name``."""
    if name in BUILT_IN:
        module, _, attribute = BUILT_IN[name].partition(":")
        return _checked(name, BUILT_IN[name], getattr(import_module(module), attribute))
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        names = ", ".join(registered_names()) or "none"
        raise UnknownExecutorError(
            f"no executor is registered under the name {name!r} (registered: {names}); "
            f"check the spelling, install the plugin that provides it, or pass an Executor "
            f"instance"
        )
    return _checked(name, found[0].value, found[0].load())


def _checked(name: str, value: str, cls: object) -> type[Executor]:
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ExecutorError(
            f"the entry point {value!r} registered as executor {name!r} is not an Executor subclass"
        )
    return cls


def _intern(executor: Executor) -> Executor:
    """The first-seen instance equal to ``executor`` (``executor`` itself if new)."""
    with _lock:
        try:
            return _by_config.setdefault(executor, executor)
        except TypeError:  # unhashable: compare by equality, linearly
            for known in _unhashable:
                if known == executor:
                    return known
            _unhashable.append(executor)
            return executor


def shutdown_all(wait: bool = True) -> None:
    """Shut down every shared executor and forget them (tests, interpreter exit)."""
    with _lock:
        executors = {id(e): e for e in [*_by_name.values(), *_by_config, *_unhashable]}
        _by_name.clear()
        _by_config.clear()
        _unhashable.clear()
    for executor in executors.values():
        executor.shutdown(wait=wait)
