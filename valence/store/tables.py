"""SQLAlchemy Core tables: ``dispatches``, ``nodes``, ``edges`` and ``blobs``.

Columns mirror the records in :mod:`valence.store.records` field for field and in
the same order, so a row selected with :data:`DISPATCH_FIELDS` or
:data:`NODE_FIELDS` maps positionally onto its record. Only portable types are
used (SQLite and PostgreSQL): ``JSON`` for dicts, ``Text`` for long strings,
``LargeBinary`` for inline blobs and :class:`UTCDateTime` for times.

This module describes the *current* schema; the database itself is created and
changed only by the Alembic revisions in ``migrations/versions``. A test checks
that both agree.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC and always read back as aware UTC.

    SQLite keeps no offset, so values are converted to UTC before binding and
    tagged UTC after loading. Naive datetimes are refused: their zone is unknown.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware times")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _json() -> JSON:
    return JSON(none_as_null=True)


dispatches = Table(
    "dispatches",
    metadata,
    Column("dispatch_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("status", String, nullable=False),
    Column("root_dispatch_id", String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lattice_digest", String),
    Column("lattice_source", Text, nullable=False),
    Column("inputs_digest", String),
    Column("graph", _json(), nullable=False),
    Column("parent_dispatch_id", String),
    Column("parent_node_id", Integer),
    Column("redispatched_from", String),
    Column("start_time", UTCDateTime),
    Column("end_time", UTCDateTime),
    Column("result_digest", String),
    Column("error", Text),
    Column("python_version", String, nullable=False),
    Column("environment", _json(), nullable=False),
    Column("metadata", _json(), nullable=False),
    Column("owner", String),
    Index(None, "created_at"),
    Index(None, "status"),
    Index(None, "redispatched_from"),
    Index(None, "parent_dispatch_id"),
)

nodes = Table(
    "nodes",
    metadata,
    Column(
        "dispatch_id",
        String,
        ForeignKey("dispatches.dispatch_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("node_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("status", String, nullable=False),
    Column("key", String),
    Column("not_reusable", Text),
    Column("function_digest", String),
    Column("source_digest", String),
    Column("value_digest", String),
    Column("metadata", _json(), nullable=False),
    Column("executor", String),
    Column("start_time", UTCDateTime),
    Column("end_time", UTCDateTime),
    Column("output_digest", String),
    Column("stdout", Text, nullable=False),
    Column("stderr", Text, nullable=False),
    Column("error", Text),
    Column("traceback", Text),
    Column("attempts", Integer, nullable=False),
    Column("sub_dispatch_id", String),
    Column("reused_from_dispatch", String),
    Column("reused_from_node", Integer),
    Column("reason", _json()),
)

# Edges keep the order they were given in: (dispatch_id, edge_index) is the key,
# whose leading column also serves lookups by dispatch.
edges = Table(
    "edges",
    metadata,
    Column(
        "dispatch_id",
        String,
        ForeignKey("dispatches.dispatch_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("edge_index", Integer, primary_key=True, autoincrement=False),
    Column("parent_id", Integer, nullable=False),
    Column("child_id", Integer, nullable=False),
    Column("edge_name", String, nullable=False),
    Column("param_type", String, nullable=False),
    Column("arg_index", Integer),
)

# Keys (Merkle and data keys) of task and sublattice nodes that ran to completion:
# the index behind reuse from the whole store and early cutoff. Reused nodes get
# no rows (their source has one), so copying a reused dispatch costs nothing here.
node_keys = Table(
    "node_keys",
    metadata,
    Column("hash", String, primary_key=True),
    Column(
        "dispatch_id",
        String,
        ForeignKey("dispatches.dispatch_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("node_id", Integer, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,  # the primary key is the only B-tree: one insert per row
)

# location is "inline" (bytes in ``data``) or "file" (bytes under the blob dir).
blobs = Table(
    "blobs",
    metadata,
    Column("digest", String, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("location", String, nullable=False),
    Column("data", LargeBinary),
)

blob_data = Table(  # large blobs when the blob store is the database (``db://``)
    "blob_data",
    metadata,
    Column("digest", String, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

DISPATCH_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DispatchRecord))
NODE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(NodeRecord))
EDGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EdgeRecord))

# Columns that name blobs: a blob is referenced while any of these holds its digest.
DIGEST_COLUMNS: tuple[Column[Any], ...] = (
    dispatches.c.lattice_digest,
    dispatches.c.inputs_digest,
    dispatches.c.result_digest,
    nodes.c.function_digest,
    nodes.c.source_digest,
    nodes.c.value_digest,
    nodes.c.output_digest,
)

# JSON columns that may hold digests (the engine keeps e.g. ``graph["output_digest"]``
# and ``metadata["replacements_digest"]`` there); garbage collection scans them.
JSON_REFERENCE_COLUMNS: tuple[Column[Any], ...] = (
    dispatches.c.graph,
    dispatches.c["metadata"],
    nodes.c["metadata"],
)

# Triggers registered for a dispatch (``valence.triggers``): the trigger pickled by
# value, whether it still observes, which dispatcher runs it, and what it started.
triggers = Table(
    "triggers",
    metadata,
    Column("trigger_id", Integer, primary_key=True, autoincrement=True),
    Column("dispatch_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("spec", LargeBinary, nullable=False),
    Column("status", String, nullable=False),
    Column("owner", String),
    Column("created_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    Column("fired", Integer, nullable=False),
    Column("new_dispatch_ids", _json(), nullable=False),
    Column("last_error", Text),
    Index(None, "dispatch_id"),
    Index(None, "status"),
)

# Dispatcher processes sharing one store: each renews its row (``beats`` grows) while it
# runs; peers on other hosts judge it dead when its count stops growing for a lease.
dispatchers = Table(
    "dispatchers",
    metadata,
    Column("owner", String, primary_key=True),
    Column("host", String, nullable=False),
    Column("beats", BigInteger, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
)
