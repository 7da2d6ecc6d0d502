"""The embedded mode: a dispatcher in a background thread of this process.

Nothing has to be started: the first use opens the store named by the
settings. Only a process that dispatches takes over dispatches left by dead
processes (:meth:`Runtime.resume_dead`, on its first dispatch): reading
(``get_result``, ``cancel``) never starts work. At interpreter exit, running
dispatches are waited for (a line on stderr says so) before executor pools
shut down.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading

from valence.config import load_settings
from valence.engine.dispatcher import Dispatcher
from valence.engine.runtime import Runtime

_lock = threading.Lock()
_current: Runtime | None = None


def get_embedded() -> Runtime:
    """The embedded runtime for the current settings (reopened if they changed)."""
    global _current
    settings = load_settings()
    with _lock:
        if _current is not None and _current.settings == settings:
            return _current
        if _current is not None:
            _close(_current)
        _current = Runtime.open(settings, embedded=True)
        _hook_kernel_shutdown()
        return _current


def reset() -> None:
    """Wait for running dispatches, then close the store (tests, exit)."""
    global _current
    with _lock:
        if _current is not None:
            _close(_current)
            _current = None


def _close(runtime: Runtime) -> None:
    from valence.triggers.runner import shutdown_runner

    if runtime.dispatcher is not None:
        shutdown_runner(runtime.dispatcher)
    runtime.close()


def _wait_at_exit() -> None:
    """Wait for running dispatches (see :func:`_finish_at_exit`), then freeze the collector.

    The interpreter's teardown would otherwise walk and free, one by one, every
    object the imports made (SQLAlchemy's classes and functions, mostly): a tenth
    of a 1-task dispatch's CPU time. Frozen objects are left to the operating
    system; as the language reference allows, objects still in reference cycles
    at exit are then not finalized. Objects made after this point (by later exit
    handlers) are collected as usual.
    """
    try:
        _finish_at_exit()
    finally:
        gc.freeze()


def _finish_at_exit() -> None:
    """Wait for running dispatches, unless in a Jupyter kernel or interrupted.

    A kernel being restarted or shut down must not wait, and a Ctrl-C during the
    wait abandons it: either way the dispatcher stops recording before the
    workers are stopped, so no task is recorded FAILED for it, and the
    dispatches stay RUNNING for the next dispatcher that opens the store.
    """
    from valence.executors import shutdown_all

    dispatcher = _dispatcher()
    if dispatcher is not None:
        from valence.triggers.runner import shutdown_runner

        shutdown_runner(dispatcher)
    if dispatcher is not None and dispatcher.write_error is not None:
        print(
            "valence: exiting while the store refuses writes "
            f"({dispatcher.write_error}); the dispatches this process ran stay "
            "RUNNING in the store and are resumed by the next process that dispatches",
            file=sys.stderr,
        )
    active = dispatcher.active() if dispatcher is not None else []
    if dispatcher is None or not active:
        shutdown_all(wait=True)
        return
    if not _in_kernel():
        print(
            f"valence: waiting for {len(active)} running dispatch(es) to finish before exit "
            "(interrupt to abandon; they can be resumed later)",
            file=sys.stderr,
        )
        try:
            dispatcher.wait_all()
            shutdown_all(wait=True)
            return
        except KeyboardInterrupt:
            pass
    _abandon(dispatcher, len(active))


def _dispatcher() -> Dispatcher | None:
    """The embedded runtime's dispatcher, if the runtime was opened."""
    current = _current
    return None if current is None else current.dispatcher


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules


def _hook_kernel_shutdown() -> None:
    """In a Jupyter kernel, stop recording before the kernel stops its child processes.

    On shutdown or restart ipykernel terminates every child process (our pool
    workers) while this process still runs; the dispatcher would record those
    tasks FAILED. Its ``do_shutdown`` runs first, so we freeze there.
    """
    kernel = getattr(_ipython(), "kernel", None)
    if kernel is None or getattr(kernel.do_shutdown, "_valence", False):
        return
    original = kernel.do_shutdown

    def do_shutdown(restart: bool) -> object:
        dispatcher = _dispatcher()
        if dispatcher is not None and dispatcher.active():
            _abandon(dispatcher, len(dispatcher.active()))
        return original(restart)

    do_shutdown._valence = True  # type: ignore[attr-defined]
    kernel.do_shutdown = do_shutdown


def _ipython() -> object:
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


_abandoned = False


def _abandon(dispatcher: Dispatcher, count: int) -> None:
    global _abandoned
    from valence.executors import shutdown_all
    from valence.executors.pool import abandon_live_pools

    if _abandoned:
        return
    _abandoned = True
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting: a second Ctrl-C changes nothing
    dispatcher.freeze(drain=2.0)
    print(
        f"valence: left {count} running dispatch(es) unfinished; the next process that "
        "dispatches on this store resumes them (completed tasks are kept)",
        file=sys.stderr,
    )
    abandon_live_pools()
    shutdown_all(wait=False)


def _register_exit_hook() -> None:
    # Executor pools refuse new work once interpreter shutdown starts; threading's
    # exit hooks run before that and in reverse order, so ours runs first.
    import concurrent.futures.process
    import concurrent.futures.thread  # noqa: F401

    # `import valence` no longer imports the executors: import the built-in ones now, so
    # the pools' own exit hook is registered before ours (it runs after ours) and a
    # dispatch finishing during exit need not import a module that registers a hook.
    import valence.executors.local  # noqa: F401

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_wait_at_exit)
    else:  # pragma: no cover - very old Pythons
        import atexit

        atexit.register(_wait_at_exit)


_register_exit_hook()
