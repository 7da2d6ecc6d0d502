"""What the dispatcher keeps per running dispatch, and the pure helpers it uses."""

from __future__ import annotations

import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from valence.engine.prepare import Prepared
from valence.engine.state import DispatchState
from valence.executors.base import Outcome
from valence.workflow.graph import Node, NodeKind
from valence.workflow.tracing import OPERATORS


@dataclass
class Lazy:
    """Serialized output not yet needed as a value."""

    data: bytes


@dataclass
class Run:
    """A dispatch being executed by this dispatcher."""

    prepared: Prepared
    state: DispatchState
    futures: dict[int, tuple[Any, Future[Outcome]]] = field(default_factory=dict)
    children: dict[int, str] = field(default_factory=dict)  # node id -> sub-dispatch id
    parent: tuple[str, int] | None = None
    errors: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    internal_error: str | None = None  # set when valence itself failed this dispatch
    # node id -> whether it is downstream of a node that is not reusable (early cutoff's memo)
    unsafe: dict[int, bool] = field(default_factory=dict)
    # id(metadata) -> (metadata, executor, task options): resolved once per electron
    submits: dict[int, tuple[dict[str, Any], Any, dict[str, Any]]] = field(default_factory=dict)
    holds_collector: bool = False  # a large run: released (engine.collector) once it is freed

    @property
    def dispatch_id(self) -> str:
        return self.prepared.record.dispatch_id


@dataclass
class Batch:
    """The changes of one loop round, written to the store in one transaction."""

    nodes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    dispatches: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    keys: list[tuple[str, str, int]] = field(default_factory=list)  # (hash, dispatch, node)

    def node(self, dispatch_id: str, node_id: int, **fields: Any) -> None:
        self.nodes.setdefault((dispatch_id, node_id), {}).update(fields)

    def dispatch(self, dispatch_id: str, **fields: Any) -> None:
        self.dispatches.setdefault(dispatch_id, {}).update(fields)

    def __bool__(self) -> bool:
        return bool(self.nodes or self.dispatches or self.blobs or self.keys)


def helper_value(node: Node, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """The value of a helper node (getitem, getattr, operator, collection) from its inputs."""
    kind = node.kind
    if kind is NodeKind.GETITEM:
        return args[0][args[1]]
    if kind is NodeKind.GETATTR:
        return getattr(args[0], args[1])
    if kind is NodeKind.OPERATOR:
        return OPERATORS[node.op or "+"](kwargs["arg_1"], kwargs["arg_2"])
    if node.op == "dict":
        return dict(zip(node.keys, args, strict=False))
    return tuple(args) if node.op == "tuple" else args


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
