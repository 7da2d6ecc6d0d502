"""What a redispatch decides per node, and the plan that holds those decisions.

Plain values: the decisions are computed by :mod:`valence.engine.decide`, the
plan is assembled by :mod:`valence.engine.redispatch` and shown by the client,
CLI and server.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from valence.store.records import NodeRecord

if TYPE_CHECKING:
    from valence.engine.prepare import AllReused, Prepared

Action = Literal["reuse", "run"]
Code = Literal[
    "reused",  # same key as a COMPLETED node of the dispatch redispatched
    "reused_store",  # same key as a COMPLETED node found elsewhere in the store
    "early_cutoff",  # decided while running, never in a plan
    "reuse_off",
    "forced",
    "not_reusable",
    "parent_not_completed",  # the redispatched dispatch had this key, not COMPLETED
    "replaced",
    "new_code",
    "changed_argument",
    "upstream_changed",
    "new_node",
    "changed",
    "no_match",  # a new dispatch reusing from the store found no node with this key
    "blob_missing",
    "blob_damaged",
]


@dataclass(frozen=True)
class Decision:
    """What a redispatch does with one node, and why."""

    node_id: int
    name: str
    kind: str
    action: Action
    code: Code
    text: str
    reused_from: tuple[str, int] | None = None
    source: NodeRecord | None = field(default=None, repr=False, compare=False)

    def as_reason(self) -> dict[str, Any]:
        return {"decision": self.action, "code": self.code, "text": self.text}


class Plan:
    """The per-node decisions of a redispatch, before it runs.

    ``parent_id`` is the dispatch redispatched (the name the wire format uses).
    """

    def __init__(
        self,
        parent_id: str,
        decisions: list[Decision] | Callable[[], list[Decision]],
        prepared: Prepared | AllReused,
    ) -> None:
        self.parent_id = parent_id
        self._decisions = decisions
        self.prepared = prepared

    @property
    def decisions(self) -> list[Decision]:
        if callable(self._decisions):
            self._decisions = self._decisions()
        return self._decisions

    @property
    def reused(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "reuse"]

    @property
    def to_run(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "run"]

    def tasks(self) -> list[Decision]:
        """Decisions for task and sublattice nodes only (helpers hidden)."""
        return [d for d in self.decisions if d.kind in ("electron", "sublattice")]

    def headline(self) -> str:
        """``Redispatch of X: 1 task reused, 1 to run`` (tasks only; helpers are not counted)."""
        tasks = self.tasks()
        reused = sum(1 for d in tasks if d.action == "reuse")
        return (
            f"Redispatch of {self.parent_id}: {reused} task{'s' * (reused != 1)} reused, "
            f"{len(tasks) - reused} to run"
        )

    def __repr__(self) -> str:
        return f"<{self.headline()}>"

    def __str__(self) -> str:
        lines = [self.headline()]
        lines += [
            f"  {d.node_id:>4}  {d.name[:30]:<30} {d.action.upper():<5}  {d.text}"
            for d in self.tasks()
        ]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:right'>{d.node_id}</td><td>{html.escape(d.name)}</td>"
            f"<td><b>{d.action.upper()}</b></td><td>{html.escape(d.text)}</td></tr>"
            for d in self.tasks()
        )
        head = "<tr><th>id</th><th>task</th><th>decision</th><th>why</th></tr>"
        return f"<div><b>{html.escape(self.headline())}</b><table>{head}{rows}</table></div>"
