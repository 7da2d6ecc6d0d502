"""Reused node rows copied inside the database give the rows the regular path writes.

Differential: every redispatch runs twice against the same previous dispatch,
once as it is (unchanged reused rows copied by ``INSERT ... SELECT``) and once
with the copy turned off (every row written from its record); plans, results,
node rows and edges must agree.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

import valence as ct
from tests import workflows as rf
from valence.engine import redispatch as redispatch_module
from valence.engine.embedded import get_embedded
from valence.errors import StoreError
from valence.store import copy as copy_module
from valence.store.copy import RowCopy, as_ranges, record_dispatch_copying

RAN_DIFFERS = ("dispatch_id", "start_time", "end_time", "sub_dispatch_id")
"""Fields of a node that ran which two runs may set differently (times, child ids)."""


@pytest.fixture(autouse=True)
def task_log(tmp_path, monkeypatch):
    monkeypatch.setenv("VALENCE_TEST_LOG", str(tmp_path / "ran.log"))


def wait(did: str) -> Any:
    result = ct.get_result(did, wait=True, timeout=60)
    assert result.status in ("COMPLETED", "FAILED"), result
    return result


def rows(dispatch_id: str) -> list[dict[str, Any]]:
    """Node rows comparable across two runs of the same redispatch."""
    store = get_embedded().store
    out = []
    for node in store.get_nodes(dispatch_id):
        row = vars(node).copy()
        reused = node.reused_from_dispatch is not None
        if reused:
            assert node.start_time == node.end_time
        for name in ("dispatch_id", "start_time", "end_time") if reused else RAN_DIFFERS:
            row.pop(name)
        out.append(row)
    return out


def edges(dispatch_id: str) -> list[tuple[Any, ...]]:
    return [dataclasses.astuple(e)[1:] for e in get_embedded().store.get_edges(dispatch_id)]


def both_ways(previous_id: str, args: tuple[Any, ...], **options: Any) -> int:
    """Redispatch with and without the row copy; assert they agree; rows copied."""
    copied: list[RowCopy] = []
    real = copy_module.record_dispatch_copying

    def spy(store, dispatch, nodes, edge_rows, blobs, copy):
        copied.append(copy)
        real(store, dispatch, nodes, edge_rows, blobs, copy)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redispatch_module, "record_dispatch_copying", spy)
        plan_fast = ct.redispatch(previous_id, **options).plan(*args)
        fast = wait(ct.redispatch(previous_id, **options)(*args))
        patch.setattr(redispatch_module, "row_copy", lambda *a: None)
        plan_slow = ct.redispatch(previous_id, **options).plan(*args)
        slow = wait(ct.redispatch(previous_id, **options)(*args))
    assert [d.as_reason() for d in plan_fast.decisions] == [
        d.as_reason() for d in plan_slow.decisions
    ]
    assert (fast.status, fast.result) == (slow.status, slow.result)
    same_rows(fast.dispatch_id, slow.dispatch_id)
    return sum(len(c.covers()) for c in copied)


def same_rows(fast_id: str, slow_id: str) -> None:
    """Equal node rows and edges, here and in the child dispatches of sublattices that ran."""
    assert rows(fast_id) == rows(slow_id)
    assert edges(fast_id) == edges(slow_id)
    store = get_embedded().store
    for fast, slow in zip(store.get_nodes(fast_id), store.get_nodes(slow_id), strict=True):
        if fast.sub_dispatch_id and fast.reused_from_dispatch is None:
            assert slow.sub_dispatch_id
            same_rows(fast.sub_dispatch_id, slow.sub_dispatch_id)


def test_one_changed_input_of_a_fan(valence_home):
    first = wait(ct.dispatch(rf.fan)([1, 2, 3, 4, 5]))
    assert both_ways(first.dispatch_id, ([1, 2, 30, 4, 5],), reuse_previous_results=True)


def test_reused_rows_of_a_dispatch_that_reused_say_where_they_were_computed(valence_home):
    first = wait(ct.dispatch(rf.fan)([1, 2, 3]))
    second = wait(ct.redispatch(first.dispatch_id, reuse_previous_results=True)([1, 2, 4]))
    assert any(n.reused_from_dispatch for n in second.nodes)
    copied = both_ways(second.dispatch_id, ([1, 2, 5],), reuse_previous_results=True)
    assert copied
    again = wait(ct.redispatch(second.dispatch_id, reuse_previous_results=True)([1, 2, 5]))
    texts = {n.reason["text"] for n in again.nodes if n.reused_from_dispatch}
    assert any(f"(computed in {first.dispatch_id[:8]})" in text for text in texts)


@ct.electron(reusable=False)
def unkeyed(x):
    return x * 10


@ct.lattice
def unkeyed_flow(x):
    return rf.task_0(unkeyed(x)), rf.task_1(x)


@ct.electron
def task_1_again(b):
    return b * 3


@pytest.mark.parametrize(
    ("flow", "first_args", "args", "options"),
    [
        (rf.howto, (1, 2), (), {"replace_electrons": {"task_2": rf.task_2_redefined}}),
        (rf.fan, ([1, 2, 3],), (), {"force_rerun": ["total"]}),
        (rf.fan, ([1, 2, 3],), ([1, 2, 3], 3), {}),
        (unkeyed_flow, (1,), (1,), {}),
        (rf.gains_input, (1,), (1, True), {}),
        (rf.outer, (1,), (), {"force_rerun": ["task_0"]}),
        (rf.outer, (1,), (), {"replace_electrons": {"task_1": task_1_again}}),
        (rf.breaks, (1, 2), (1, 3), {}),
    ],
    ids=[
        "replaced",
        "forced",
        "new_argument",
        "not_reusable",
        "new_node",
        "sublattice",
        "inside_a_sublattice",
        "failed",
    ],
)
def test_the_copy_writes_what_the_records_say(valence_home, flow, first_args, args, options):
    first = wait(ct.dispatch(flow)(*first_args))
    assert both_ways(first.dispatch_id, args, reuse_previous_results=True, **options) > 0


def test_without_reuse_nothing_is_copied(valence_home):
    first = wait(ct.dispatch(rf.fan)([1, 2]))
    assert both_ways(first.dispatch_id, ([1, 3],)) == 0


def test_rows_gone_from_the_previous_dispatch_write_nothing(valence_home):
    store = get_embedded().store
    first = wait(ct.dispatch(rf.fan)([1, 2, 3]))
    plan = ct.redispatch(first.dispatch_id, reuse_previous_results=True).plan([1, 2, 4])
    prepared = plan.prepared
    assert prepared.copy is not None
    when = datetime.now(timezone.utc)
    missing = dataclasses.replace(prepared.copy, ranges=((0, 10_000),), when=when)
    with pytest.raises(StoreError, match="no longer has the"):
        record_dispatch_copying(
            store, prepared.record, prepared.nodes, prepared.edges, prepared.blobs, missing
        )
    with pytest.raises(KeyError):
        store.get_dispatch(prepared.record.dispatch_id)


@given(hs.sets(hs.integers(0, 200)))
def test_ranges_cover_exactly_the_ids(ids):
    ranges = as_ranges(ids)
    assert RowCopy("x", ranges, datetime.now(timezone.utc), False).covers() == ids
    assert all(a <= b for a, b in ranges)
    assert all(b + 1 < c for (_, b), (c, _) in itertools.pairwise(ranges))
