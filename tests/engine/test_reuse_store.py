"""Reuse from the whole store (``ct.dispatch(..., reuse_previous_results=True)``,
``redispatch(..., reuse_from=...)``) and early cutoff, through the public API.

Every task logs that it ran, so each test states exactly what ran; every result
is compared with a fresh run (reuse off) of the same workflow and inputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa

import valence as ct
from tests import workflows as rf
from tests.engine import test_redispatch
from valence.backends import choose_backend
from valence.errors import DispatchNotFoundError

both_modes = pytest.mark.both_modes
task_log = test_redispatch.task_log  # autouse: tasks log that they ran


def wait(dispatch_id):
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    assert result.status == "COMPLETED", result.error
    return result


def run(lattice, *args, reuse=False):
    return wait(ct.dispatch(lattice, reuse_previous_results=reuse)(*args))


def codes(result):
    """Task name -> (reason code, (dispatch, node) reused from or None)."""
    found = {}
    for node in choose_backend().get_nodes(result.dispatch_id):
        if node.kind in ("electron", "sublattice"):
            source = (node.reused_from_dispatch, node.reused_from_node)
            found[node.name] = (node.reason["code"], source if source[0] else None)
    return found


def fresh(lattice, *args):
    """The result of the same workflow computed from scratch (reuse off)."""
    return run(lattice, *args).result


@both_modes
def test_dispatch_with_reuse_runs_nothing_already_computed(task_log):
    first = run(rf.chain, 3)
    assert task_log() == ["double", "inc", "square"]
    again = run(rf.chain, 3, reuse=True)
    assert task_log() == []
    assert again.result == first.result == 49
    found = codes(again)
    assert {code for code, _ in found.values()} == {"reused_store"}
    assert found["inc"][1] == (first.dispatch_id, 2)
    assert again.redispatched_from is None  # a new dispatch, not a redispatch
    assert run(rf.chain, 3).result == 49  # the default stays off: everything runs
    assert task_log() == ["double", "inc", "square"]


@both_modes
def test_new_input_runs_only_what_it_changes(task_log):
    run(rf.chain, 3)
    task_log()
    other = run(rf.chain, 4, reuse=True)
    assert task_log() == ["double", "inc", "square"]
    assert codes(other)["double"][0] == "no_match"
    assert other.result == fresh(rf.chain, 4)


@both_modes
def test_reuse_across_workflows_that_share_tasks(task_log):
    """The notebook loop: edit one task, dispatch again, only what changed runs."""
    first = run(rf.howto, 1, 2)
    task_log()
    edited = run(rf.howto_product, 1, 2, reuse=True)
    assert task_log() == ["square"]  # task_0, task_1, task_2 come from the first workflow
    assert codes(edited)["task_2"] == ("reused_store", (first.dispatch_id, 4))
    assert edited.result == fresh(rf.howto_product, 1, 2) == 36


@both_modes
def test_early_cutoff_reuses_dependents_of_a_byte_identical_output(task_log):
    first = run(rf.chain, 5)
    task_log()
    edited = run(rf.chain_edited, 5, reuse=True)
    assert task_log() == ["double_by_sum"]  # same output as double: inc and square cut off
    found = codes(edited)
    assert found["inc"] == ("early_cutoff", (first.dispatch_id, 2))
    assert found["square"][0] == "early_cutoff"
    assert edited.result == fresh(rf.chain_edited, 5) == 121
    summary = str(ct.get_result(edited.dispatch_id))
    assert f"reused from {first.dispatch_id[:8]}:3 (early cutoff)" in summary


@both_modes
def test_early_cutoff_never_skips_a_dependent_whose_own_code_changed(task_log):
    run(rf.chain, 5)
    task_log()
    edited = run(rf.chain_both_edited, 5, reuse=True)
    # double_by_sum reproduces double's output, but inc_twice is new code: it runs,
    # and so does square, whose input (12, not 11) is new
    assert task_log() == ["double_by_sum", "inc_twice", "square"]
    found = codes(edited)
    assert found["inc_twice"][0] == found["square"][0] == "no_match"
    assert edited.result == fresh(rf.chain_both_edited, 5) == 144


def test_a_different_output_cuts_nothing_off(task_log):
    run(rf.chain, 5)
    task_log()
    edited = run(rf.chain_tripled, 5, reuse=True)
    assert task_log() == ["inc", "square", "triple"]
    assert edited.result == fresh(rf.chain_tripled, 5) == 256


def test_no_early_cutoff_downstream_of_a_task_that_is_not_reusable(task_log):
    run(rf.after_jitter, 5)
    task_log()
    again = run(rf.after_jitter, 5, reuse=True)
    assert task_log() == ["inc", "jitter", "square"]
    assert {code for code, _ in codes(again).values()} == {"not_reusable"}


@both_modes
def test_redispatch_with_early_cutoff_in_the_parent_scope(task_log):
    parent = run(rf.chain, 2)
    task_log()
    redo = ct.redispatch(
        parent.dispatch_id,
        replace_electrons={"double": rf.double_by_sum},
        reuse_previous_results=True,
    )
    plan = redo.plan()
    assert [d.code for d in plan.tasks()] == ["replaced", "upstream_changed", "upstream_changed"]
    new = wait(redo())
    assert task_log() == ["double_by_sum"]
    assert codes(new)["square"] == ("early_cutoff", (parent.dispatch_id, 3))
    assert new.result == 25
    # ... and again from that redispatch: its cut-off nodes have no index rows of
    # their own, so the scope follows what they were reused from
    again = wait(
        ct.redispatch(
            new.dispatch_id,
            replace_electrons={"double_by_sum": rf.double},
            reuse_previous_results=True,
        )()
    )
    # double's inputs and code are those the grandparent ran it with: reused too
    assert task_log() == []
    assert {code for code, _ in codes(again).values()} == {"early_cutoff"}
    assert {source for _, source in codes(again).values()} == {
        (parent.dispatch_id, 0),
        (parent.dispatch_id, 2),
        (parent.dispatch_id, 3),
    }
    assert again.result == 25


@both_modes
def test_redispatch_reuse_from_any_and_from_listed_dispatches(task_log):
    a = run(rf.chain, 1)
    b = run(rf.chain, 2)
    task_log()
    parent_only = wait(ct.redispatch(b.dispatch_id, reuse_previous_results=True)(1))
    assert task_log() == ["double", "inc", "square"]  # the parent never computed x=1
    assert codes(parent_only)["double"][0] == "changed_argument"

    plan = ct.redispatch(b.dispatch_id, reuse_from="any").plan(1)
    assert {d.code for d in plan.tasks()} == {"reused_store"}
    assert {d.reused_from[0] for d in plan.tasks()} <= {a.dispatch_id, parent_only.dispatch_id}

    listed = wait(ct.redispatch(b.dispatch_id, reuse_from=[a.dispatch_id[:8]])(1))
    assert task_log() == []
    assert codes(listed)["inc"] == ("reused_store", (a.dispatch_id, 2))
    assert listed.result == fresh(rf.chain, 1)
    task_log()

    none_listed = wait(ct.redispatch(a.dispatch_id, reuse_from=[b.dispatch_id])(1))
    assert task_log() == []  # the parent (a) itself is always a source
    assert codes(none_listed)["inc"] == ("reused", (a.dispatch_id, 2))


@both_modes
def test_bad_reuse_from_is_refused_and_writes_nothing(active_store):
    parent = run(rf.chain, 1)
    count = len(active_store.list_dispatches())
    with pytest.raises(ValueError, match="reuse_from must be 'parent', 'any' or a non-empty list"):
        ct.redispatch(parent.dispatch_id, reuse_from=[])
    with pytest.raises(ValueError, match="reuse_from must be"):
        ct.redispatch(parent.dispatch_id, reuse_from=42)
    with pytest.raises(DispatchNotFoundError, match="no dispatch with id 'nope'"):
        ct.redispatch(parent.dispatch_id, reuse_from=["nope"])()
    assert len(active_store.list_dispatches()) == count


@both_modes
def test_sublattice_reused_whole_or_inside_from_another_workflow(task_log):
    first = run(rf.nested, 1)
    task_log()
    other = run(rf.nested_other_outer, 1, reuse=True)
    assert task_log() == ["inc"]  # the sublattice node has the same key: reused whole
    assert codes(other)[":sublattice:inner"][0] == "reused_store"
    assert other.result == fresh(rf.nested_other_outer, 1)
    task_log()
    more = run(rf.nested_more, 1, reuse=True)
    # inside the new sublattice task_0 and task_1 are reused by key, and inc by early
    # cutoff: nested_other_outer ran it on the same value (4), behind another key
    assert task_log() == ["square"]
    run_id = more.get_node_result(0)["sublattice_result"].dispatch_id
    inside = {n.name: n.reason["code"] for n in choose_backend().get_nodes(run_id)}
    assert inside["task_0"] == inside["task_1"] == "reused_store"
    assert inside["inc"] == "early_cutoff"
    assert more.result == fresh(rf.nested_more, 1)
    assert first.result == fresh(rf.nested, 1)


@both_modes
def test_purge_keeps_what_another_dispatch_reuses(active_store, task_log):
    origin = run(rf.nested, 3)
    run_id = origin.get_node_result(0)["sublattice_result"].dispatch_id
    user = run(rf.nested_other_outer, 3, reuse=True)  # not a redispatch of origin
    backend = choose_backend()
    report = backend.delete(origin.dispatch_id)
    assert (report.deleted, report.kept) == ([origin.dispatch_id], [run_id])
    survivor = ct.get_result(user.dispatch_id)
    assert survivor.result == fresh(rf.nested_other_outer, 3)
    assert (
        survivor.get_node_result(0)["sublattice_result"].result
        == origin.get_node_result(0)["sublattice_result"].result
    )
    for node in backend.get_nodes(user.dispatch_id):
        assert backend.get_blob(node.output_digest)  # still stored
    task_log()
    backend.delete(user.dispatch_id)
    backend.purge(timedelta(0))  # the fresh runs, and the orphaned sublattice run
    assert active_store.list_dispatches() == []
    assert active_store.unreferenced_blobs() == []
    after = run(rf.nested, 3, reuse=True)  # nothing left to reuse: it all runs again
    assert task_log() == ["square", "task_0", "task_1"]
    assert after.result == origin.result


def test_deleted_results_are_never_reused(task_log):
    first = run(rf.chain, 7)
    choose_backend().delete(first.dispatch_id)
    task_log()
    again = run(rf.chain, 7, reuse=True)
    assert task_log() == ["double", "inc", "square"]
    assert again.result == first.result


def test_results_of_another_interpreter_are_reused(task_log, valence_home):
    """Keys computed in another process (other hash seed) match: the store is shared."""
    code = (
        "import valence as ct; from tests import workflows as f; "
        "print(ct.get_result(ct.dispatch(f.chain)(6), wait=True).dispatch_id)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    other = done.stdout.strip().splitlines()[-1]
    assert task_log() == ["double", "inc", "square"]
    here = run(rf.chain, 6, reuse=True)
    assert task_log() == []
    assert codes(here)["square"] == ("reused_store", (other, 3))


def test_a_result_whose_blob_is_gone_is_not_reused(task_log, active_store):
    """A damaged store (a blob row removed by hand) makes a miss, never an error."""
    first = run(rf.chain, 8)
    inc = choose_backend().get_nodes(first.dispatch_id)[2]
    engine = sa.create_engine(active_store._engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM blobs WHERE digest = :d"), {"d": inc.output_digest})
    engine.dispose()
    task_log()
    again = run(rf.chain, 8, reuse=True)
    assert task_log() == ["inc"]  # square's own output is still stored: reused by key
    assert codes(again)["inc"][0] == "no_match"
    assert again.result == fresh(rf.chain, 8)


def test_a_sublattice_is_cut_off_whole(task_log):
    first = run(rf.before_sublattice, 2)
    task_log()
    edited = run(rf.before_sublattice_edited, 2, reuse=True)
    assert task_log() == ["double_by_sum"]  # the sublattice's input (4) is byte-identical
    assert codes(edited)[":sublattice:inner"][0] == "early_cutoff"
    runs = [
        {n.name: n.sub_dispatch_id for n in choose_backend().get_nodes(r.dispatch_id)}
        for r in (first, edited)
    ]
    assert runs[0][":sublattice:inner"] == runs[1][":sublattice:inner"] is not None
    assert edited.result == fresh(rf.before_sublattice_edited, 2)


def test_full_reuse_fast_path_still_checks_listed_ids(active_store):
    parent = run(rf.chain, 1)
    with pytest.raises(DispatchNotFoundError, match="no dispatch with id 'nope'"):
        ct.redispatch(parent.dispatch_id, reuse_from=["nope"])()
    listed = wait(ct.redispatch(parent.dispatch_id, reuse_from=[parent.dispatch_id])())
    assert listed.result == parent.result
