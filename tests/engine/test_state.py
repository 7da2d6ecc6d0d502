"""Scheduling state transitions, asserted as whole states."""

from __future__ import annotations

import copy

from tests import workflows as wf
from valence.engine import state as transitions


def test_cancel_ignores_ids_that_are_not_nodes():
    state = transitions.start_state("d", wf.plain_howto.build_graph(1, 2), {})
    transitions.mark_running(state, state.ready.popleft())
    before = copy.deepcopy((state.status, list(state.ready), set(state.running)))
    assert transitions.cancel(state, [-1, len(state.status), 2**70]) == []
    assert (state.status, list(state.ready), set(state.running)) == before
    assert transitions.cancel(state, [-1, 0]) == [0]  # the real one is still cancelled
    assert state.status[0] == "CANCELLED" and state.status[-1] == "NEW_OBJECT"
