"""Every transition of ``engine.state``, asserted as whole states before and after.

The graph is ``diamond(2)``: tasks 0 and 3 each read two parameters (1, 2 and
4, 5), task 6 reads both tasks and is the lattice's return value.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from tests import workflows as wf
from valence.engine import state as transitions
from valence.engine.state import DispatchState

N, R, C, F, X = "NEW_OBJECT", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"


def diamond(done: dict[int, str] | None = None) -> DispatchState:
    return transitions.start_state("d", wf.diamond.build_graph(2), done or {})


def whole(state: DispatchState) -> dict[str, Any]:
    """Everything a transition may change, as plain comparable data."""
    return {
        "status": list(state.status),
        "ready": list(state.ready),
        "running": set(state.running),
        "waiting": list(state.waiting),
        "consumers": list(state.consumers),
        "values": dict(state.values),
        "digests": dict(state.digests),
        "failed": list(state.failed),
        "cancelled": state.cancelled,
        "aborted": state.aborted,
    }


def after(before: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(before), **changes}


def started(*running: int) -> DispatchState:
    """The diamond with its parameters completed and ``running`` tasks handed out."""
    state = diamond()
    for _ in range(4):  # the parameters, resolved inline
        node_id = transitions.take_ready(state)
        transitions.complete(state, node_id, f"p{node_id}", node_id)
    for node_id in running:
        transitions.take_ready(state)
        transitions.mark_running(state, node_id)
    return state


def test_start_state():
    assert whole(diamond()) == {
        "status": [N] * 7,
        "ready": [1, 2, 4, 5],
        "running": set(),
        "waiting": [2, 0, 0, 2, 0, 0, 2],
        "consumers": [1] * 7,
        "values": {},
        "digests": {},
        "failed": [],
        "cancelled": False,
        "aborted": False,
    }


def test_start_state_with_done_nodes():
    state = diamond({1: "d1", 2: "d2", 0: "d0"})
    assert whole(state) == after(
        whole(diamond()),
        status=[C, C, C, N, N, N, N],
        ready=[4, 5],
        waiting=[0, 0, 0, 2, 0, 0, 1],
        digests={0: "d0", 1: "d1", 2: "d2"},
    )


def test_take_ready_and_complete_a_helper():
    state = diamond()
    before = whole(state)
    assert transitions.take_ready(state) == 1
    assert transitions.complete(state, 1, "p1", 2) == []  # task 0 still waits for node 2
    assert whole(state) == after(
        before,
        status=[N, C, N, N, N, N, N],
        ready=[2, 4, 5],
        waiting=[1, 0, 0, 2, 0, 0, 2],
        values={1: 2},
        digests={1: "p1"},
    )
    transitions.take_ready(state)
    assert transitions.complete(state, 2, "p2", 1) == [0]
    assert list(state.ready) == [4, 5, 0] and state.waiting[0] == 0


def test_mark_running():
    state = started()
    before = whole(state)
    assert transitions.take_ready(state) == 0
    transitions.mark_running(state, 0)
    assert whole(state) == after(before, status=[R, C, C, N, C, C, N], ready=[3], running={0})


def test_complete_a_running_task_readies_its_child_once_all_parents_are_done():
    state = started(0, 3)
    before = whole(state)
    assert transitions.complete(state, 0, "t0", 3) == []
    assert whole(state) == after(
        before,
        status=[C, C, C, R, C, C, N],
        running={3},
        waiting=[0, 0, 0, 0, 0, 0, 1],
        values={**before["values"], 0: 3},
        digests={**before["digests"], 0: "t0"},
    )
    assert transitions.complete(state, 3, "t3", 4) == [6]
    assert list(state.ready) == [6] and state.running == set()


def test_complete_stored_keeps_no_value():
    state = started(0)
    before = whole(state)
    transitions.complete_stored(state, 0, "t0")
    assert whole(state) == after(
        before,
        status=[C, C, C, N, C, C, N],
        running=set(),
        waiting=[0, 0, 0, 0, 0, 0, 1],
        digests={**before["digests"], 0: "t0"},
    )


def test_consumed_releases_a_value_after_its_last_consumer():
    state = started()
    before = whole(state)
    transitions.consumed(state, 1)
    values = dict(before["values"])
    del values[1]
    assert whole(state) == after(before, consumers=[1, 0, 1, 1, 1, 1, 1], values=values)


def test_hold_and_loaded():
    state = diamond({1: "d1", 2: "d2"})
    before = whole(state)
    transitions.hold(state, {1: b"lazy"})
    assert whole(state) == after(before, values={1: b"lazy"})
    transitions.loaded(state, 1, "one")  # held: replaced by the value
    transitions.loaded(state, 2, "two")  # not held, one consumer: not kept
    assert whole(state) == after(before, values={1: "one"})


def test_fail_a_running_task_leaves_its_descendants_unrun():
    state = started(0, 3)
    before = whole(state)
    transitions.fail(state, 0)
    assert whole(state) == after(before, status=[F, C, C, R, C, C, N], running={3}, failed=[0])
    transitions.complete(state, 3, "t3", 4)
    assert transitions.is_finished(state)  # 6 never becomes ready
    assert transitions.finish(state) == (F, [])
    assert state.status[6] == N


def test_fail_a_node_that_could_not_start():
    state = started()
    transitions.take_ready(state)
    before = whole(state)
    transitions.fail(state, 0)
    assert whole(state) == after(before, status=[F, C, C, N, C, C, N], failed=[0])


def test_cancel_the_whole_dispatch_lets_running_tasks_finish():
    state = started(0)
    before = whole(state)
    assert transitions.cancel(state, None) == [3]
    assert whole(state) == after(before, status=[R, C, C, X, C, C, N], ready=[], cancelled=True)
    transitions.complete(state, 0, "t0", 3)  # its result is kept; nothing new is ready
    assert state.status[0] == C and list(state.ready) == []
    assert transitions.finish(state) == (X, [6])
    assert state.status == [C, C, C, X, C, C, X]


def test_cancel_named_nodes_also_cancels_them_while_they_run():
    state = started(0)
    before = whole(state)
    assert transitions.cancel(state, [0, 3, 6, 1]) == [0, 3, 6]  # 1 is done: unchanged
    assert whole(state) == after(before, status=[X, C, C, X, C, C, X], ready=[], running=set())
    assert transitions.finish(state) == (X, [])


def test_cancel_running_ends_one_running_node():
    state = started(0, 3)
    before = whole(state)
    transitions.cancel_running(state, 3)
    assert whole(state) == after(before, status=[R, C, C, X, C, C, N], running={0})


def test_abort_during_running_tasks_fails_them_and_starts_nothing():
    state = started(0)  # task 3 is ready, task 0 runs
    before = whole(state)
    assert transitions.abort(state) == [0]
    aborted = after(before, status=[F, C, C, N, C, C, N], ready=[], running=set(), aborted=True)
    assert whole(state) == aborted
    assert transitions.abort(state) == []  # a second abort changes nothing
    assert whole(state) == aborted
    with pytest.raises(ValueError, match="it is FAILED"):  # a late outcome of the aborted task
        transitions.complete(state, 0, "t0", 3)
    assert whole(state) == aborted
    assert transitions.finish(state) == (F, [])


def test_an_aborted_dispatch_is_failed_although_no_node_failed_on_its_own():
    state = started(0, 3)
    assert transitions.abort(state) == [0, 3]
    assert state.failed == [] and state.aborted
    assert transitions.finish(state) == (F, [])


def test_requeue_puts_a_taken_node_back():
    state = started()
    before = whole(state)
    node_id = transitions.take_ready(state)
    transitions.requeue(state, node_id, first=True)
    assert whole(state) == before
    node_id = transitions.take_ready(state)
    transitions.requeue(state, node_id)
    assert whole(state) == after(before, ready=[3, 0])


def test_restore_a_resumed_dispatchs_failed_and_cancelled_nodes():
    state = started()
    before = whole(state)
    transitions.restore(state, 0, F)
    transitions.restore(state, 3, X)
    assert whole(state) == after(before, status=[F, C, C, X, C, C, N], ready=[], failed=[0])
    with pytest.raises(ValueError, match="only FAILED or CANCELLED"):
        transitions.restore(state, 6, C)


def test_resume_running_adopts_a_ready_node():
    state = started()
    before = whole(state)
    transitions.resume_running(state, 3)
    assert whole(state) == after(before, status=[N, C, C, R, C, C, N], ready=[0], running={3})


def test_finish_refuses_a_dispatch_with_work_left():
    state = started(0)
    before = whole(state)
    with pytest.raises(ValueError, match="has not finished"):
        transitions.finish(state)
    assert whole(state) == before


# ---- hostile: unknown nodes, impossible orders -----------------------------------
NOT_NODES = [-1, 7, 2**70]
BY_ID = {
    "complete": lambda s, i: transitions.complete(s, i, "x", 1),
    "complete_stored": lambda s, i: transitions.complete_stored(s, i, "x"),
    "fail": transitions.fail,
    "mark_running": transitions.mark_running,
    "resume_running": transitions.resume_running,
    "cancel_running": transitions.cancel_running,
    "requeue": transitions.requeue,
    "restore": lambda s, i: transitions.restore(s, i, F),
}


@pytest.mark.parametrize("name", sorted(BY_ID))
@pytest.mark.parametrize("node_id", NOT_NODES)
def test_a_transition_on_an_unknown_node_raises_and_changes_nothing(name, node_id):
    state = started(0)
    before = whole(state)
    with pytest.raises(ValueError, match=f"node {node_id} of dispatch d: it has nodes 0..6"):
        BY_ID[name](state, node_id)
    assert whole(state) == before


def test_start_state_refuses_a_done_id_that_is_not_a_node():
    with pytest.raises(ValueError, match="node -1 "):
        diamond({-1: "x"})


def test_a_double_completion_raises_and_changes_nothing():
    state = started(0)
    transitions.complete(state, 0, "t0", 3)
    before = whole(state)
    with pytest.raises(ValueError, match="cannot complete node 0 of dispatch d: it is COMPLETED"):
        transitions.complete(state, 0, "other", 4)
    assert whole(state) == before  # task 6 still waits for task 3 (not decremented twice)


@pytest.mark.parametrize(
    ("first", "then", "match"),
    [
        (transitions.fail, lambda s, i: transitions.complete(s, i, "x", 1), "complete"),
        (lambda s, i: transitions.complete(s, i, "x", 1), transitions.fail, "fail"),
        (transitions.cancel_running, transitions.fail, "fail"),
        (transitions.fail, transitions.cancel_running, "end as cancelled"),
        (lambda s, i: None, transitions.mark_running, "run"),  # already running
    ],
)
def test_an_impossible_order_raises_and_changes_nothing(first, then, match):
    state = started(0)
    first(state, 0)
    before = whole(state)
    with pytest.raises(ValueError, match=f"cannot {match} node 0"):
        then(state, 0)
    assert whole(state) == before


# ---- any order of outcomes keeps the state consistent -----------------------------
@settings(max_examples=60, deadline=None)
@given(hs.integers(1, 6), hs.data())
def test_random_runs_keep_the_state_consistent(n, data):
    """Start, complete, fail and cancel in a random order; the invariants hold throughout."""
    state = transitions.start_state("d", wf.count_to.build_graph(n), {})
    statuses = [C, F, X]
    steps = 0
    while not transitions.is_finished(state):
        steps += 1
        assert steps < 100
        choices = (["start"] if state.ready else []) + (["end"] if state.running else [])
        choices += ["cancel", "abort"] if data.draw(hs.integers(0, 9)) == 0 else []
        match data.draw(hs.sampled_from(choices)):
            case "start":
                transitions.mark_running(state, transitions.take_ready(state))
            case "end":
                node_id = data.draw(hs.sampled_from(sorted(state.running)))
                match data.draw(hs.sampled_from(statuses)):
                    case "COMPLETED":
                        transitions.complete(state, node_id, f"d{node_id}", node_id)
                    case "FAILED":
                        transitions.fail(state, node_id)
                    case _:
                        transitions.cancel_running(state, node_id)
            case "cancel":
                transitions.cancel(state, None)
            case _:
                transitions.abort(state)
        check_invariants(state)
    status, _ = transitions.finish(state)
    assert (status == F) == bool(state.failed or state.aborted)
    assert (status == C) == (all(s == C for s in state.status) and not state.cancelled)


def check_invariants(state: DispatchState) -> None:
    for i, status in enumerate(state.status):
        parents = [e.parent for e in state.incoming[i]]
        assert state.waiting[i] == sum(state.status[p] != C for p in parents)
        assert (i in state.running) == (status == R)
        if not state.aborted:  # an abort fails running nodes without a failure of their own
            assert (i in state.failed) == (status == F)
    assert all(state.status[i] == N for i in state.ready)
    assert len(set(state.ready)) == len(state.ready)
    assert set(state.digests) == {i for i, s in enumerate(state.status) if s == C}
