"""SQL building blocks behind :class:`valence.store.Store`: selects, batched updates, GC.

Everything here works on a Core ``Connection`` and plain dicts, so that a batch of
thousands of rows costs one ``executemany`` per distinct column set, not one
statement (or ORM object) per row.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Insert,
    Table,
    null,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from valence.store.blobs import is_digest
from valence.store.bulk import insert_many, insert_tuples, update_many
from valence.store.records import EdgeRecord
from valence.store.tables import (
    DIGEST_COLUMNS,
    DISPATCH_FIELDS,
    EDGE_FIELDS,
    JSON_REFERENCE_COLUMNS,
    NODE_FIELDS,
    blobs,
    dispatches,
    edges,
    nodes,
)

CHUNK = 500
"""Most values bound in one ``IN (...)`` list (old SQLite allows 999 in all)."""

NODE_INSERT = nodes.insert()
EDGE_INSERT = edges.insert()
EDGE_COLUMNS = ("edge_index", *EDGE_FIELDS)
BLOB_COLUMNS = ("digest", "size", "location", "data")

# Columns in record field order: ``Record(*row)`` builds a record without dict lookups.
DISPATCH_SELECT = select(*(dispatches.c[f] for f in DISPATCH_FIELDS))
NODE_SELECT = select(*(nodes.c[f] for f in NODE_FIELDS))
STREAMS = ("stdout", "stderr")
NODE_SELECT_NO_STREAMS = select(  # the same, with null for the captured stdout/stderr
    *(null().label(f) if f in STREAMS else nodes.c[f] for f in NODE_FIELDS)
)
EDGE_SELECT = select(*(edges.c[f] for f in EDGE_FIELDS))

Target = Any  # a hashable tuple naming one row: (dispatch_id,) or (dispatch_id, node_id)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


@functools.cache
def insert_ignoring_duplicates(dialect_name: str, table: Table) -> Insert | None:
    """``INSERT ... ON CONFLICT DO NOTHING`` for dialects that have it, else None."""
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    return None


@functools.cache
def insert_or_repair_blobs(dialect_name: str) -> Insert | None:
    """``INSERT`` into ``blobs`` that keeps an intact stored row and rewrites a damaged one.

    On a digest already stored, the inline bytes are replaced only when they
    differ (equal digests mean equal bytes, so they differ only when damaged).
    None for dialects without ``ON CONFLICT``.
    """
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:
        return None
    statement = insert(blobs)
    return statement.on_conflict_do_update(
        index_elements=[blobs.c.digest],
        set_={"data": statement.excluded.data},
        where=blobs.c.data.is_distinct_from(statement.excluded.data),
    )


def insert_blobs(conn: Connection, blob_rows: list[dict[str, Any]]) -> None:
    """Insert rows into ``blobs``: new digests added, damaged inline copies rewritten."""
    if not blob_rows:
        return
    statement = insert_or_repair_blobs(conn.dialect.name)
    if statement is None:
        insert_missing(conn, blobs, blobs.c.digest, blob_rows)
    else:
        insert_many(conn, statement, BLOB_COLUMNS, blob_rows)


def insert_edges(conn: Connection, edges: Sequence[EdgeRecord]) -> None:
    """Insert a dispatch's edges, numbered in their order (arguments keep their order)."""
    fields = operator.attrgetter(*EDGE_FIELDS)
    insert_tuples(conn, EDGE_INSERT, EDGE_COLUMNS, [(i, *fields(e)) for i, e in enumerate(edges)])


def insert_missing(
    conn: Connection, table: Table, key: Column[Any], new_rows: list[dict[str, Any]]
) -> None:
    """Portable fallback: insert those of ``new_rows`` whose ``key`` is not yet stored."""
    by_key = {row[key.name]: row for row in new_rows}
    keys = list(by_key)
    for chunk in chunks(keys):
        for existing in conn.execute(select(key).where(key.in_(chunk))).scalars():
            by_key.pop(existing, None)
    if by_key:
        conn.execute(table.insert(), list(by_key.values()))  # plain Core: rare path


def merge_changes(changes: Iterable[tuple[Target, dict[str, Any]]]) -> dict[Target, dict[str, Any]]:
    """One field dict per target, applying the changes in order (later values win)."""
    merged: dict[Target, dict[str, Any]] = {}
    for target, change in changes:
        if target in merged:
            merged[target].update(change)
        else:
            merged[target] = dict(change)
    return {target: change for target, change in merged.items() if change}


def check_fields(kind: str, changes: dict[Target, dict[str, Any]], allowed: frozenset[str]) -> None:
    """ValueError naming the first change that sets a field outside ``allowed``."""
    for target, change in changes.items():
        if not allowed.issuperset(change):
            raise ValueError(
                f"{kind} {target!r}: cannot change field(s) {sorted(change.keys() - allowed)}; "
                f"changeable {kind} fields are {sorted(allowed)}"
            )


def apply_updates(
    conn: Connection,
    table: Table,
    keys: Sequence[Column[Any]],
    changes: dict[Target, dict[str, Any]],
) -> list[Target]:
    """Apply ``changes`` with one executemany per field set; return targets not found."""
    groups: dict[tuple[str, ...], list[tuple[Target, dict[str, Any]]]] = {}
    field_sets: dict[tuple[str, ...], tuple[str, ...]] = {}  # as given -> sorted
    for target, change in changes.items():
        given = tuple(change)
        fields = field_sets.get(given)
        if fields is None:
            fields = field_sets[given] = tuple(sorted(given))
        groups.setdefault(fields, []).append((target, change))
    matched = 0
    for fields, pairs in groups.items():
        matched += update_many(conn, table, keys, fields, pairs)
    if matched == len(changes) or not conn.dialect.supports_sane_multi_rowcount:
        return []
    return [target for target in changes if not _exists(conn, keys, target)]


def _exists(conn: Connection, keys: Sequence[Column[Any]], target: Target) -> bool:
    query = select(keys[0]).where(*(col == value for col, value in zip(keys, target, strict=True)))
    return conn.execute(query).first() is not None


def unreferenced() -> ColumnElement[bool]:
    """A condition on ``blobs``: no digest column of a dispatch or node names this blob."""
    references = union_all(
        *(select(column.label("digest")).where(column.is_not(None)) for column in DIGEST_COLUMNS)
    )
    return blobs.c.digest.not_in(references)


def unreferenced_digests(conn: Connection, among: Iterable[str] | None = None) -> set[str]:
    """Stored blobs (of ``among``, if given) that nothing in the database refers to.

    Besides the digest columns, any digest-shaped string inside the JSON columns
    of :data:`JSON_REFERENCE_COLUMNS` counts as a reference (the engine keeps some
    there), so collection errs towards keeping a blob.
    """
    query = select(blobs.c.digest).where(unreferenced())
    if among is None:
        found = set(conn.execute(query).scalars())
    else:
        found = set()
        for chunk in chunks(sorted(among)):
            found.update(conn.execute(query.where(blobs.c.digest.in_(chunk))).scalars())
    if found:
        found -= json_references(conn)
    return found


def json_references(conn: Connection) -> set[str]:
    """Every digest-shaped string (key or value, at any depth) in the JSON reference columns."""
    refs: set[str] = set()
    for column in JSON_REFERENCE_COLUMNS:
        query = select(column).where(column.is_not(None))
        for value in conn.execute(query).scalars():
            _collect_digests(value, refs)
    return refs


def _collect_digests(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        if is_digest(value):
            out.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect_digests(key, out)
            _collect_digests(item, out)
    elif isinstance(value, list):
        for item in value:
            _collect_digests(item, out)
