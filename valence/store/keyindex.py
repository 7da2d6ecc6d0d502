"""SQL for ``node_keys``: which node computed the result for a key, store-wide.

Rows are added when a task or sublattice node that *ran* completes (its Merkle
key and its data key), in the same transaction as its COMPLETED status. A
lookup joins back to ``nodes`` and ``blobs``, so it only ever returns a node
that is COMPLETED with an output blob that is still stored.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import Connection, Insert, and_, delete, select

from valence.store.bulk import insert_many
from valence.store.records import NodeRecord
from valence.store.rows import chunks, insert_ignoring_duplicates
from valence.store.tables import NODE_FIELDS, blobs, node_keys, nodes

KEY_COLUMNS = ("hash", "dispatch_id", "node_id")

_JOINED = node_keys.join(
    nodes,
    and_(nodes.c.dispatch_id == node_keys.c.dispatch_id, nodes.c.node_id == node_keys.c.node_id),
).join(blobs, blobs.c.digest == nodes.c.output_digest)
_FOUND = (
    select(node_keys.c.hash, *(nodes.c[f] for f in NODE_FIELDS))
    .select_from(_JOINED)
    .where(nodes.c.status == "COMPLETED")
)
_LOCATED = (
    select(node_keys.c.hash, node_keys.c.dispatch_id, node_keys.c.node_id)
    .select_from(_JOINED)
    .where(nodes.c.status == "COMPLETED")
)


@functools.cache
def _insert(dialect_name: str) -> Insert:
    statement = insert_ignoring_duplicates(dialect_name, node_keys)
    return statement if statement is not None else node_keys.insert()


def add_keys(conn: Connection, entries: Sequence[tuple[str, str, int]]) -> None:
    """Record ``(hash, dispatch_id, node_id)`` rows; rows already there are kept."""
    if entries:
        rows = (dict(zip(KEY_COLUMNS, entry, strict=True)) for entry in dict.fromkeys(entries))
        insert_many(conn, _insert(conn.dialect.name), KEY_COLUMNS, rows)


def find(
    conn: Connection, hashes: Iterable[str], within: Collection[str] | None
) -> dict[str, NodeRecord]:
    """For each hash with a result, the oldest-recorded COMPLETED node that computed it.

    ``within`` limits the search to those dispatch ids (None: the whole store).
    """
    wanted = sorted(set(hashes))
    found: dict[str, NodeRecord] = {}
    scope = sorted(within) if within is not None else None
    if scope == []:
        return found
    for chunk in chunks(wanted):
        query = _FOUND.where(node_keys.c.hash.in_(chunk))
        for part in chunks(scope) if scope is not None else [None]:
            limited = query if part is None else query.where(node_keys.c.dispatch_id.in_(part))
            ordered = limited.order_by(nodes.c.end_time, nodes.c.dispatch_id, nodes.c.node_id)
            for row in conn.execute(ordered):
                found.setdefault(row[0], NodeRecord(*row[1:]))
    return found


def locate(
    conn: Connection, hashes: Iterable[str], within: Collection[str] | None
) -> dict[str, tuple[str, int]]:
    """Like :func:`find`, but only ``(dispatch_id, node_id)``: no node row is decoded."""
    wanted = sorted(set(hashes))
    found: dict[str, tuple[str, int]] = {}
    scope = sorted(within) if within is not None else None
    if scope == []:
        return found
    query = _LOCATED.order_by(nodes.c.end_time, nodes.c.dispatch_id, nodes.c.node_id)
    for chunk in chunks(wanted):
        for part in chunks(scope) if scope is not None else [None]:
            limited = query.where(node_keys.c.hash.in_(chunk))
            if part is not None:
                limited = limited.where(node_keys.c.dispatch_id.in_(part))
            for hash_, dispatch_id, node_id in conn.execute(limited):
                found.setdefault(hash_, (dispatch_id, node_id))
    return found


def delete_keys(conn: Connection, dispatch_id: str) -> None:
    conn.execute(delete(node_keys).where(node_keys.c.dispatch_id == dispatch_id))


def reuse_sources(conn: Connection, dispatch_ids: Sequence[str]) -> set[str]:
    """Dispatches that nodes of ``dispatch_ids`` were reused from."""
    column = nodes.c.reused_from_dispatch
    found: set[str] = set()
    for chunk in chunks(dispatch_ids):
        query = select(column).distinct().where(nodes.c.dispatch_id.in_(chunk), column.is_not(None))
        found.update(conn.execute(query).scalars())
    return found


def sublattice_referrers(conn: Connection, run_ids: Sequence[str]) -> dict[str, set[str]]:
    """For each sublattice run, the dispatches whose nodes point at it."""
    found: dict[str, set[str]] = {run: set() for run in run_ids}
    c = nodes.c
    for chunk in chunks(list(run_ids)):
        query = select(c.sub_dispatch_id, c.dispatch_id).distinct()
        for run, referrer in conn.execute(query.where(c.sub_dispatch_id.in_(chunk))):
            found[run].add(referrer)
    return found
