"""Tracing: running a lattice body with task outputs replaced by proxies.

Each electron call inside an active :class:`Tracer` adds a node and returns an
:class:`Output` proxy. Proxies record ``x[k]``, ``x.attr``, arithmetic and
tuple unpacking as helper nodes, and refuse everything a static graph cannot
express (truth tests, comparisons, ``len``, iteration) with a clear error.
"""

from __future__ import annotations

import contextvars
import dis
import operator
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from valence.errors import TracingError
from valence.text import shorten
from valence.workflow.graph import (
    DICT_PREFIX,
    LIST_PREFIX,
    PARAMETER_PREFIX,
    WAIT_EDGE,
    Node,
    NodeKind,
    NodeRef,
    TransportGraph,
)

_ACTIVE: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("valence_tracer")

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "@": operator.matmul,
}

_SUGGESTION = (
    "The lattice body runs once, before any task, to build a static graph. "
    "Move this logic into an electron, or make the dynamic part a sublattice "
    "(@ct.electron on a @ct.lattice) whose graph is built when its inputs are known."
)


@dataclass
class Tracer:
    """The graph being built and what shapes it (lattice defaults, replacements)."""

    graph: TransportGraph = field(default_factory=TransportGraph)
    lattice_metadata: dict[str, Any] = field(default_factory=dict)
    replacements: dict[str, Any] = field(default_factory=dict)
    # (id(electron), name it replaces) -> (electron, its options here, injected argument names)
    settings: dict[tuple[int, str | None], tuple[Any, dict[str, Any], set[str]]] = field(
        default_factory=dict
    )


def active_tracer() -> Tracer | None:
    """The tracer of the lattice being built in this context, if any."""
    return _ACTIVE.get(None)


@contextmanager
def tracing(tracer: Tracer) -> Iterator[Tracer]:
    token = _ACTIVE.set(tracer)
    try:
        yield tracer
    finally:
        _ACTIVE.reset(token)


@contextmanager
def not_tracing() -> Iterator[None]:
    """Run code eagerly even inside a tracer (e.g. a lattice called directly)."""
    token = _ACTIVE.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _refuse(what: str) -> TracingError:
    return TracingError(f"{what} is not allowed on a task output inside a lattice. {_SUGGESTION}")


class Output:
    """The future output of a node while a lattice is being traced."""

    __slots__ = ("_node", "_tracer")
    _node: Node  # declared for type checkers; __getattr__ records every other name
    _tracer: Tracer

    def __init__(self, tracer: Tracer, node: Node) -> None:
        object.__setattr__(self, "_tracer", tracer)
        object.__setattr__(self, "_node", node)

    @property
    def node_id(self) -> int:
        return self._node.id

    def __repr__(self) -> str:
        return f"<output of node {self._node.id} {self._node.name!r}>"

    # ---- recorded operations -------------------------------------------------
    def __getitem__(self, key: Any) -> Output:
        return self._helper(NodeKind.GETITEM, f":{self._label()}.__getitem__", key)

    def __getattr__(self, attr: str) -> Output:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return self._helper(NodeKind.GETATTR, f":{self._label()}.__getattr__", attr)

    def __iter__(self) -> Iterator[Output]:
        count = _unpack_count(sys._getframe(1))
        label = f":{self._label()}()"
        return iter([self._helper(NodeKind.GETITEM, f"{label}[{i}]", i) for i in range(count)])

    def _label(self) -> str:
        node = self._node
        return node.electron.name if node.electron is not None else node.name

    def _helper(self, kind: NodeKind, name: str, key: Any) -> Output:
        graph = self._tracer.graph
        node = graph.add_node(name, kind)
        graph.add_edge(self._node.id, node.id, "e", "arg", 0)
        connect(self._tracer, node.id, "key", key, "arg", 1)
        return Output(self._tracer, node)

    def _operate(self, left: Any, symbol: str, right: Any) -> Output:
        name = f"{_operand_name(left)}_{symbol}_{_operand_name(right)}"
        graph = self._tracer.graph
        node = graph.add_node(name, NodeKind.OPERATOR, op=symbol)
        connect(self._tracer, node.id, "arg_1", left, "kwarg", None)
        connect(self._tracer, node.id, "arg_2", right, "kwarg", None)
        return Output(self._tracer, node)

    def __add__(self, other: Any) -> Output:
        return self._operate(self, "+", other)

    def __radd__(self, other: Any) -> Output:
        return self._operate(other, "+", self)

    def __sub__(self, other: Any) -> Output:
        return self._operate(self, "-", other)

    def __rsub__(self, other: Any) -> Output:
        return self._operate(other, "-", self)

    def __mul__(self, other: Any) -> Output:
        return self._operate(self, "*", other)

    def __rmul__(self, other: Any) -> Output:
        return self._operate(other, "*", self)

    def __truediv__(self, other: Any) -> Output:
        return self._operate(self, "/", other)

    def __rtruediv__(self, other: Any) -> Output:
        return self._operate(other, "/", self)

    def __floordiv__(self, other: Any) -> Output:
        return self._operate(self, "//", other)

    def __rfloordiv__(self, other: Any) -> Output:
        return self._operate(other, "//", self)

    def __mod__(self, other: Any) -> Output:
        return self._operate(self, "%", other)

    def __rmod__(self, other: Any) -> Output:
        return self._operate(other, "%", self)

    def __pow__(self, other: Any) -> Output:
        return self._operate(self, "**", other)

    def __rpow__(self, other: Any) -> Output:
        return self._operate(other, "**", self)

    def __matmul__(self, other: Any) -> Output:
        return self._operate(self, "@", other)

    def __rmatmul__(self, other: Any) -> Output:
        return self._operate(other, "@", self)

    # ---- refused operations ------------------------------------------------
    def __bool__(self) -> bool:
        raise _refuse("Truth testing (if/while/and/or/not)")

    def __int__(self) -> int:
        raise _refuse("int()")

    def __float__(self) -> float:
        raise _refuse("float()")

    def __complex__(self) -> complex:
        raise _refuse("complex()")

    def __index__(self) -> int:
        raise _refuse("Using a task output as an index")

    def __len__(self) -> int:
        raise _refuse("len()")

    def __contains__(self, item: Any) -> bool:
        raise _refuse("The `in` operator")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise _refuse("Calling a task output (or a method of it)")

    def __setattr__(self, name: str, value: Any) -> None:
        raise _refuse("Setting an attribute")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise _refuse("Item assignment")

    def __lt__(self, other: Any) -> bool:
        raise _refuse("Comparison (<)")

    def __le__(self, other: Any) -> bool:
        raise _refuse("Comparison (<=)")

    def __gt__(self, other: Any) -> bool:
        raise _refuse("Comparison (>)")

    def __ge__(self, other: Any) -> bool:
        raise _refuse("Comparison (>=)")

    def __eq__(self, other: object) -> bool:
        raise _refuse("Comparison (==)")

    def __ne__(self, other: object) -> bool:
        raise _refuse("Comparison (!=)")

    __hash__ = object.__hash__

    def __reduce__(self) -> Any:
        raise _refuse("Pickling or copying")


def _operand_name(value: Any) -> str:
    return value._label() if isinstance(value, Output) else str(value)


_UNPACK_CACHE: dict[Any, dict[int, dis.Instruction]] = {}


def _unpack_count(frame: Any) -> int:
    """How many values the caller unpacks; refuse any other kind of iteration."""
    code = frame.f_code
    table = _UNPACK_CACHE.get(code)
    if table is None:
        table = {i.offset: i for i in dis.get_instructions(code)}
        _UNPACK_CACHE[code] = table
    instr = table.get(frame.f_lasti)
    if instr is not None and instr.opname == "UNPACK_SEQUENCE" and instr.arg is not None:
        return instr.arg
    if instr is not None and instr.opname == "UNPACK_EX":
        raise _refuse("Star-unpacking (a, *rest = output)")
    raise _refuse(
        "Iterating (for x in output, list(output), *output); only fixed-size unpacking "
        "such as `a, b = task()` is recorded"
    )


def connect(
    tracer: Tracer, child: int, name: str, value: Any, ptype: str, index: int | None
) -> None:
    """Wire ``value`` into argument ``name`` of node ``child``, adding nodes as needed."""
    graph = tracer.graph
    if isinstance(value, Output):
        graph.add_edge(value._node.id, child, name, ptype, index)
    elif isinstance(value, (list, tuple)) and not _is_namedtuple(value):
        node = graph.add_node(LIST_PREFIX, NodeKind.COLLECTION, op=type(value).__name__)
        for i, item in enumerate(value):
            connect(tracer, node.id, name, item, "kwarg", i)
        graph.add_edge(node.id, child, name, ptype, index)
    elif type(value) is dict:
        keys = tuple(value)
        node = graph.add_node(DICT_PREFIX, NodeKind.COLLECTION, op="dict", keys=keys)
        for i, (key, item) in enumerate(value.items()):
            connect(tracer, node.id, str(key), item, "kwarg", i)
        graph.add_edge(node.id, child, name, ptype, index)
    else:
        node = graph.add_node(PARAMETER_PREFIX + _short_str(value), NodeKind.PARAMETER, value=value)
        graph.add_edge(node.id, child, name, ptype, index)


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _short_str(value: Any, limit: int = 80) -> str:
    try:
        text = str(value)
    except Exception as exc:  # a broken __str__ must not break tracing
        text = f"<{type(value).__name__}: str() failed: {exc}>"
    return shorten(text, limit)


def to_template(value: Any) -> Any:
    """Replace proxies in a returned structure by :class:`NodeRef` (recursively)."""
    if isinstance(value, Output):
        return NodeRef(value.node_id)
    if isinstance(value, (list, tuple)) and not _is_namedtuple(value):
        return type(value)(to_template(v) for v in value)
    if _is_namedtuple(value):
        return type(value)(*(to_template(v) for v in value))
    if type(value) is dict:
        return {k: to_template(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(to_template(v) for v in value)
    return value


def from_template(template: Any, outputs: Callable[[int], Any]) -> Any:
    """Rebuild a returned structure, looking node outputs up with ``outputs``."""
    if isinstance(template, NodeRef):
        return outputs(template.node_id)
    if _is_namedtuple(template):
        return type(template)(*(from_template(v, outputs) for v in template))
    if isinstance(template, (list, tuple, set, frozenset)):
        return type(template)(from_template(v, outputs) for v in template)
    if type(template) is dict:
        return {k: from_template(v, outputs) for k, v in template.items()}
    return template


def template_refs(template: Any) -> list[int]:
    """Node ids referenced by a return structure."""
    refs: list[int] = []
    from_template(template, lambda i: refs.append(i))
    return refs


def wait(child: Any, parents: Any) -> Any:
    """Make ``child`` run only after ``parents`` finished (no data passed)."""
    tracer = active_tracer()
    if tracer is None or not isinstance(child, Output):
        return child
    items = [parents] if isinstance(parents, Output) else list(parents)
    for parent in items:
        if not isinstance(parent, Output):
            raise TracingError(f"ct.wait parents must be task outputs, got {type(parent).__name__}")
        tracer.graph.add_edge(parent.node_id, child.node_id, WAIT_EDGE, "wait", None)
    return child
