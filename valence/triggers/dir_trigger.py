"""``DirTrigger``: fire on file-system events in a directory or file (watchdog)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from valence.errors import UnsupportedOptionError
from valence.triggers.base import BaseTrigger

EVENTS = ("created", "deleted", "modified", "moved", "closed")


class DirTrigger(BaseTrigger):
    """Fires after every ``batch_size`` events of the kinds in ``event_names`` under ``dir_path``.

    Needs ``watchdog`` (``pip install 'valence[triggers]'``). The path is resolved
    where the trigger runs (the server, or this process).
    """

    def __init__(
        self,
        dir_path: str,
        event_names: str | list[str],
        batch_size: int = 1,
        recursive: bool = False,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        super().__init__(lattice_dispatch_id, dispatcher_addr, triggers_server_addr)
        names = [event_names] if isinstance(event_names, str) else list(event_names)
        unknown = [name for name in names if name not in EVENTS]
        if unknown or not names:
            raise UnsupportedOptionError(
                f"DirTrigger(event_names=...) takes some of {', '.join(EVENTS)}; "
                f"got {event_names!r}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"DirTrigger(batch_size=...) takes a whole number >= 1, not {batch_size!r}"
            )
        self.dir_path = dir_path
        self.event_names = names
        self.batch_size = batch_size
        self.recursive = recursive
        self.observe_blocks = False
        self.n_changes = 0

    def observe(self) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            raise ImportError(
                "DirTrigger needs the watchdog package: pip install 'valence[triggers]'"
            ) from None
        path = str(Path(self.dir_path).expanduser().resolve())
        if not Path(path).exists():
            raise FileNotFoundError(f"DirTrigger: {path} does not exist; create it first")
        lock = threading.Lock()
        wanted = {f"on_{name}" for name in self.event_names}
        trigger = self

        class Handler(FileSystemEventHandler):
            def dispatch(self, event: Any) -> None:
                if f"on_{event.event_type}" not in wanted:
                    return
                with lock:
                    trigger.n_changes += 1
                    fire = trigger.n_changes >= trigger.batch_size
                    if fire:
                        trigger.n_changes = 0
                if fire:
                    trigger.trigger()

        self.event_handler = Handler()
        self.observer = Observer()
        self.observer.daemon = True
        self.observer.schedule(self.event_handler, path, recursive=self.recursive)
        self.observer.start()

    def stop(self) -> None:
        super().stop()
        observer = getattr(self, "observer", None)
        if observer is not None:
            observer.stop()
            if observer is not threading.current_thread():
                observer.join(timeout=10)
