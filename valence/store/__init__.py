"""The durable store: dispatch, node and edge rows plus content-addressed blobs.

:class:`Store` speaks the domain (``record_dispatch``, ``record_transitions``,
``get_nodes``, ...); nothing outside this package sees SQL. Each write method is
one transaction, and the blobs handed to it are stored in the same call (files
first, then rows), so rows and the values they name become durable together.
Bad input raises before anything is written.

One instance is meant to be shared by one writer thread and many readers; other
processes may open the same database at the same time (SQLite in WAL mode).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    func,
    literal,
    make_url,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError

from valence.errors import (
    BlobCorruptError,
    BlobMissingError,
    DispatchNotFoundError,
    NodeNotFoundError,
    StoreDamagedError,
    StoreError,
    StoreWriteError,
    ValenceError,
)
from valence.gcpause import gc_paused
from valence.ids import normalise_prefix
from valence.status import TERMINAL
from valence.store import bulk, fsck, intact, keyindex, migrate, planning, rows, sqlite_schema
from valence.store.blobs import (
    DATABASE_URL,
    INLINE_LIMIT,
    BlobFiles,
    DatabaseBlobFiles,
    LocalBlobFiles,
    check_digest,
    corrupt,
    digest_of,
    open_blob_files,
    open_store_blobs,
    stage_blobs,
)
from valence.store.connect import (
    WRITE_OPTION,
    create_store_engine,
    damaged_error,
    describe,
    sqlite_file,
)
from valence.store.fsck import FsckReport
from valence.store.lease_rows import LeaseRows
from valence.store.records import (
    DISPATCH_MUTABLE_FIELDS,
    NODE_MUTABLE_FIELDS,
    DispatchRecord,
    EdgeRecord,
    NodeRecord,
)
from valence.store.tables import NODE_FIELDS
from valence.store.tables import blobs as blobs_t
from valence.store.tables import dispatches as dispatches_t
from valence.store.tables import edges as edges_t
from valence.store.tables import nodes as nodes_t
from valence.store.trigger_rows import TriggerRows
from valence.workflow.graph import TASK_KINDS

__all__ = ["INLINE_LIMIT", "NodeNotFoundError", "Store"]


_NO_BLOBS: Mapping[str, bytes] = {}


class Store(TriggerRows, LeaseRows):
    """Rows and blobs of every dispatch, in one SQL database and one blob store.

    ``where`` is the database URL as shown to users (no password);
    ``blob_location`` where large blobs live (a directory, an fsspec URL, or
    ``db://``); ``blob_dir`` that directory when it is one on this machine, else None.
    """

    def __init__(self, engine: Engine, blobs: BlobFiles | str | os.PathLike[str]) -> None:
        """Wrap an engine whose schema is current; use :meth:`open` instead."""
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        files = blobs if isinstance(blobs, BlobFiles) else open_store_blobs(blobs, engine)
        self._files = files
        self.where = describe(engine.url)
        self.blob_location = files.location
        self.blob_dir = files.root if isinstance(files, LocalBlobFiles) else None

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, blobs: str | os.PathLike[str]) -> Store:
        """Open (creating and migrating if needed) the store at ``url`` and ``blobs``.

        ``blobs`` is a directory or a URL (see :mod:`valence.blobfiles`); a URL
        that cannot be used raises ConfigError (unknown protocol, missing
        package) or StoreError (unreachable), before anything is written.
        A new SQLite file is built under a temporary name and linked into place
        complete (schema, WAL mode), so processes opening a new store at once
        never see it half made; an empty or damaged file raises StoreDamagedError.
        """
        located = os.fspath(blobs)
        files = None if located == DATABASE_URL else checked_blob_store(located)
        path = sqlite_file(url)
        if path is not None:
            create_sqlite_file(url, path)
            if path.stat().st_size == 0:
                raise StoreDamagedError(
                    f"the valence database {path} is empty (0 bytes): it was truncated or "
                    "replaced, and the dispatches it recorded are gone. Restore it from a "
                    "backup, or move it away to start an empty store (the blobs in "
                    f"{located} stay)"
                )
        engine = create_store_engine(url)
        try:
            migrate.ensure_schema(engine)
        except sqlite3.DatabaseError as exc:  # raised while connecting, before SQLAlchemy
            engine.dispose()
            raise damaged_error(path or Path(url), str(exc)) from exc
        except BaseException:
            engine.dispose()
            raise
        if files is None:
            files = DatabaseBlobFiles(engine)
        return cls(engine, files)

    def close(self) -> None:
        """Release every database connection. Closing twice is harmless."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.where!r}, blobs={self.blob_location!r})"

    def fsck(self) -> FsckReport:
        """Check the database's integrity and every blob (see :mod:`valence.store.fsck`)."""
        return fsck.check(self, self._engine)

    def schema_revision(self) -> str:
        """The Alembic revision the database is at."""
        with self._engine.connect() as conn:
            return migrate.read_revision(conn) or ""

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; a value SQLAlchemy could not bind raises as itself.

        A database that refuses the write (full disk, I/O error) raises StoreWriteError.
        """
        try:
            with self._writer.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise self._write_error(exc.orig or exc) from exc
        except StatementError as exc:
            if isinstance(exc, DBAPIError) or not isinstance(exc.orig, (ValueError, TypeError)):
                raise
            raise exc.orig from exc

    def _stage(self, blobs: Mapping[str, bytes]) -> list[dict[str, Any]]:
        """Write the large blobs' files; a file system that refuses raises StoreWriteError."""
        try:
            return stage_blobs(self._files, blobs)
        except OSError as exc:
            raise self._write_error(exc) from exc

    def _write_error(self, exc: BaseException) -> StoreWriteError:
        return StoreWriteError(
            f"cannot write to the valence store {self.where} (blobs in {self.blob_location}): "
            f"{type(exc).__name__}: {exc}; free space on that file system (or repair it) "
            "and try again"
        )

    # -- blobs -------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` (a no-op if already stored) and return its digest."""
        digest = digest_of(data)
        self._put_blobs({digest: data})
        return digest

    def get_blob(self, digest: str) -> bytes:
        """The bytes stored under ``digest``; BlobMissingError if there are none."""
        return self.get_blobs([digest])[digest]

    def get_blobs(self, digests: Iterable[str]) -> dict[str, bytes]:
        """Several blobs, read with one query per few hundred, each checked against its digest.

        BlobMissingError if any is absent, BlobCorruptError if any is damaged.
        """
        wanted = list(dict.fromkeys(digests))
        found: dict[str, bytes] = {}
        for row in self._blob_rows(wanted):
            found[row.digest] = self._row_bytes(row)
        missing = [digest for digest in wanted if digest not in found]
        if missing:
            raise BlobMissingError(
                f"no blob {missing[0]} in {self.where}; "
                "it was never stored or was garbage-collected"
            )
        return found

    def blob_problems(self, digests: Iterable[str]) -> dict[str, str]:
        """Which of ``digests`` cannot be read intact: digest -> "missing" or "damaged".

        The database hashes inline rows (:mod:`valence.store.intact`); file blobs
        and rows it could not prove intact are read and checked as any read is.
        """
        wanted = list(dict.fromkeys(d for d in digests if d))
        for digest in wanted:
            check_digest(digest)
        problems = dict.fromkeys(wanted, "missing")
        with self._engine.connect() as conn:
            found = list(intact.rows_for(conn, wanted))
        for row in found:
            del problems[row.digest]
            if row.location != "intact":
                problems.update(self._judge(row))
        return problems

    def output_problems(self, dispatch_id: str) -> dict[str, str]:
        """:meth:`blob_problems` of a dispatch's result and node outputs, in one query."""
        with self._engine.connect() as conn:
            suspects = intact.dispatch_rows(conn, dispatch_id)
        problems: dict[str, str] = {}
        for row in suspects:
            problems.update({row.digest: "missing"} if row.location is None else self._judge(row))
        return problems

    def _judge(self, row: Any) -> dict[str, str]:
        """{digest: "damaged" or "missing"} for a blob row that cannot be read intact, else {}."""
        try:
            self._row_bytes(row)
        except BlobCorruptError:
            return {row.digest: "damaged"}
        except BlobMissingError:
            return {row.digest: "missing"}
        return {}

    def _blob_rows(self, wanted: list[str]) -> Iterator[Any]:
        for digest in wanted:
            check_digest(digest)
        c = blobs_t.c
        query = select(c.digest, c.location, c.size, c.data)
        with self._engine.connect() as conn:
            for chunk in rows.chunks(wanted):
                yield from conn.execute(query.where(c.digest.in_(chunk))).all()

    def _row_bytes(self, row: Any) -> bytes:
        if row.location == "file":
            return self._files.read(row.digest, row.size)
        data = bytes(row.data)
        if digest_of(data) != row.digest:
            raise corrupt(row.digest, f"its row in {self.where}")
        return data

    def stored_digests(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` that have a stored blob (one query per few hundred)."""
        wanted = sorted(set(digests))
        found: set[str] = set()
        with self._engine.connect() as conn:
            for chunk in rows.chunks(wanted):
                query = select(blobs_t.c.digest).where(blobs_t.c.digest.in_(chunk))
                found.update(conn.execute(query).scalars())
        return found

    def has_blob(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        check_digest(digest)
        query = select(blobs_t.c.digest).where(blobs_t.c.digest == digest)
        with self._engine.connect() as conn:
            return conn.execute(query).first() is not None

    def _put_blobs(self, blobs: Mapping[str, bytes]) -> None:
        blob_rows = self._stage(blobs)
        with self._write() as conn:
            rows.insert_blobs(conn, blob_rows)

    # -- writes ------------------------------------------------------------------------

    def record_dispatch(
        self,
        dispatch: DispatchRecord,
        nodes: Sequence[NodeRecord],
        edges: Sequence[EdgeRecord],
        blobs: Mapping[str, bytes] = _NO_BLOBS,
    ) -> None:
        """Record a new dispatch with its whole graph and the blobs it needs."""
        with self._new_dispatch(dispatch, nodes, edges, blobs) as conn:
            bulk.insert_many(conn, rows.NODE_INSERT, NODE_FIELDS, map(vars, nodes))
            rows.insert_edges(conn, edges)

    @contextmanager
    def _new_dispatch(
        self,
        dispatch: DispatchRecord,
        nodes: Sequence[NodeRecord],
        edges: Sequence[EdgeRecord],
        blobs: Mapping[str, bytes],
    ) -> Iterator[Connection]:
        """The write transaction of a new dispatch, its blobs and dispatch row written.

        Refuses records of another dispatch and an id already recorded; the caller
        writes the node and edge rows on the connection it is given (with the
        cyclic garbage collector paused: a large graph's rows are many objects).
        """
        dispatch_id = dispatch.dispatch_id
        records: Iterable[NodeRecord | EdgeRecord] = itertools.chain(nodes, edges)
        for record in records:
            if record.dispatch_id != dispatch_id:
                raise ValueError(
                    f"{type(record).__name__} of dispatch {record.dispatch_id!r} given "
                    f"with dispatch {dispatch_id!r}"
                )
        with gc_paused():
            blob_rows = self._stage(blobs)
            with self._write() as conn:
                if self._dispatch_exists(conn, dispatch_id):
                    raise StoreError(
                        f"dispatch {dispatch_id!r} is already recorded in {self.where}; "
                        "a new dispatch needs a new id"
                    )
                rows.insert_blobs(conn, blob_rows)
                conn.execute(dispatches_t.insert(), vars(dispatch))
                yield conn

    def record_reused_dispatch(
        self, dispatch: DispatchRecord, source_id: str, *, when: datetime, reason: dict[str, Any]
    ) -> None:
        """Record ``dispatch`` as a copy of ``source_id`` in which every node is reused.

        Node and edge rows are copied inside the database (no values move): each
        node is COMPLETED at ``when`` with the source's output blob, provenance
        pointing at the same node of ``source_id``, and ``reason``.
        """
        if when.tzinfo is None:
            raise ValueError("when must be a timezone-aware datetime")
        new_id = dispatch.dispatch_id
        overrides = {
            "dispatch_id": literal(new_id),
            "status": literal("COMPLETED"),
            "start_time": literal(when, nodes_t.c.start_time.type),
            "end_time": literal(when, nodes_t.c.end_time.type),
            "reused_from_dispatch": literal(source_id),
            "reused_from_node": nodes_t.c.node_id,
            "reason": literal(reason, nodes_t.c.reason.type),
        }
        node_cols = [overrides.get(name, nodes_t.c[name]) for name in NODE_FIELDS]
        edge_names = [c.name for c in edges_t.c]
        edge_cols = [literal(new_id) if n == "dispatch_id" else edges_t.c[n] for n in edge_names]
        with self._write() as conn:
            if not self._dispatch_exists(conn, source_id):
                raise self._not_found(source_id)
            if self._dispatch_exists(conn, new_id):
                raise StoreError(f"dispatch {new_id!r} is already recorded in {self.where}")
            conn.execute(dispatches_t.insert(), vars(dispatch))
            source_nodes = select(*node_cols).where(nodes_t.c.dispatch_id == source_id)
            conn.execute(nodes_t.insert().from_select(list(NODE_FIELDS), source_nodes))
            source_edges = select(*edge_cols).where(edges_t.c.dispatch_id == source_id)
            conn.execute(edges_t.insert().from_select(edge_names, source_edges))

    def unreusable_node_count(self, dispatch_id: str) -> int:
        """Nodes of a dispatch that are not COMPLETED with a key and an output, or not reusable."""
        c = nodes_t.c
        blocked = or_(
            c.status != "COMPLETED",
            c.key.is_(None),
            c.output_digest.is_(None),
            c.not_reusable.is_not(None),  # a sublattice that ran a task without a key
        )
        query = select(func.count()).where(c.dispatch_id == dispatch_id, blocked)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def record_transitions(
        self,
        *,
        nodes: Sequence[tuple[str, int, dict[str, Any]]] = (),
        dispatches: Sequence[tuple[str, dict[str, Any]]] = (),
        blobs: Mapping[str, bytes] = _NO_BLOBS,
        keys: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        """Apply field changes to nodes and dispatches, in order, in one transaction.

        ``nodes`` holds ``(dispatch_id, node_id, {field: value})`` with fields from
        ``NODE_MUTABLE_FIELDS``; ``dispatches`` holds ``(dispatch_id, {field: value})``
        with fields from ``DISPATCH_MUTABLE_FIELDS``. Several changes to one target
        are merged, later ones winning. Unknown fields raise ValueError and a target
        that does not exist raises StoreError; either way nothing is written.
        """
        node_changes = rows.merge_changes(((d, n), c) for d, n, c in nodes)
        dispatch_changes = rows.merge_changes(((d,), c) for d, c in dispatches)
        rows.check_fields("node", node_changes, NODE_MUTABLE_FIELDS)
        rows.check_fields("dispatch", dispatch_changes, DISPATCH_MUTABLE_FIELDS)
        if not (node_changes or dispatch_changes or blobs or keys):
            return
        blob_rows = self._stage(blobs)
        with self._write() as conn:
            rows.insert_blobs(conn, blob_rows)
            missing = rows.apply_updates(conn, nodes_t, _NODE_KEY, node_changes)
            missing += rows.apply_updates(conn, dispatches_t, _DISPATCH_KEY, dispatch_changes)
            keyindex.add_keys(conn, keys)
            if missing:
                shown = ", ".join(repr(target) for target in missing[:5])
                raise StoreError(
                    f"{len(missing)} transition(s) name no recorded node or dispatch "
                    f"(e.g. {shown}) in {self.where}; nothing was written"
                )

    def claim_dispatch(
        self, dispatch_id: str, owner: str | None, *, expected_owner: str | None
    ) -> bool:
        """Set the dispatch's owner to ``owner`` if it is ``expected_owner``; say if it was."""
        current = dispatches_t.c.owner
        condition = current.is_(None) if expected_owner is None else current == expected_owner
        statement = (
            update(dispatches_t)
            .where(dispatches_t.c.dispatch_id == dispatch_id, condition)
            .values(owner=owner)
        )
        with self._write() as conn:
            if conn.execute(statement).rowcount == 1:
                return True
            if not self._dispatch_exists(conn, dispatch_id):
                raise self._not_found(dispatch_id)
            return False

    def delete_dispatch(self, dispatch_id: str) -> None:
        """Delete a dispatch with its nodes and edges (its blobs stay until collected)."""
        with self._write() as conn:
            if not _delete_rows(conn, dispatch_id):
                raise self._not_found(dispatch_id)

    def blobs_freed_by(self, dispatch_ids: Sequence[str]) -> int:
        """How many blobs collection would delete once these dispatches are gone.

        Computed by deleting their rows in a transaction that is rolled back:
        nothing changes.
        """
        with self._writer.connect() as conn:
            transaction = conn.begin()
            try:
                for dispatch_id in dispatch_ids:
                    _delete_rows(conn, dispatch_id)
                return len(rows.unreferenced_digests(conn))
            finally:
                transaction.rollback()

    def unreferenced_blobs(self) -> list[str]:
        """Digests of stored blobs that no dispatch or node refers to, sorted."""
        with self._engine.connect() as conn:
            return sorted(rows.unreferenced_digests(conn))

    def delete_blobs(self, digests: Iterable[str]) -> int:
        """Delete those of ``digests`` that are stored and still unreferenced; count them.

        Run it while no dispatch is being recorded: a blob that a concurrent
        writer found already stored (and so did not rewrite) may be collected.
        """
        wanted = {check_digest(d) for d in digests}
        if not wanted:
            return 0
        files: list[str] = []
        with self._write() as conn:
            doomed = sorted(rows.unreferenced_digests(conn, wanted))
            for chunk in rows.chunks(doomed):
                where = blobs_t.c.digest.in_(chunk)
                located = select(blobs_t.c.digest).where(where, blobs_t.c.location == "file")
                files += conn.execute(located).scalars()
                conn.execute(delete(blobs_t).where(where))
        for digest in files:  # after commit: a row never outlives its file
            self._files.delete(digest)
        return len(doomed)

    # -- reads -------------------------------------------------------------------------

    def find_completed(
        self, hashes: Iterable[str], within: Iterable[str] | None = None
    ) -> dict[str, NodeRecord]:
        """For each of ``hashes`` (Merkle or data keys), a node that ran and computed it.

        Only nodes that are COMPLETED with their output blob still stored are
        returned; ``within`` limits the search to those dispatch ids.
        """
        scope = None if within is None else set(within)
        with self._engine.connect() as conn:
            return keyindex.find(conn, hashes, scope)

    def locate_completed(
        self, hashes: Iterable[str], within: Iterable[str] | None = None
    ) -> dict[str, tuple[str, int]]:
        """:meth:`find_completed` as ``(dispatch_id, node_id)`` only (no rows decoded)."""
        scope = None if within is None else set(within)
        with self._engine.connect() as conn:
            return keyindex.locate(conn, hashes, scope)

    def reuse_sources(self, dispatch_ids: Iterable[str]) -> set[str]:
        """The dispatches that nodes of ``dispatch_ids`` were reused from."""
        with self._engine.connect() as conn:
            return keyindex.reuse_sources(conn, sorted(set(dispatch_ids)))

    def sublattice_referrers(self, run_ids: Iterable[str]) -> dict[str, set[str]]:
        """For each sublattice run id, the dispatches with a node that points at it."""
        with self._engine.connect() as conn:
            return keyindex.sublattice_referrers(conn, sorted(set(run_ids)))

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord:
        """The dispatch with this id; DispatchNotFoundError if none."""
        query = rows.DISPATCH_SELECT.where(dispatches_t.c.dispatch_id == dispatch_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise self._not_found(dispatch_id)
        return DispatchRecord(*row)

    def get_status(self, dispatch_id: str) -> str:
        """The dispatch's status; DispatchNotFoundError if none."""
        query = select(dispatches_t.c.status).where(dispatches_t.c.dispatch_id == dispatch_id)
        with self._engine.connect() as conn:
            status = conn.execute(query).scalar()
        if status is None:
            raise self._not_found(dispatch_id)
        return str(status)

    def get_nodes(self, dispatch_id: str, *, streams: bool = True) -> list[NodeRecord]:
        """Every node of the dispatch by node id (``streams=False``: stdout, stderr None)."""
        select_nodes = rows.NODE_SELECT if streams else rows.NODE_SELECT_NO_STREAMS
        query = select_nodes.where(nodes_t.c.dispatch_id == dispatch_id)
        with self._engine.connect() as conn:
            found = [NodeRecord(*row) for row in conn.execute(query.order_by(nodes_t.c.node_id))]
            if not found and not self._dispatch_exists(conn, dispatch_id):
                raise self._not_found(dispatch_id)
        return found

    def get_nodes_for_planning(self, dispatch_id: str) -> list[NodeRecord]:
        """:meth:`get_nodes` as a redispatch plan reads them: no reason or times (None), and
        equal ``metadata`` values one shared dict, not to be changed
        (:mod:`valence.store.planning`)."""
        with self._engine.connect() as conn:
            found = planning.read_nodes(conn, dispatch_id)
            if not found and not self._dispatch_exists(conn, dispatch_id):
                raise self._not_found(dispatch_id)
        return found

    def get_node(self, dispatch_id: str, node_id: int) -> NodeRecord:
        """One node; NodeNotFoundError (a StoreError and KeyError) if absent."""
        query = rows.NODE_SELECT.where(
            nodes_t.c.dispatch_id == dispatch_id, nodes_t.c.node_id == node_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
            if row is not None:
                return NodeRecord(*row)
            if not self._dispatch_exists(conn, dispatch_id):
                raise self._not_found(dispatch_id)
            count = conn.execute(
                select(func.count()).where(nodes_t.c.dispatch_id == dispatch_id)
            ).scalar_one()
        known = f"its node ids are 0..{count - 1}" if count else "it has no nodes"
        raise NodeNotFoundError(f"dispatch {dispatch_id!r} has no node {node_id} ({known})")

    def get_edges(self, dispatch_id: str) -> list[EdgeRecord]:
        """Every edge of the dispatch, in the order they were recorded."""
        query = rows.EDGE_SELECT.where(edges_t.c.dispatch_id == dispatch_id)
        with self._engine.connect() as conn:
            found = [EdgeRecord(*row) for row in conn.execute(query.order_by(edges_t.c.edge_index))]
            if not found and not self._dispatch_exists(conn, dispatch_id):
                raise self._not_found(dispatch_id)
        return found

    def get_edge_rows(self, dispatch_id: str) -> list[tuple[Any, ...]]:
        """:meth:`get_edges` as plain tuples of every field but ``dispatch_id`` (no record
        built; an unknown dispatch has none)."""
        with self._engine.connect() as conn:
            return planning.read_edges(conn, dispatch_id)

    def list_dispatches(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        name_contains: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DispatchRecord]:
        """Dispatches newest first, by exact status and name, ``since <= created_at < until``.

        ``name_contains`` matches a part of the name, ignoring case.
        """
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, got limit={limit}, offset={offset}")
        for bound in (since, until):
            if bound is not None and bound.utcoffset() is None:
                raise ValueError(f"naive datetime {bound!r}: give since/until with a timezone")
        c = dispatches_t.c
        query = rows.DISPATCH_SELECT
        if status is not None:
            query = query.where(c.status == status)
        if name is not None:
            query = query.where(c.name == name)
        if name_contains:
            query = query.where(c.name.icontains(name_contains, autoescape=True))
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        query = (
            query.order_by(c.created_at.desc(), c.dispatch_id.desc()).limit(limit).offset(offset)
        )
        return self._dispatches(query)

    def node_counts(
        self, dispatch_ids: Sequence[str], *, tasks_only: bool = False
    ) -> dict[str, dict[str, int]]:
        """For each dispatch id, how many of its nodes (or only its tasks) are in each status."""
        counts: dict[str, dict[str, int]] = {d: {} for d in dispatch_ids}
        c = nodes_t.c
        with self._engine.connect() as conn:
            for chunk in rows.chunks(list(counts)):
                query = (
                    select(c.dispatch_id, c.status, func.count())
                    .where(c.dispatch_id.in_(chunk))
                    .where(c.kind.in_(TASK_KINDS) if tasks_only else true())
                    .group_by(c.dispatch_id, c.status)
                )
                for dispatch_id, status, count in conn.execute(query):
                    counts[dispatch_id][status] = count
        return counts

    def resolve_id(self, prefix: str) -> str:
        """The one dispatch id starting with ``prefix`` (any case); errors if none or several."""
        prefix = normalise_prefix(prefix)
        c = dispatches_t.c
        query = select(c.dispatch_id).where(c.dispatch_id.startswith(prefix, autoescape=True))
        with self._engine.connect() as conn:
            found = list(conn.execute(query.order_by(c.dispatch_id).limit(11)).scalars())
        if prefix in found or len(found) == 1:
            return prefix if prefix in found else found[0]
        if not found:
            raise self._not_found(prefix)
        shown = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "")
        raise StoreError(
            f"dispatch id prefix {prefix!r} is ambiguous: it matches {shown}; give more characters"
        )

    def children(self, dispatch_id: str) -> list[DispatchRecord]:
        """Dispatches redispatched from this one or run as its sublattices, oldest first."""
        c = dispatches_t.c
        query = rows.DISPATCH_SELECT.where(
            or_(c.redispatched_from == dispatch_id, c.parent_dispatch_id == dispatch_id)
        )
        return self._dispatches(query.order_by(c.created_at, c.dispatch_id))

    def unfinished(self) -> list[DispatchRecord]:
        """Dispatches not yet COMPLETED, FAILED or CANCELLED, oldest first."""
        c = dispatches_t.c
        terminal = sorted(str(status) for status in TERMINAL)
        query = rows.DISPATCH_SELECT.where(c.status.not_in(terminal))
        return self._dispatches(query.order_by(c.created_at, c.dispatch_id))

    # -- helpers -----------------------------------------------------------------------

    def _dispatches(self, query: Any) -> list[DispatchRecord]:
        with self._engine.connect() as conn:
            return [DispatchRecord(*row) for row in conn.execute(query)]

    @staticmethod
    def _dispatch_exists(conn: Connection, dispatch_id: str) -> bool:
        query = select(dispatches_t.c.dispatch_id).where(dispatches_t.c.dispatch_id == dispatch_id)
        return conn.execute(query).first() is not None

    def _not_found(self, dispatch_id: str) -> DispatchNotFoundError:
        return DispatchNotFoundError(
            f"no dispatch with id {dispatch_id!r} in {self.where}; "
            "list dispatches with `valence list`"
        )


def checked_blob_store(location: str) -> BlobFiles:
    """The blob files at ``location``, once they answer (their token made or read).

    ConfigError for a URL that names no usable protocol, StoreError if unreachable.
    """
    try:
        files = open_blob_files(location)
        files.token()
        return files
    except ValenceError:
        raise
    except Exception as exc:  # fsspec back ends raise their own errors (botocore, ...)
        raise StoreError(
            f"cannot use the blob store {location}: {type(exc).__name__}: {exc}; "
            "check the URL, credentials and network, or set VALENCE_BLOB_URL (blobs.url in "
            "valence.toml) to a reachable location"
        ) from exc


def create_sqlite_file(url: str, path: Path) -> None:
    """Create the SQLite database ``path`` of ``url`` complete, unless it exists.

    The schema is made in a private temporary file next to it, which is then
    hard-linked into place: the first process to link wins, the others use its
    file. The database is in WAL mode from the start, so no later open has to
    switch journal modes (which needs a lock that concurrent openers contend for).
    The schema comes from :mod:`valence.store.sqlite_schema` (what the migrations
    make, without running them) while that is at the head revision.
    """
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    os.close(fd)  # mode 0600, kept by SQLite
    tmp = Path(name)
    try:
        if sqlite_schema.REVISION == migrate.HEAD_REVISION:
            _create_from_schema(tmp)
        else:  # a migration was added but sqlite_schema not regenerated: migrate
            engine = create_store_engine(
                make_url(url).set(database=str(tmp)).render_as_string(False)
            )
            try:
                migrate.ensure_schema(engine)
            finally:
                engine.dispose()  # the last connection checkpoints and removes the -wal file
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


def _create_from_schema(path: Path) -> None:
    """The head schema in the empty file ``path``, in WAL mode (``create_sqlite_file``)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        sqlite_schema.create(conn)
    finally:
        conn.close()  # the last connection checkpoints and removes the -wal file


_NODE_KEY = (nodes_t.c.dispatch_id, nodes_t.c.node_id)
_DISPATCH_KEY = (dispatches_t.c.dispatch_id,)


def _delete_rows(conn: Connection, dispatch_id: str) -> bool:
    """Delete a dispatch's key index, edge, node and dispatch rows; False if there was none."""
    keyindex.delete_keys(conn, dispatch_id)
    conn.execute(delete(edges_t).where(edges_t.c.dispatch_id == dispatch_id))
    conn.execute(delete(nodes_t).where(nodes_t.c.dispatch_id == dispatch_id))
    where = dispatches_t.c.dispatch_id == dispatch_id
    return conn.execute(delete(dispatches_t).where(where)).rowcount > 0
