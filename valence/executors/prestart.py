"""Start the process pool's forkserver while a fresh process is still getting ready.

The default executor runs tasks in worker processes forked from a forkserver,
itself a new interpreter that the pool starts on its first task. For a script
that dispatches once, that start (and multiprocessing's resource tracker) is
the longest wait between recording the dispatch and its first result. When a
dispatch about to run here probably uses the process executor, ``ct.dispatch``
starts the forkserver first, so it starts on another core while this process
imports the store and the engine, prepares and records the dispatch; and the
forkserver imports what a worker needs (:data:`WORKER_MODULES`) before forking
it. Nothing else changes: workers still start, run and die as the pool decides.

"Probably": the lattice's default executor, or that of any electron its body
names directly (found among the function's global names, without tracing), is
the process executor, or no electron is found that way. A guess that is wrong
costs one idle forkserver (or its absence: a later start); never a result.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from valence.config import load_settings, server_address

__all__ = ["prestart_for"]

log = logging.getLogger("valence.executors")


def prestart_for(lattice: Any, dispatcher_addr: str | None, *, disable_run: bool) -> bool:
    """Start the forkserver if ``lattice``, dispatched here, probably runs a task in it.

    True if it was started (or already running).
    """
    if disable_run or lattice.metadata.get("triggers"):
        return False  # recorded now, run later (if ever)
    settings = load_settings()
    if server_address(dispatcher_addr, settings) is not None:
        return False  # the server runs the tasks
    if not uses_process_pool(lattice, settings.executor):
        return False
    return start_forkserver()


def uses_process_pool(lattice: Any, default: str) -> bool:
    """Whether a task of ``lattice`` probably runs on the process executor (see above)."""
    from valence.workflow.electron import Electron

    fallback = lattice.metadata.get("executor") or default
    function = lattice.function
    names = getattr(getattr(function, "__code__", None), "co_names", ())
    scope = getattr(function, "__globals__", {})
    # type(), not isinstance(): a global whose __class__ is a property cannot raise here
    found = [scope[name] for name in names if issubclass(type(scope.get(name)), Electron)]
    if not found:
        return _is_process(fallback)
    return any(_is_process(task.metadata.get("executor") or fallback) for task in found)


def _is_process(executor: Any) -> bool:
    """The built-in process executor, by name or instance (not one for a conda env)."""
    if isinstance(executor, str):
        return executor == "local"
    return getattr(executor, "name", None) == "local" and not getattr(executor, "conda_env", "")


WORKER_MODULES = ("valence.executors.pool", "valence.executors.worker", "valence.serialize")
"""What a pool worker imports before its first task: the forkserver imports them once
(added to its preload list), so each worker forked from it starts with them."""


def start_forkserver() -> bool:
    """Start multiprocessing's forkserver now, if the process pool uses one.

    SIGINT is blocked meanwhile, as when the pool's manager thread starts it, so a
    Ctrl-C cannot kill it half-started; the signal is delivered right after.
    """
    from valence.executors import local

    if getattr(local, "_START_METHOD", None) != "forkserver":  # the pool's own choice
        return False
    from multiprocessing import forkserver

    preload = list(getattr(forkserver._forkserver, "_preload_modules", None) or ["__main__"])
    forkserver.set_forkserver_preload(preload + [m for m in WORKER_MODULES if m not in preload])
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    except OSError as exc:  # the pool tries again on its first task, and reports
        log.debug("valence: the forkserver did not start early: %s", exc)
        return False
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return True
