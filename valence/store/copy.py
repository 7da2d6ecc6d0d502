"""Record a redispatch whose reused node rows are copied inside the database.

A node reused from the same node of the dispatch redispatched has the same row
as that node, except for who it belongs to, its times, its provenance and its
reason: ``INSERT ... SELECT`` copies such rows (and, when the graph is the same,
every edge) without moving them through Python. The caller says which nodes
qualify (:class:`RowCopy`); every other node is inserted from its record. On a
database without the JSON functions used here every node is inserted from its
record, which gives the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, or_, select

from valence.errors import StoreError
from valence.store import bulk, rows
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord
from valence.store.tables import NODE_FIELDS
from valence.store.tables import edges as edges_t
from valence.store.tables import nodes as nodes_t

if TYPE_CHECKING:
    from valence.store import Store

RANGES_PER_STATEMENT = 200
"""Node id ranges per ``INSERT ... SELECT`` (each range is two bound parameters)."""


@dataclass(frozen=True)
class RowCopy:
    """Which rows of ``previous_id`` to copy into a new dispatch.

    ``ranges`` are inclusive node id ranges: each such node is reused from the
    node with the same id of ``previous_id`` (code ``reused``) at ``when``, and
    its record equals that row in every other field. ``edges``: the new graph's
    edges equal ``previous_id``'s, in order.
    """

    previous_id: str
    ranges: tuple[tuple[int, int], ...]
    when: datetime
    edges: bool

    def covers(self) -> set[int]:
        return {i for first, last in self.ranges for i in range(first, last + 1)}


def as_ranges(ids: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Sorted, inclusive runs of consecutive ids: ``[1, 2, 3, 7]`` -> ``((1, 3), (7, 7))``."""
    found: list[tuple[int, int]] = []
    for i in sorted(ids):
        if found and found[-1][1] == i - 1:
            found[-1] = (found[-1][0], i)
        else:
            found.append((i, i))
    return tuple(found)


_JSON_OBJECT: Mapping[str, Callable[..., ColumnElement[Any]]] = {
    "sqlite": func.json_object,
    "postgresql": func.json_build_object,
}


def record_dispatch_copying(
    store: Store,
    dispatch: DispatchRecord,
    nodes: Sequence[NodeRecord],
    edges: Sequence[EdgeRecord],
    blobs: Mapping[str, bytes],
    copy: RowCopy,
) -> None:
    """:meth:`Store.record_dispatch`, with the rows ``copy`` names copied in the database."""
    json_object = _JSON_OBJECT.get(store._writer.dialect.name)
    if json_object is None:  # the same rows, inserted from the records
        store.record_dispatch(dispatch, nodes, edges, blobs)
        return
    if copy.when.tzinfo is None:
        raise ValueError("RowCopy.when must be a timezone-aware datetime")
    dispatch_id = dispatch.dispatch_id
    copied = copy.covers()
    with store._new_dispatch(dispatch, nodes, edges, blobs) as conn:
        fresh = [vars(node) for node in nodes if node.node_id not in copied]
        bulk.insert_many(conn, rows.NODE_INSERT, NODE_FIELDS, fresh)
        columns = _copied_node_columns(dispatch_id, copy, json_object)
        for start in range(0, len(copy.ranges), RANGES_PER_STATEMENT):
            chunk = copy.ranges[start : start + RANGES_PER_STATEMENT]
            within = or_(*(nodes_t.c.node_id.between(first, last) for first, last in chunk))
            source = select(*columns).where(nodes_t.c.dispatch_id == copy.previous_id, within)
            conn.execute(nodes_t.insert().from_select(NODE_FIELDS, source))
        # counted, not taken from rowcount: psycopg reports -1 for INSERT ... SELECT
        mine = nodes_t.c.dispatch_id == dispatch_id
        inserted = conn.execute(select(func.count()).where(mine)).scalar_one() - len(fresh)
        if inserted != len(copied):  # e.g. the previous dispatch was deleted meanwhile
            raise StoreError(
                f"dispatch {copy.previous_id!r} no longer has the {len(copied)} node rows "
                f"dispatch {dispatch_id!r} reuses ({inserted} found); plan the redispatch again"
            )
        if copy.edges:
            names = [c.name for c in edges_t.c]
            edge_cols = [
                literal(dispatch_id) if n == "dispatch_id" else edges_t.c[n] for n in names
            ]
            source = select(*edge_cols).where(edges_t.c.dispatch_id == copy.previous_id)
            conn.execute(edges_t.insert().from_select(names, source))
        else:
            rows.insert_edges(conn, edges)


def _copied_node_columns(
    dispatch_id: str, copy: RowCopy, json_object: Callable[..., ColumnElement[Any]]
) -> list[Any]:
    """The SELECT list that turns a node row of ``copy.previous_id`` into the reused row."""
    c = nodes_t.c
    computed_in = case(
        (
            and_(c.reused_from_dispatch.is_not(None), c.reused_from_dispatch != ""),
            literal(" (computed in ") + func.substr(c.reused_from_dispatch, 1, 8) + literal(")"),
        ),
        else_=literal(""),
    )
    text = (
        literal("same key as node ")
        + cast(c.node_id, String)
        + literal(f" of {copy.previous_id[:8]}")
        + computed_in
    )
    reason = json_object(
        literal("decision"),
        literal("reuse"),
        literal("code"),
        literal("reused"),
        literal("text"),
        text,
    )
    overrides: dict[str, Any] = {
        "dispatch_id": literal(dispatch_id),
        "status": literal("COMPLETED"),
        "start_time": literal(copy.when, c.start_time.type),
        "end_time": literal(copy.when, c.end_time.type),
        "error": literal(None, c.error.type),
        "traceback": literal(None, c.traceback.type),
        "attempts": literal(0),
        "reused_from_dispatch": literal(copy.previous_id),
        "reused_from_node": c.node_id,
        "reason": reason,
    }
    return [overrides.get(name, c[name]) for name in NODE_FIELDS]
