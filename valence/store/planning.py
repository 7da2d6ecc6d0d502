"""Reading a previous dispatch's nodes to plan a redispatch: only the work planning needs.

:meth:`valence.store.Store.get_nodes` decodes every JSON column and time of every
row; for a 20,000-node dispatch that is most of the cost of reading it. A plan
compares keys, statuses and digests, and each node's ``metadata`` (a few distinct
values: one per task function), never the stored ``reason``. So here ``metadata``
is decoded once per distinct text and shared between equal rows, ``reason`` is
not read, and SQLite's times are parsed directly. The rows are otherwise equal
to :meth:`~valence.store.Store.get_nodes`'s.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timezone
from typing import Any

from sqlalchemy import Connection, String, Text, bindparam, cast, null, select, type_coerce
from sqlalchemy.engine import Dialect

from valence.store.records import NodeRecord
from valence.store.tables import NODE_FIELDS, nodes

_METADATA = NODE_FIELDS.index("metadata")
_TIMES = (NODE_FIELDS.index("start_time"), NODE_FIELDS.index("end_time"))


@functools.cache
def _statement(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The SELECT's SQL for ``dialect`` and, if positional, its parameter order."""
    c = nodes.c
    raw_times = dialect.name == "sqlite"
    columns = []
    for name in NODE_FIELDS:
        if name == "metadata":
            columns.append(cast(c.metadata, Text).label(name))
        elif name == "reason":
            columns.append(null().label(name))
        elif raw_times and name in ("start_time", "end_time"):
            columns.append(type_coerce(c[name], String).label(name))
        else:
            columns.append(c[name])
    query = select(*columns).where(c.dispatch_id == bindparam("dispatch_id"))
    compiled = query.order_by(c.node_id).compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    return str(compiled), order


def _utc(value: Any) -> datetime | None:
    """A time as the driver gives it (SQLite: text in UTC) as an aware UTC datetime."""
    if value is None:
        return None
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    return found.replace(tzinfo=timezone.utc) if found.tzinfo is None else found.astimezone(UTC)


def read_nodes(conn: Connection, dispatch_id: str) -> list[NodeRecord]:
    """Every node of ``dispatch_id`` by node id, ``reason`` None and equal ``metadata``
    values one shared dict (read only). The rows come straight from the driver's cursor."""
    sql, order = _statement(conn.dialect)
    params: Any = {"dispatch_id": dispatch_id} if order is None else (dispatch_id,) * len(order)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    decoded: dict[str, dict[str, Any]] = {}
    found = []
    start, end = _TIMES
    for row in rows:
        values = list(row)
        text = values[_METADATA]
        metadata = decoded.get(text)
        if metadata is None:
            metadata = decoded[text] = json.loads(text)
        values[_METADATA] = metadata
        values[start], values[end] = _utc(values[start]), _utc(values[end])
        found.append(NodeRecord(*values))
    return found
