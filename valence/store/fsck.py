"""Check a whole store: the database's own integrity check and every blob's digest.

:func:`check` reads every blob (files hashed afresh, not trusting this process's
cache), finds digests that rows refer to but no blob holds, and names the
dispatches and nodes that use each missing or damaged blob.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select, text

from valence.store.blobs import digest_of
from valence.store.rows import chunks
from valence.store.tables import DIGEST_COLUMNS, blobs, dispatches, nodes

if TYPE_CHECKING:
    from valence.store import Store

PAGE = 200


@dataclass
class FsckReport:
    """What ``valence fsck`` found."""

    where: str
    integrity: list[str] = field(default_factory=list)  # problems the database reports
    blobs_checked: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # digest -> "missing" | "damaged"
    users: dict[str, list[str]] = field(default_factory=dict)  # digest -> who refers to it

    @property
    def ok(self) -> bool:
        return not self.integrity and not self.problems

    def lines(self) -> list[str]:
        """The report as text, one finding per line."""
        out = [f"store: {self.where}"]
        out.append("database integrity: " + ("ok" if not self.integrity else "DAMAGED"))
        out += [f"  {line}" for line in self.integrity[:20]]
        counts = {kind: list(self.problems.values()).count(kind) for kind in ("damaged", "missing")}
        out.append(
            f"blobs: {self.blobs_checked} checked, {counts['damaged']} damaged, "
            f"{counts['missing']} missing"
        )
        for digest, kind in sorted(self.problems.items()):
            out.append(f"  {kind} blob {digest}")
            users = self.users.get(digest) or ["nothing refers to it"]
            out += [f"    used by {user}" for user in users]
        if not self.ok:
            out.append(
                "to repair: redispatch the affected dispatches with reuse_previous_results=True "
                "(nodes whose output is missing or damaged run again and rewrite it)"
            )
        return out


def check(store: Store, engine: Any) -> FsckReport:
    """Check ``store`` (whose SQLAlchemy engine is ``engine``)."""
    report = FsckReport(f"{store.where} (large blobs: {store.blob_location})")
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            found = [str(row[0]) for row in conn.execute(text("PRAGMA integrity_check"))]
            report.integrity = [line for line in found if line != "ok"]
        _check_blobs(store, conn, report)
        _find_missing(conn, report)
        _find_users(conn, report)
    return report


def _check_blobs(store: Store, conn: Connection, report: FsckReport) -> None:
    c = blobs.c
    last = ""
    while True:
        query = select(c.digest, c.location, c.size, c.data).where(c.digest > last)
        page = conn.execute(query.order_by(c.digest).limit(PAGE)).all()
        for row in page:
            report.blobs_checked += 1
            if row.location == "file":
                problem = store._files.verify(row.digest, row.size)
            else:
                problem = None if digest_of(bytes(row.data)) == row.digest else "damaged"
            if problem is not None:
                report.problems[row.digest] = problem
        if len(page) < PAGE:
            return
        last = page[-1].digest


def _find_missing(conn: Connection, report: FsckReport) -> None:
    stored = select(blobs.c.digest)
    for column in DIGEST_COLUMNS:
        query = select(column).where(column.is_not(None), column.not_in(stored)).distinct()
        for digest in conn.execute(query).scalars():
            report.problems[digest] = "missing"


def _find_users(conn: Connection, report: FsckReport) -> None:
    for chunk in chunks(sorted(report.problems)):
        wanted = set(chunk)
        node_cols = [col for col in DIGEST_COLUMNS if col.table is nodes]
        query = select(nodes.c.dispatch_id, nodes.c.node_id, nodes.c.name, *node_cols).where(
            or_(*(col.in_(chunk) for col in node_cols))
        )
        for row in conn.execute(query):
            for col in node_cols:
                digest = getattr(row, col.name)
                if digest in wanted:
                    what = col.name.removesuffix("_digest")
                    report.users.setdefault(digest, []).append(
                        f"dispatch {row.dispatch_id} node {row.node_id} ({row.name}): {what}"
                    )
        dispatch_cols = [col for col in DIGEST_COLUMNS if col.table is dispatches]
        query = select(dispatches.c.dispatch_id, *dispatch_cols).where(
            or_(*(col.in_(chunk) for col in dispatch_cols))
        )
        for row in conn.execute(query):
            for col in dispatch_cols:
                digest = getattr(row, col.name)
                if digest in wanted:
                    what = col.name.removesuffix("_digest")
                    report.users.setdefault(digest, []).append(
                        f"dispatch {row.dispatch_id}: {what}"
                    )
