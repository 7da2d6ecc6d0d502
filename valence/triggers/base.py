"""``BaseTrigger``: something that, when it fires, runs its dispatch again with reuse.

A trigger is registered for a dispatch (``@ct.lattice(triggers=...)``, or
``trigger.lattice_dispatch_id = id; trigger.register()``). The valence runtime
that holds it (the server, or the embedded dispatcher of this process) stores
it by value, calls :meth:`observe` and, each time the trigger calls
:meth:`trigger`, starts the dispatch if it never ran, otherwise redispatches
the latest dispatch it started, with ``reuse_previous_results=True``: only
what changed runs.

Subclasses implement ``observe`` (blocking, in a thread of its own, when
``observe_blocks``; otherwise it starts its own observer and returns) and
``stop``. Attributes named in :attr:`RUNTIME_ATTRIBUTES` or starting with ``_``
are runtime state: they are not stored and not shown by ``to_dict``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar


class BaseTrigger:
    """Base class of every trigger (Covalent's ``covalent.triggers.BaseTrigger``)."""

    RUNTIME_ATTRIBUTES: ClassVar[tuple[str, ...]] = (
        "observer",
        "event_handler",
        "stop_flag",
        "event_loop",
    )

    def __init__(
        self,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        self.lattice_dispatch_id = lattice_dispatch_id
        self.dispatcher_addr = dispatcher_addr
        self.triggers_server_addr = triggers_server_addr
        self.new_dispatch_ids: list[str] = []
        self.observe_blocks = True
        self.event_loop: Any = None
        self.use_internal_funcs = True
        self.stop_flag: threading.Event | None = threading.Event()
        self._fire: Callable[[], None] | None = None

    # ---- what a trigger does ----------------------------------------------------------
    def register(self) -> None:
        """Hand this trigger to the valence runtime (the server, else this process)."""
        from valence.backends import choose_backend

        if not self.lattice_dispatch_id:
            raise RuntimeError(
                f"{type(self).__name__} has no lattice_dispatch_id; set "
                "trigger.lattice_dispatch_id = dispatch_id (or pass triggers= to @ct.lattice) "
                "before register()"
            )
        backend = choose_backend(self.triggers_server_addr or self.dispatcher_addr)
        backend.register_trigger(self)

    def trigger(self) -> None:
        """Run the dispatch again (with reuse); ``observe`` calls this when its event happens."""
        if not self.lattice_dispatch_id:
            raise RuntimeError(
                "`lattice_dispatch_id` is None: attach this trigger to a lattice "
                "(@ct.lattice(triggers=...) or trigger.lattice_dispatch_id = id) first"
            )
        if self._fire is not None:
            self._fire()
            return
        from valence.client import redispatch

        parent = self.new_dispatch_ids[-1] if self.new_dispatch_ids else self.lattice_dispatch_id
        new_id = redispatch(parent, self.dispatcher_addr, reuse_previous_results=True)()
        self.new_dispatch_ids.append(new_id)

    def observe(self) -> None:
        """Watch for the event and call :meth:`trigger` when it happens (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} must implement observe()")

    def stop(self) -> None:
        """Stop observing (subclasses; the default sets ``stop_flag``)."""
        if self.stop_flag is not None:
            self.stop_flag.set()

    # ---- state -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The trigger's settings, with ``name`` = its class name."""
        data = self.__getstate__()
        data["name"] = type(self).__name__
        return data

    def __getstate__(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in self.__dict__.items()
            if not key.startswith("_") and key not in self.RUNTIME_ATTRIBUTES
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for key in self.RUNTIME_ATTRIBUTES:
            self.__dict__.setdefault(key, None)
        self.stop_flag = threading.Event()
        self._fire = None

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{k}={v!r}" for k, v in self.__getstate__().items() if k not in _COMMON
        )
        return f"{type(self).__name__}({settings})"


_COMMON = (
    "dispatcher_addr",
    "triggers_server_addr",
    "new_dispatch_ids",
    "observe_blocks",
    "use_internal_funcs",
)
