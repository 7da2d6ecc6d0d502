"""The embedded mode: a dispatcher in a background thread of this process.

Nothing has to be started: the first use opens the store named by the
settings. Only a process that dispatches takes over dispatches left by dead
processes (:meth:`Embedded.resume_dead`, on its first dispatch): reading
(``get_result``, ``cancel``) never starts work. At interpreter exit, running
dispatches are waited for (a line on stderr says so) before executor pools
shut down.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from valence.config import Settings, load_settings
from valence.engine.dispatcher import Dispatcher
from valence.store import Store


@dataclass
class Embedded:
    """The process-wide store and dispatcher for one settings value."""

    settings: Settings
    store: Store
    dispatcher: Dispatcher
    resumed: bool = False

    def resume_dead(self) -> None:
        """Take over the dispatches of dead processes, once per runtime (first dispatch)."""
        with _lock:
            if self.resumed:
                return
            self.resumed = True
        resumed = self.dispatcher.resume_unfinished()
        if resumed:
            print(
                f"valence: resuming {len(resumed)} unfinished dispatch(es) "
                "left by a process that died",
                file=sys.stderr,
            )


_lock = threading.Lock()
_current: Embedded | None = None


def get_embedded() -> Embedded:
    """The embedded runtime for the current settings (reopened if they changed)."""
    global _current
    settings = load_settings()
    with _lock:
        if _current is not None and _current.settings == settings:
            return _current
        if _current is not None:
            _close(_current)
        store = Store.open(settings.database_url, settings.blob_dir)
        dispatcher = Dispatcher(store, default_executor=settings.executor)
        _current = Embedded(settings, store, dispatcher)
        return _current


def reset() -> None:
    """Wait for running dispatches, then close the store (tests, exit)."""
    global _current
    with _lock:
        if _current is not None:
            _close(_current)
            _current = None


def _close(embedded: Embedded) -> None:
    embedded.dispatcher.wait_all()
    embedded.store.close()


def _wait_at_exit() -> None:
    from valence.executors import shutdown_all

    current = _current
    active = current.dispatcher.active() if current is not None else []
    if current is not None and active:
        print(
            f"valence: waiting for {len(active)} running dispatch(es) to finish before exit "
            "(interrupt to abandon; they can be resumed later)",
            file=sys.stderr,
        )
        current.dispatcher.wait_all()
    if current is not None and current.dispatcher.write_error is not None:
        print(
            "valence: exiting while the store refuses writes "
            f"({current.dispatcher.write_error}); the dispatches this process ran stay "
            "RUNNING in the store and are resumed by the next process that dispatches",
            file=sys.stderr,
        )
    shutdown_all(wait=True)


def _register_exit_hook() -> None:
    # Executor pools refuse new work once interpreter shutdown starts; threading's
    # exit hooks run before that and in reverse order, so ours runs first.
    import concurrent.futures.process
    import concurrent.futures.thread  # noqa: F401

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_wait_at_exit)
    else:  # pragma: no cover - very old Pythons
        import atexit

        atexit.register(_wait_at_exit)


_register_exit_hook()
