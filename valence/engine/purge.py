"""Which dispatches a delete or purge removes: the policy, without the lock or the writes.

A top-level dispatch goes with its sublattice runs, except runs a remaining
dispatch reuses (a reused sublattice node points at the run it was reused
from, which with reuse from the whole store may belong to any dispatch); such
a run is deleted by a later purge once nothing reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from valence import status as st
from valence.engine.ownership import is_alive
from valence.store import Store
from valence.store.records import DispatchRecord

PAGE = 500


@dataclass
class PurgeReport:
    """What ``purge`` deleted (or would delete, with ``dry_run``)."""

    deleted: list[str]
    kept: list[str] = field(default_factory=list)  # sublattice runs a remaining dispatch reuses
    blobs_deleted: int = 0
    note: str | None = None  # why blobs were not collected, if they were not
    dry_run: bool = False


def deletable(store: Store, dispatch_id: str) -> DispatchRecord:
    """The record of ``dispatch_id`` if ``delete`` may remove it; else why not (raises)."""
    record = store.get_dispatch(store.resolve_id(dispatch_id))
    if record.parent_dispatch_id is not None:
        raise ValueError(
            f"dispatch {record.dispatch_id} is a sublattice run of "
            f"{record.parent_dispatch_id}; delete that dispatch instead"
        )
    running = record.owner is not None and is_alive(record.owner)
    if st.as_status(record.status) not in st.TERMINAL and running:
        raise RuntimeError(
            f"dispatch {record.dispatch_id} is {record.status}; cancel it (or wait for it) "
            "before deleting it"
        )
    return record


def expired(store: Store, cutoff: datetime) -> tuple[list[str], list[DispatchRecord]]:
    """Finished top-level dispatches created before ``cutoff``, and orphaned finished runs."""
    records = _all(store)
    ids = {record.dispatch_id for record in records}
    finished = [r for r in records if st.as_status(r.status) in st.TERMINAL]
    roots = [r.dispatch_id for r in finished if not r.parent_dispatch_id and r.created_at < cutoff]
    orphans = [r for r in finished if r.parent_dispatch_id and r.parent_dispatch_id not in ids]
    return roots, orphans


def deletion_set(
    store: Store, roots: list[str], orphans: list[DispatchRecord]
) -> tuple[list[str], list[str]]:
    """(doomed, kept): ``roots`` + their runs (+ orphaned runs), except runs still reused."""
    orphan_ids = [o.dispatch_id for o in orphans]
    runs = [*_descendants(store, roots), *orphan_ids, *_descendants(store, orphan_ids)]
    runs = list(dict.fromkeys(runs))
    keep = _reused_runs(store, set(roots), runs)
    doomed = [*roots, *(run for run in runs if run not in keep)]
    return doomed, sorted(keep)


def running_elsewhere(store: Store) -> list[str]:
    """Unfinished dispatches owned by a live process (this one included)."""
    return [
        record.dispatch_id
        for record in store.unfinished()
        if record.owner is not None and is_alive(record.owner)
    ]


def _descendants(store: Store, roots: list[str]) -> list[str]:
    """The sublattice runs below ``roots``, at every depth."""
    found: list[str] = []
    stack = list(roots)
    while stack:
        parent = stack.pop()
        for child in store.children(parent):
            if child.parent_dispatch_id == parent and child.dispatch_id not in found:
                found.append(child.dispatch_id)
                stack.append(child.dispatch_id)
    return found


def _reused_runs(store: Store, roots: set[str], runs: list[str]) -> set[str]:
    """Those of ``runs`` a remaining dispatch points at, directly or through a kept run."""
    referrers = store.sublattice_referrers(runs)
    keep: set[str] = set()
    while True:
        deleting = roots | (set(runs) - keep)
        newly = {run for run in runs if run not in keep and referrers[run] - deleting}
        if not newly:
            return keep
        keep |= newly


def _all(store: Store) -> list[DispatchRecord]:
    found: list[DispatchRecord] = []
    while True:
        page = store.list_dispatches(limit=PAGE, offset=len(found))
        found += page
        if len(page) < PAGE:
            return found
