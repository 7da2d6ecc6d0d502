"""Which stored outputs a reuse may serve: the integrity check, with the hashing in SQL.

An inline blob is intact exactly when the sha256 of its bytes is its digest. The
database computes that hash (PostgreSQL's ``sha256``; on SQLite a function this
module registers on the connection), so a row proven intact there never travels
to Python. Every other row (a file blob, a damaged or unhashable inline row) is
returned whole for :class:`valence.store.Store` to judge by reading it as any
read does. A digest with no row is missing. On other databases every row is
returned, and judged in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
    union,
)
from sqlalchemy.sql.elements import ColumnElement

from valence.store.rows import chunks
from valence.store.tables import blobs, dispatches, nodes

SQLITE_SHA256 = "valence_sha256"


def _sqlite_sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def sha256_hex(conn: Connection, column: Any) -> ColumnElement[Any] | None:
    """The lowercase hex sha256 of a binary ``column``, computed by the database; None if
    the dialect cannot (then the caller hashes in Python)."""
    name = conn.dialect.name
    if name == "postgresql":
        return func.encode(func.sha256(column), literal("hex"))
    if name == "sqlite":
        driver = conn.connection.driver_connection
        if driver is None:
            raise RuntimeError("the SQLite connection has no driver connection to hash with")
        driver.create_function(SQLITE_SHA256, 1, _sqlite_sha256, deterministic=True)
        hashed: ColumnElement[Any] = getattr(func, SQLITE_SHA256)(column)
        return hashed
    return None


def _proven(conn: Connection) -> ColumnElement[bool] | None:
    """A condition on ``blobs``: an inline row whose bytes hash to its digest, checked by
    the database; None if it cannot hash."""
    c = blobs.c
    hashed = sha256_hex(conn, c.data)
    if hashed is None:
        return None
    return and_(c.location == "inline", c.data.is_not(None), hashed == c.digest)


def _judged(conn: Connection, wanted: ColumnElement[bool]) -> Select[Any]:
    """``digest, location, size, data`` of the blob rows ``wanted`` selects, with ``data``
    null and ``location`` "intact" where the database proved an inline row intact."""
    c = blobs.c
    proven = _proven(conn)
    if proven is None:
        return select(c.digest, c.location, c.size, c.data).where(wanted)
    location = case((proven, literal("intact")), else_=c.location)
    data = case((proven, null()), else_=c.data)
    return select(c.digest, location.label("location"), c.size, data.label("data")).where(wanted)


def rows_for(conn: Connection, digests: Sequence[str]) -> Iterator[Any]:
    """The judged rows (see :func:`_judged`) of those ``digests`` that are stored."""
    for chunk in chunks(digests):
        yield from conn.execute(_judged(conn, blobs.c.digest.in_(chunk))).all()


def dispatch_outputs(dispatch_id: str) -> Any:
    """A subquery of the distinct digests a dispatch's nodes output, and its result."""
    n, d = nodes.c, dispatches.c
    outputs = select(n.output_digest.label("digest")).where(
        n.dispatch_id == dispatch_id, n.output_digest.is_not(None)
    )
    result = select(d.result_digest.label("digest")).where(
        d.dispatch_id == dispatch_id, d.result_digest.is_not(None)
    )
    return union(outputs, result).subquery()


def dispatch_rows(conn: Connection, dispatch_id: str) -> list[Any]:
    """``digest, location, size, data`` of a dispatch's outputs and result that the database
    did not prove intact, in one scan of its nodes; ``location`` is None where no row is."""
    c = blobs.c
    wanted = dispatch_outputs(dispatch_id)
    joined = wanted.outerjoin(blobs, c.digest == wanted.c.digest)
    query = select(wanted.c.digest, c.location, c.size, c.data).select_from(joined)
    proven = _proven(conn)
    if proven is not None:  # a left-joined miss has null columns: keep it explicitly
        query = query.where(or_(c.digest.is_(None), ~proven))
    return list(conn.execute(query).all())
