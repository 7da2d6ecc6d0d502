"""What reaches the dispatcher's loop: small frozen records, one per kind of event.

Callers (public methods, executor callbacks, a worker's live output) only put
events on the loop's queue; the loop matches on their type and applies the
transitions. ``Freeze`` is handled by the loop itself, the others per dispatch.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from valence.engine.prepare import Prepared
from valence.executors.base import Outcome


@dataclass(frozen=True, slots=True)
class Start:
    """Run a newly recorded dispatch, or (``resume``) one rebuilt from the store that
    keeps what it already did."""

    prepared: Prepared
    resume: bool = False
    held: bool = False  # the submitter holds the collector for it (engine.collector)

    @property
    def dispatch_id(self) -> str:
        return self.prepared.record.dispatch_id


@dataclass(frozen=True, slots=True)
class TaskDone:
    """A task's future resolved (to an outcome, an exception, or cancelled)."""

    dispatch_id: str
    node_id: int
    future: Future[Outcome]


@dataclass(frozen=True, slots=True)
class Live:
    """A worker started a task (``value`` is when) or a running task printed (the text)."""

    dispatch_id: str
    node_id: int
    kind: str  # "started", "stdout" or "stderr"
    value: Any


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel a dispatch (``task_ids`` None) or some of its nodes; ``applied`` is set after."""

    dispatch_id: str
    task_ids: list[int] | None
    applied: threading.Event


@dataclass(frozen=True, slots=True)
class Freeze:
    """Record what came before, then nothing; ``drained`` is set once that is written."""

    drained: threading.Event


DispatchEvent = Start | TaskDone | Live | Cancel
Event = DispatchEvent | Freeze
