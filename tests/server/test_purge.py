"""Deleting dispatches never takes a value (or a sublattice run) a remaining one reuses."""

from __future__ import annotations

from datetime import timedelta

import pytest

import valence as ct
from tests import workflows as wf
from valence import serialize
from valence.backends import choose_backend

both_modes = pytest.mark.both_modes


def run(lattice, *args):
    return ct.get_result(ct.dispatch(lattice)(*args), wait=True, timeout=60)


def redo(dispatch_id, *args):
    new = ct.redispatch(dispatch_id, reuse_previous_results=True)(*args)
    return ct.get_result(new, wait=True, timeout=60)


def digest(value):
    return serialize.digest(serialize.dumps(value))


@both_modes
def test_delete_keeps_the_values_a_redispatch_reuses(active_store):
    parent = run(wf.plain_howto, 1, 2)  # outputs 2, 4, 16
    child = redo(parent.dispatch_id, 1, 5)  # reuses 2; computes 10, 100
    assert child.get_node_result(0)["reused_from"]["dispatch_id"] == parent.dispatch_id
    report = choose_backend().delete(parent.dispatch_id[:10])
    assert report.deleted == [parent.dispatch_id] and report.blobs_deleted > 0
    assert active_store.has_blob(digest(2))  # shared: the child still uses it
    assert not active_store.has_blob(digest(4)) and not active_store.has_blob(digest(16))
    again = ct.get_result(child.dispatch_id)
    assert again.get_node_result(0)["output"].get_deserialized() == 2
    assert again.result == 100 and again.redispatched_from == parent.dispatch_id
    assert redo(child.dispatch_id).result == 100  # its own lattice and inputs survive
    with pytest.raises(KeyError):
        ct.get_result(parent.dispatch_id)


@both_modes
def test_reused_sublattice_run_is_kept_until_nothing_reuses_it(active_store):
    parent = run(wf.with_sublattice, 1)
    run_id = parent.get_node_result(3)["sublattice_result"].dispatch_id
    child = redo(parent.dispatch_id)
    assert child.get_node_result(3)["reused_from"] is not None
    backend = choose_backend()
    report = backend.delete(parent.dispatch_id)
    assert (report.deleted, report.kept) == ([parent.dispatch_id], [run_id])
    assert ct.get_result(child.dispatch_id).get_node_result(3)["sublattice_result"].result == 102
    assert backend.purge(timedelta(days=1)).deleted == []  # child is recent; run still used
    backend.delete(child.dispatch_id)
    report = backend.purge(timedelta(days=1))  # the orphaned run goes now
    assert report.deleted == [run_id]
    assert active_store.list_dispatches() == []
    assert active_store.unreferenced_blobs() == []


@both_modes
def test_purge_dry_run_and_running_dispatches(active_store, tmp_path):
    done = run(wf.diamond, 1)
    gate = tmp_path / "gate"

    @ct.lattice
    def gated(path):
        return wf.gated(path, 1)

    running = ct.dispatch(gated)(str(gate))
    backend = choose_backend()
    preview = backend.purge(timedelta(0), dry_run=True)
    assert preview.deleted == [done.dispatch_id] and preview.dry_run
    assert len(active_store.list_dispatches()) == 2
    report = backend.purge(timedelta(0))
    assert report.deleted == [done.dispatch_id]
    assert report.blobs_deleted == 0 and "running" in report.note  # collected later, safely
    gate.touch()
    assert ct.get_result(running, wait=True, timeout=60).result == 1
    assert backend.purge(timedelta(days=1)).blobs_deleted > 0
