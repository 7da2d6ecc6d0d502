"""Dispatchers on several hosts sharing one store: heartbeats, takeover, self-fencing.

On a network database (PostgreSQL) every dispatcher holds a *lease*: a thread renews
its row in the ``dispatchers`` table every sixth of ``VALENCE_LEASE_SECONDS``
(default 30). A peer on another host cannot ask the operating system whether that
process lives, so it watches the row instead: when the renewal count has not grown
for a whole lease, measured on the *peer's* monotonic clock (no clock of two hosts
is ever compared), the owner is dead and its unfinished dispatches may be claimed.
A dispatcher that stopped cleanly marks its row, and peers take over at once.

Safety does not rest on the peer alone: a dispatcher that could not renew its lease
for half a lease (the database unreachable, the process paused, the machine
asleep) stops recording anything before a peer may take over, and refuses new
dispatches with :class:`~valence.errors.LeaseLostError`. Claiming is a
compare-and-swap on the dispatch's owner, so two peers never both take one
dispatch. Execution stays at-least-once: tasks in flight when their dispatcher
died run again under the new owner.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from valence.engine.ownership import host_id, host_of, is_alive
from valence.errors import ConfigError

if TYPE_CHECKING:
    from valence.store import Store

log = logging.getLogger("valence.lease")

DEFAULT_LEASE_SECONDS = 30.0
SWEEP_SECONDS = 5.0  # at most this long between looks for dead peers' dispatches


def lease_seconds() -> float:
    """``VALENCE_LEASE_SECONDS``: how long a silent dispatcher on another host keeps its work."""
    text = os.environ.get("VALENCE_LEASE_SECONDS", "").strip()
    if not text:
        return DEFAULT_LEASE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.5 <= value <= 86_400:  # also refuses nan and inf
        raise ConfigError(
            f"VALENCE_LEASE_SECONDS must be a number of seconds from 0.5 to 86400, got {text!r}"
        )
    return value


class Peers:
    """Judges the owners of unfinished dispatches: which of them are dead.

    Owners on this host are judged by their process; owners on other hosts by their
    heartbeat rows, observed over time. An owner with no row (a dispatcher on a
    store without leases, or an older valence) is never judged dead from afar.
    """

    def __init__(
        self, store: Store, expiry: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self.expiry = expiry
        self._clock = clock
        self._seen: dict[str, tuple[int, float]] = {}  # owner -> (beats, first seen at)

    def dead(self, owners: Iterable[str]) -> set[str]:
        """The owners among ``owners`` whose dispatcher is known to be gone."""
        here = host_id()
        owners = set(owners)
        local = {o for o in owners if host_of(o) in (here, None)}
        dead = {o for o in local if not is_alive(o)}
        remote = sorted(owners - local)
        rows = self._store.beats(remote)
        now = self._clock()
        for owner in remote:
            row = rows.get(owner)
            if row is None:
                continue
            if row.stopped:
                dead.add(owner)
                continue
            seen = self._seen.get(owner)
            if seen is None or seen[0] != row.beats:
                self._seen[owner] = (row.beats, now)
            elif now - seen[1] >= self.expiry:
                dead.add(owner)
        return dead


class Lease:
    """Keeps one dispatcher's heartbeat row fresh; fences it when renewal fails.

    ``on_lost`` is called once (from the lease thread or a writer) when the lease
    is lost; ``sweep``, when given, runs after every renewal (a server uses it to
    take over the dispatches of dead peers).
    """

    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        expiry: float,
        on_lost: Callable[[], None],
        sweep: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self.expiry = expiry
        self.lost = False
        self._store = store
        self._on_lost = on_lost
        self._sweep = sweep
        self._clock = clock
        self._renewed = clock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lost_lock = threading.Lock()

    def start(self) -> None:
        """Write the first beat (a store that refuses it raises here), then keep beating.

        Sweeping runs on a thread of its own: taking over a large dispatch must not
        delay the next beat.
        """
        self.renew()
        self._threads = [threading.Thread(target=self._beat, name="valence-lease", daemon=True)]
        if self._sweep is not None:
            sweeper = threading.Thread(target=self._sweeping, name="valence-sweep", daemon=True)
            self._threads.append(sweeper)
        for thread in self._threads:
            thread.start()

    def renew(self) -> None:
        """One beat; the lease counts from before the write, never from after it.

        An expired lease is not renewed: after a pause, a peer may own our work already.
        """
        started = self._clock()
        if not self.valid():
            return
        self._store.beat(self.owner, host_id())
        self._renewed = started

    def valid(self) -> bool:
        """Whether this dispatcher may still write: renewed within half a lease."""
        if self.lost:
            return False
        if self._clock() - self._renewed < self.expiry / 2:
            return True
        self._lose()
        return False

    def stop(self, *, retire: bool = True) -> None:
        """Stop beating; with ``retire``, tell peers to take over at once."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(10)
        if retire and not self.lost:
            self._store.retire(self.owner)

    def _beat(self) -> None:
        while not self._stop.wait(self.expiry / 6) and not self.lost:
            try:
                self.renew()
            except Exception as exc:  # the database may be unreachable for a while
                log.warning("valence: cannot renew this dispatcher's lease: %s", exc)

    def _sweeping(self) -> None:
        assert self._sweep is not None
        while not self._stop.wait(min(self.expiry / 6, SWEEP_SECONDS)) and not self.lost:
            try:
                self._sweep()
            except Exception:
                log.exception("valence: looking for dispatches of dead dispatchers failed")

    def _lose(self) -> None:
        with self._lost_lock:
            if self.lost:
                return
            self.lost = True
        log.error(
            "valence: this dispatcher could not renew its lease for %.0f s; it stops "
            "recording, and its dispatches are resumed by another dispatcher. Restart it.",
            self._clock() - self._renewed,
        )
        self._on_lost()
