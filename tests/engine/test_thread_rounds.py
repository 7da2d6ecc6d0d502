"""Thread-pool threads apply their own tasks' outcomes (``Dispatcher._help``).

A pool thread whose task ended runs the dispatcher's round itself unless
another thread is running one; whichever thread runs it, the result, the
statuses and their durability are the same.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import valence as ct
from tests.notebook.kernel import wait_for
from valence.engine.dispatcher import Dispatcher

EXECUTOR = ct.executor.ThreadExecutor(workers=3)


@ct.electron(executor=EXECUTOR)
def inc(x):
    return x + 1


@ct.electron(executor=EXECUTOR)
def total(xs):
    return sum(xs)


@ct.electron(executor=EXECUTOR)
def gated(gate):
    import time

    while not Path(gate).exists():
        time.sleep(0.01)
    return "opened"


@ct.lattice
def chain(n):
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


@ct.lattice
def fan(n):
    return total([inc(i) for i in range(n)])


@ct.lattice
def waits(gate):
    return gated(gate)


@pytest.fixture
def applied_by(monkeypatch):
    """The names of the threads that applied each task outcome."""
    names: list[str] = []
    original = Dispatcher._on_outcome

    def record(self, *args):
        names.append(threading.current_thread().name)
        return original(self, *args)

    monkeypatch.setattr(Dispatcher, "_on_outcome", record)
    return names


def test_a_chain_is_carried_by_pool_threads_and_every_result_is_written(valence_home, applied_by):
    n = 300
    result = ct.dispatch_sync(chain)(n)
    assert result.status == ct.status.COMPLETED and result.result == n
    assert len(applied_by) == n
    assert "valence-thread" in applied_by  # helped: the loop thread was not woken for these
    nodes = result.get_all_node_results()
    assert [r["status"] for r in nodes] == [ct.status.COMPLETED] * len(nodes)
    assert all(r["start_time"] and r["end_time"] for r in nodes)
    outputs = [
        v.get_deserialized()
        for k, v in result.get_all_node_outputs().items()
        if k.startswith("inc(")
    ]
    assert sorted(outputs) == list(range(1, n + 1))


def test_a_fan_gives_the_same_result_whoever_applies_the_outcomes(valence_home, applied_by):
    n = 500
    result = ct.dispatch_sync(fan)(n)
    assert result.status == ct.status.COMPLETED
    assert result.result == sum(range(1, n + 1))
    assert len(applied_by) == n + 1
    assert {r["status"] for r in result.get_all_node_results()} == {ct.status.COMPLETED}


def test_a_task_start_seen_only_by_its_pool_thread_is_still_written(valence_home, tmp_path):
    gate = tmp_path / "gate"
    did = ct.dispatch(waits)(str(gate))
    try:
        # nothing else happens in this dispatch: the start reaches the store only
        # because the loop thread wakes on its own while tasks run (QUIET_WAKE_S)
        wait_for(
            lambda: ct.get_result(did).get_node_result(0)["status"] == ct.status.RUNNING,
            what="the gated task shown RUNNING",
        )
        assert ct.get_result(did).get_node_result(0)["start_time"] is not None
    finally:
        gate.touch()
    assert ct.get_result(did, wait=True, timeout=60).result == "opened"
