"""Reading a previous dispatch's nodes to plan a redispatch: only the work planning needs.

:meth:`valence.store.Store.get_nodes` decodes every JSON column and time of every
row; for a 20,000-node dispatch that is most of the cost of reading it. A plan
compares keys, statuses and digests, and each node's ``metadata`` (a few distinct
values: one per task function), never the stored ``reason`` or times. So here
``metadata`` is decoded once per distinct text and shared between equal rows, and
``reason``, ``start_time`` and ``end_time`` are not read (None). The rows are
otherwise equal to :meth:`~valence.store.Store.get_nodes`'s; they are read as
plain SQL, so no column passes through a type's result processing.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, null, select
from sqlalchemy.engine import Dialect

from valence.store.records import NodeRecord
from valence.store.tables import EDGE_FIELDS, NODE_FIELDS, edges, nodes

_METADATA = NODE_FIELDS.index("metadata")


NOT_READ = ("reason", "start_time", "end_time")
"""The fields :func:`read_nodes` leaves None."""


_compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...] | None]] = {}


def _statement(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The SELECT's SQL for ``dialect`` and, if positional, its parameter order."""
    cache_key = (type(dialect), dialect.paramstyle)
    if cache_key in _compiled:
        return _compiled[cache_key]
    c = nodes.c
    columns = [
        cast(c.metadata, Text).label(name)
        if name == "metadata"
        else null().label(name)
        if name in NOT_READ
        else c[name]
        for name in NODE_FIELDS
    ]
    query = select(*columns).where(c.dispatch_id == bindparam("dispatch_id"))
    compiled = query.order_by(c.node_id).compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    _compiled[cache_key] = (str(compiled), order)
    return _compiled[cache_key]


def read_nodes(conn: Connection, dispatch_id: str) -> list[NodeRecord]:
    """Every node of ``dispatch_id`` by node id, the :data:`NOT_READ` fields None and equal
    ``metadata`` values one shared dict (read only)."""
    sql, order = _statement(conn.dialect)
    params: Any = {"dispatch_id": dispatch_id} if order is None else (dispatch_id,) * len(order)
    rows = conn.exec_driver_sql(sql, params).all()  # plain SQL: no per-column processing
    decoded: dict[str, dict[str, Any]] = {}
    found = []
    for row in rows:
        values = list(row)
        text = values[_METADATA]
        metadata = decoded.get(text)
        if metadata is None:
            metadata = decoded[text] = json.loads(text)
        values[_METADATA] = metadata
        found.append(NodeRecord(*values))
    return found


_EDGES = select(*(edges.c[f] for f in EDGE_FIELDS[1:])).where(edges.c.dispatch_id == bindparam("d"))
_EDGES_ORDERED = _EDGES.order_by(edges.c.edge_index)


def read_edges(conn: Connection, dispatch_id: str) -> list[tuple[Any, ...]]:
    """Every edge of ``dispatch_id`` as a tuple of its fields but ``dispatch_id``, in order."""
    return [tuple(row) for row in conn.execute(_EDGES_ORDERED, {"d": dispatch_id})]
