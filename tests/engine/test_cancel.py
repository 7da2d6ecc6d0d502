"""Cancelling behaves as documented on every executor, and never outlives a sublattice run."""

from __future__ import annotations

import os
import time

import pytest

import valence as ct
from tests import workflows as wf
from tests.server.processes import wait_until
from valence.executor.base import BaseExecutor


class RunStyle(BaseExecutor):
    """A Covalent run()-style executor: the task runs in run()."""

    def run(self, function, args, kwargs, task_metadata):
        return function(*args, **kwargs)


EXECUTORS = {
    "thread": lambda: ct.executor.ThreadExecutor(workers=1),
    "local": lambda: ct.executor.LocalExecutor(workers=1),
    "covalent-style": RunStyle,
    "dask": lambda: ct.executor.DaskExecutor(workers=1),
}


def signal_then_wait(started, gate, value):
    """Create ``started``, wait until ``gate`` exists, return ``value``."""
    import os
    import time as t

    open(started, "w").close()
    while not os.path.exists(gate):
        t.sleep(0.005)
    return value


def wait_for_file(path):
    wait_until(lambda: os.path.exists(path), f"{path} to appear")


def wait_for_status(dispatch_id, node_id, wanted):
    deadline = time.monotonic() + 60
    while ct.get_result(dispatch_id).get_node_result(node_id)["status"] != wanted:
        assert time.monotonic() < deadline, f"node {node_id} never became {wanted}"
        time.sleep(0.01)


@pytest.mark.parametrize(
    "name", [*sorted(set(EXECUTORS) - {"dask"}), pytest.param("dask", marks=pytest.mark.slow)]
)
def test_cancelling_a_dispatch_keeps_what_is_running_on_every_executor(tmp_path, name):
    gate, started = str(tmp_path / "gate"), str(tmp_path / "started")
    running = ct.electron(signal_then_wait, executor=EXECUTORS[name]())

    @ct.lattice
    def lat(started, gate):
        slow = running(started, gate, 7)
        return wf.identity(slow)

    dispatch_id = ct.dispatch(lat)(started, gate)
    wait_for_file(started)  # the task runs on its worker
    ct.cancel(dispatch_id)
    open(gate, "w").close()
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    assert result.status == ct.status.CANCELLED
    node = result.get_node_result(0)
    assert node["status"] == ct.status.COMPLETED, node["error"]
    assert node["output"].get_deserialized() == 7  # it finished and was kept
    assert result.get_node_result(4)["status"] == ct.status.CANCELLED  # never started


def test_cancelling_drops_tasks_queued_behind_a_busy_process_pool(tmp_path):
    gate = str(tmp_path / "gate")
    executor = ct.executor.LocalExecutor(workers=1)
    running = ct.electron(signal_then_wait, executor=executor)

    @ct.lattice
    def lat(gate):
        return [running(f"{gate}.{i}", gate, i) for i in range(3)]

    dispatch_id = ct.dispatch(lat)(gate)
    markers = [f"{gate}.{i}" for i in range(3)]
    wait_until(lambda: any(os.path.exists(p) for p in markers), "a task to start")
    ct.cancel(dispatch_id)  # returns once applied: the queued tasks are CANCELLED already
    open(gate, "w").close()
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    statuses = [
        n["status"] for n in result.get_all_node_results() if n["node_name"] == "signal_then_wait"
    ]
    assert statuses.count(ct.status.COMPLETED) == 1  # the one the worker had taken
    assert statuses.count(ct.status.CANCELLED) == 2  # queued behind it: dropped, not run


@ct.lattice
def gated_child(gate):
    return wf.gated(gate, 1)


@ct.lattice
def with_child(gate):
    return wf.identity(ct.electron(gated_child)(gate))


@pytest.mark.parametrize("how", ["dispatch", "sublattice node"])
def test_a_cancelled_parent_ends_only_after_its_sublattice_run(tmp_path, how):
    for attempt in range(6):
        gate = str(tmp_path / f"gate-{attempt}")
        dispatch_id = ct.dispatch(with_child)(gate)
        wait_for_status(dispatch_id, 0, "RUNNING")
        child_id = ct.get_result(dispatch_id).get_node_result(0)["sub_dispatch_id"]
        assert child_id is not None
        ct.cancel(dispatch_id, task_ids=None if how == "dispatch" else [0])
        open(gate, "w").close()
        parent = ct.get_result(dispatch_id, wait=True, timeout=60)
        child = ct.get_result(child_id)  # read after the parent ended: must be final already
        assert parent.status == ct.status.CANCELLED
        assert child.status in ct.status.TERMINAL, (attempt, child.status)
        assert all(n["status"] != ct.status.RUNNING for n in child.get_all_node_results())


def test_a_retrying_task_running_at_cancel_is_not_retried(tmp_path):
    gate, started = str(tmp_path / "gate"), str(tmp_path / "started")

    @ct.electron(retries=3)
    def fails_after_gate(started, gate):
        signal_then_wait(started, gate, None)
        raise RuntimeError("broken")

    @ct.lattice
    def lat(started, gate):
        return fails_after_gate(started, gate)

    dispatch_id = ct.dispatch(lat)(started, gate)
    wait_for_file(started)
    ct.cancel(dispatch_id)
    open(gate, "w").close()
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    node = result.get_node_result(0)
    assert node["attempts"] == 1 and "RuntimeError: broken" in node["error"]
