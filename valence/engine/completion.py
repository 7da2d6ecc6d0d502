"""The event that says a dispatch is finished (its final state durable), for every waiter.

A thread blocks on it (:meth:`Completion.wait`); an asyncio task awaits it
through a callback (:meth:`Completion.add_done_callback`), so a server holds
many waiting requests without a thread each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Completion(threading.Event):
    """A ``threading.Event`` that also calls back when it is set."""

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once set (now, if it already is), in the setting thread."""
        with self._callbacks_lock:
            if not self.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def remove_done_callback(self, callback: Callable[[], None]) -> None:
        """Forget ``callback`` (a waiter that gave up); nothing if it is not registered."""
        with self._callbacks_lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def set(self) -> None:
        with self._callbacks_lock:
            super().set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()
