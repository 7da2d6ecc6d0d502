"""The two ways the public functions and the CLI reach dispatches.

:class:`~valence.backends.local.LocalBackend` works on the in-process runtime
(:mod:`valence.engine.runtime`: the embedded mode's);
:class:`~valence.backends.http.HttpBackend` asks a valence server over its REST
API. Both offer the same methods (:class:`Backend`), so every public function
behaves the same in either mode. :func:`choose_backend` picks one.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from valence.config import load_settings, server_address
from valence.extras import needs_extra

if TYPE_CHECKING:
    from valence.engine.purge import PurgeReport
    from valence.engine.redispatch import Plan
    from valence.results import Result
    from valence.status import Status
    from valence.store.records import DispatchRecord, NodeRecord, TriggerRecord
    from valence.workflow.lattice import Lattice


class Backend(Protocol):
    """What the public functions and the CLI need, embedded or over HTTP."""

    where: str

    def submit(
        self,
        lattice: Lattice,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        disable_run: bool,
        reuse: bool = False,
    ) -> str: ...
    def redispatch(self, dispatch_id: str, request: RedispatchRequest) -> str: ...
    def plan(self, dispatch_id: str, request: RedispatchRequest) -> Plan: ...
    def cancel(self, dispatch_id: str, task_ids: list[int] | None = None) -> str: ...
    def delete(self, dispatch_id: str, *, dry_run: bool = False) -> PurgeReport: ...
    def register_trigger(self, trigger: Any) -> int: ...
    def stop_triggers(self, dispatch_ids: list[str]) -> int: ...
    def list_triggers(self, dispatch_ids: list[str] | None = None) -> list[TriggerRecord]: ...
    def purge(self, older_than: timedelta, *, dry_run: bool) -> PurgeReport: ...
    def resolve_id(self, prefix: str) -> str: ...
    def status(self, dispatch_id: str) -> Status: ...
    def wait(self, dispatch_id: str, timeout: float | None) -> bool: ...
    def get_dispatch(self, dispatch_id: str) -> DispatchRecord: ...
    def get_nodes(self, dispatch_id: str) -> list[NodeRecord]: ...
    def get_blob(self, digest: str) -> bytes: ...
    def result(self, dispatch_id: str) -> Result: ...
    def list_dispatches(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DispatchRecord]: ...
    def node_counts(self, dispatch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Tasks per status for each dispatch (helper nodes are not counted)."""
        ...

    def list_with_progress(self, **filters: Any) -> list[tuple[DispatchRecord, dict[str, int]]]: ...


@dataclass
class RedispatchRequest:
    """The options of one redispatch (new inputs, replacements, reuse, forced tasks)."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    replace_electrons: dict[str, Any] = field(default_factory=dict)
    reuse_previous_results: bool = False
    force_rerun: tuple[str, ...] = ()
    reuse_from: str | tuple[str, ...] | None = None  # "parent", "any" or dispatch ids

    def plan_options(self) -> dict[str, Any]:
        """These options as ``plan_redispatch`` (and ``Runtime.plan``) take them."""
        return {
            "args": tuple(self.args),
            "kwargs": dict(self.kwargs),
            "replace": dict(self.replace_electrons),
            "reuse": self.reuse_previous_results,
            "force_rerun": tuple(self.force_rerun),
            "reuse_from": self.reuse_from,
        }


def task_id_list(task_ids: Any) -> list[int] | None:
    """``cancel``'s ``task_ids`` as a list of node ids (None: the whole dispatch).

    Accepts None, one integer, or an iterable of integers (numpy's too); anything
    else (a string, a bool, a float, None inside a list) is a TypeError naming it.
    """
    if task_ids is None:
        return None
    if _is_integer(task_ids):
        return [operator.index(task_ids)]
    if isinstance(task_ids, (str, bytes)) or not hasattr(task_ids, "__iter__"):
        raise TypeError(f"task_ids must be a node id (int) or a list of node ids, got {task_ids!r}")
    found = list(task_ids)
    for item in found:
        if not _is_integer(item):
            raise TypeError(
                f"task_ids holds node ids (int), got {item!r} ({type(item).__name__}); "
                "get_result(dispatch_id).nodes lists the ids"
            )
    return [operator.index(item) for item in found] or None


def _is_integer(value: Any) -> bool:
    return not isinstance(value, bool) and hasattr(type(value), "__index__")


MAX_DURATION_S = 365_000 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``15m``, ``90s``, ``2w`` or a number of seconds -> timedelta."""
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:])
    number = raw[:-1] if unit is not None else raw
    try:
        value = float(number)
    except ValueError:
        raise ValueError(
            f"cannot read the duration {text!r}: use a number and a unit, e.g. 30d, 12h, 15m, 90s"
        ) from None
    seconds = value * (unit or 1)
    if not 0 <= seconds <= MAX_DURATION_S:  # also false for nan
        raise ValueError(
            f"the duration {text!r} must be between 0 and 1000 years (365000d), e.g. 30d"
        )
    return timedelta(seconds=seconds)


def choose_backend(dispatcher_addr: str | None = None) -> Backend:
    """The server at ``dispatcher_addr`` / ``VALENCE_SERVER`` / the recorded one, else embedded."""
    settings = load_settings()
    address = server_address(dispatcher_addr, settings)
    if address is not None:
        with needs_extra("server", f"talking to the valence server at {address}"):
            from valence.backends.http import connect

        return connect(address, settings)
    from valence.backends.local import LocalBackend

    return LocalBackend.embedded()
