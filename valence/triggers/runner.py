"""The runtime side of triggers: store, observe, fire, stop, adopt after a restart.

One :class:`TriggerRunner` per dispatcher (the embedded one of a process, or a
server's). A registered trigger is stored by value with this dispatcher as its
owner, then a fresh copy loaded from those bytes observes (in a daemon thread
if ``observe_blocks``). A firing checks the stored row first (a trigger stopped
from another process stops here too), then starts the dispatch if it never ran
(it was recorded with ``disable_run``) or redispatches the newest dispatch the
trigger started, with reuse; the row counts the firing and keeps the new id.
A server adopts, on start, every ACTIVE trigger whose owner process is gone.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

from valence import serialize
from valence import status as st
from valence.backends import RedispatchRequest
from valence.engine.ownership import is_alive
from valence.errors import DispatchNotFoundError, SerializationError
from valence.store.records import TriggerRecord
from valence.store.trigger_rows import ACTIVE
from valence.triggers.base import BaseTrigger

if TYPE_CHECKING:
    from valence.backends.local import LocalBackend
    from valence.engine.dispatcher import Dispatcher

log = logging.getLogger("valence.triggers")

_runners: weakref.WeakKeyDictionary[Dispatcher, TriggerRunner] = weakref.WeakKeyDictionary()
_runners_lock = threading.Lock()


def runner_for(backend: LocalBackend) -> TriggerRunner:
    """The runner of ``backend``'s dispatcher (one per dispatcher)."""
    dispatcher = backend.dispatcher
    if dispatcher is None:
        raise RuntimeError("triggers need a dispatcher: use the embedded mode or a server")
    with _runners_lock:
        runner = _runners.get(dispatcher)
        if runner is None:
            runner = _runners[dispatcher] = TriggerRunner(backend)
        return runner


def shutdown_runner(dispatcher: Dispatcher) -> None:
    """Stop observing (rows stay ACTIVE: a server started later adopts them)."""
    with _runners_lock:
        runner = _runners.pop(dispatcher, None)
    if runner is not None:
        runner.shutdown()


class TriggerRunner:
    """Observes the triggers this dispatcher owns."""

    def __init__(self, backend: LocalBackend) -> None:
        assert backend.dispatcher is not None
        self.backend = backend
        self.store = backend.store
        self.owner = backend.dispatcher.owner
        self._live: dict[int, BaseTrigger] = {}
        self._lock = threading.Lock()

    def register(self, trigger: BaseTrigger) -> int:
        """Store ``trigger`` for its dispatch and start observing; its trigger id."""
        if not isinstance(trigger, BaseTrigger):
            raise TypeError(f"a trigger is a BaseTrigger instance, not {type(trigger).__name__}")
        dispatch_id = self.backend.resolve_id(trigger.lattice_dispatch_id or "")
        trigger.lattice_dispatch_id = dispatch_id
        try:
            spec = serialize.dumps(trigger)
        except Exception as exc:
            raise SerializationError(
                f"{type(trigger).__name__} cannot be stored ({type(exc).__name__}: {exc}); "
                "keep live objects (connections, threads) out of its attributes or name them "
                "with a leading underscore"
            ) from exc
        trigger_id = self.store.add_trigger(dispatch_id, type(trigger).__name__, spec, self.owner)
        self._start(trigger_id, spec, [])
        return trigger_id

    def adopt(self) -> list[int]:
        """Observe every ACTIVE trigger whose owning process is gone; their ids."""
        adopted = []
        for row in self.store.get_triggers(status=ACTIVE):
            if row.owner == self.owner or (row.owner is not None and is_alive(row.owner)):
                continue
            if self.store.claim_trigger(row.trigger_id, self.owner, expected_owner=row.owner):
                try:
                    self._start(row.trigger_id, row.spec, row.new_dispatch_ids)
                except Exception as exc:
                    log.exception("cannot resume trigger %d", row.trigger_id)
                    self.store.record_trigger_fired(row.trigger_id, None, f"not resumed: {exc}")
                    continue
                adopted.append(row.trigger_id)
        return adopted

    def stop(self, dispatch_ids: list[str]) -> int:
        """Stop (in the store and here) every trigger of ``dispatch_ids``; how many."""
        stopped = self.store.stop_triggers(dispatch_ids)
        with self._lock:
            mine = [tid for tid, t in self._live.items() if t.lattice_dispatch_id in dispatch_ids]
        for trigger_id in mine:
            self._halt(trigger_id)
        return len(stopped)

    def shutdown(self) -> None:
        with self._lock:
            ids = list(self._live)
        for trigger_id in ids:
            self._halt(trigger_id)

    # ---- inside ---------------------------------------------------------------------
    def _start(self, trigger_id: int, spec: bytes, started: list[str]) -> None:
        trigger: BaseTrigger = serialize.loads(spec)
        trigger.new_dispatch_ids = list(started)
        trigger._fire = lambda: self._fire(trigger_id, trigger)
        with self._lock:
            self._live[trigger_id] = trigger
        if trigger.observe_blocks:
            threading.Thread(
                target=self._observe,
                args=(trigger_id, trigger),
                name=f"valence-trigger-{trigger_id}",
                daemon=True,
            ).start()
        else:
            self._observe(trigger_id, trigger)

    def _observe(self, trigger_id: int, trigger: BaseTrigger) -> None:
        try:
            trigger.observe()
        except Exception as exc:
            log.exception("trigger %d (%r) stopped observing", trigger_id, trigger)
            self.store.record_trigger_fired(
                trigger_id, None, f"observe failed: {type(exc).__name__}: {exc}"
            )
            if not trigger.observe_blocks:
                raise

    def _fire(self, trigger_id: int, trigger: BaseTrigger) -> None:
        row = self.store.get_trigger(trigger_id)
        if row is None or row.status != ACTIVE or row.owner != self.owner:
            self._halt(trigger_id)  # stopped elsewhere, or taken over by another process
            return
        try:
            new_id = self._run_again(trigger, row)
        except DispatchNotFoundError as exc:  # its dispatch was deleted: nothing left to run
            log.warning("trigger %d stops: %s", trigger_id, exc)
            self.store.record_trigger_fired(trigger_id, None, f"stopped: {exc}")
            self.stop([row.dispatch_id])
            return
        except Exception as exc:
            log.exception("trigger %d could not run dispatch %s", trigger_id, row.dispatch_id)
            self.store.record_trigger_fired(trigger_id, None, f"{type(exc).__name__}: {exc}")
            return
        self.store.record_trigger_fired(trigger_id, new_id)

    def _run_again(self, trigger: BaseTrigger, row: TriggerRecord) -> str | None:
        """Start the never-run dispatch (None), or redispatch the newest one with reuse."""
        dispatcher = self.backend.dispatcher
        assert dispatcher is not None
        if self.store.get_status(row.dispatch_id) == st.NEW_OBJECT and dispatcher.start_pending(
            row.dispatch_id
        ):
            return None
        parent = row.new_dispatch_ids[-1] if row.new_dispatch_ids else row.dispatch_id
        new_id = self.backend.redispatch(parent, RedispatchRequest(reuse_previous_results=True))
        trigger.new_dispatch_ids.append(new_id)
        return new_id

    def _halt(self, trigger_id: int) -> None:
        with self._lock:
            trigger = self._live.pop(trigger_id, None)
        if trigger is None:
            return
        try:
            trigger.stop()
        except Exception:
            log.exception("trigger %d did not stop cleanly", trigger_id)
