"""What a thread of the in-process pool (``ThreadExecutor``) tells code it calls.

While a pool thread runs a call and resolves its future, :func:`in_call` is
True there and :func:`after_call` queues a hook that the thread runs once the
future is resolved and no lock is held (the engine uses it to apply the task's
outcome in that same thread instead of waking its loop thread). While those
hooks run, the first call they submit to the same pool is kept for this thread
to run next (:func:`keep`), so a chain of short tasks never changes threads.
Nothing here is imported by code that runs outside this process's pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Hook = Callable[[bool], None]
"""Called with True if the thread may do work for the caller, False if it is leaving."""


class _State(threading.local):
    pool: Any = None  # the pool this thread belongs to
    calling = False  # running a call or resolving its future
    hooks: list[Hook]
    helping = False  # running hooks: a submitted call may be kept (``kept``)
    kept: Any = None  # (future, fn, args) to run next

    def __init__(self) -> None:
        self.hooks = []


state = _State()


def in_call() -> bool:
    """Whether this thread is a pool thread running a call (or resolving its future)."""
    return state.calling


def after_call(hook: Hook) -> bool:
    """In a pool thread's call: run ``hook`` after it, and return True; else False."""
    if not state.calling:
        return False
    state.hooks.append(hook)
    return True


def keep(pool: Any, item: Any) -> bool:
    """While this thread of ``pool`` runs hooks, keep its first new call to run next."""
    if state.helping and state.kept is None and state.pool is pool:
        state.kept = item
        return True
    return False
