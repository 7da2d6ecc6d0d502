"""Dispatching through the public API on a real SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import valence as ct
from tests import workflows as wf
from valence.errors import DispatchNotFoundError, SerializationError

both_modes = pytest.mark.both_modes  # embedded and against a real server (tests/modes.py)


def run(lattice, *args, **kwargs):
    return ct.get_result(ct.dispatch(lattice)(*args, **kwargs), wait=True, timeout=60)


@both_modes
def test_howto_result_and_nodes():
    result = run(wf.plain_howto, 1, 2)
    assert result.status == ct.status.COMPLETED == "COMPLETED"
    assert result.result == 16
    assert result.get_node_result(0)["node_name"] == "plain_task_0"
    assert result.get_node_result(0)["output"].get_deserialized() == 2
    assert result.get_node_result(2)["node_name"] == "plain_task_1"
    assert result.get_node_result(4)["output"].get_deserialized() == 16
    assert result.inputs.get_deserialized() == {"args": (1, 2), "kwargs": {}}
    assert result.root_dispatch_id == result.dispatch_id
    assert result.start_time <= result.end_time
    outputs = result.get_all_node_outputs()
    assert outputs["plain_task_2(4)"].get_deserialized() == 16
    assert len(result.get_all_node_results()) == 5
    assert "plain_task_1" in str(result) and "COMPLETED" in str(result)


@both_modes
def test_every_tracing_construct_runs():
    @ct.lattice
    def everything(xs, k=3):
        a, b = wf.pair(xs[0])
        items = [wf.plain_task_0(x) for x in xs]
        total = wf.identity({"items": items, "pair": (a, b), "k": k})
        first = total["items"][0]
        real = wf.identity(5).real
        arith = (a + 1) * 2 - b / 1 + 2**a
        waited = wf.identity(9)
        ct.wait(waited, [a])
        return {
            "first": first,
            "tuple": (a, b),
            "real": real,
            "arith": arith,
            "w": waited,
            "c": "x",
        }

    result = run(everything, [1, 2])
    assert result.status == "COMPLETED", result.error
    assert result.result == {
        "first": 2,
        "tuple": (1, 2),
        "real": 5,
        "arith": (2 * 2) - 2 + 2,
        "w": 9,
        "c": "x",
    }


@both_modes
def test_stdout_and_stderr_are_captured_per_task():
    @ct.lattice
    def lat(words):
        return [wf.shout(w) for w in words]

    result = run(lat, [f"w{i}" for i in range(8)])
    assert result.result == [f"W{i}" for i in range(8)]
    for node in result.get_all_node_results():
        if node["node_name"] == "shout":
            word = node["output"].get_deserialized().lower()
            assert node["stdout"] == f"stdout:{word}\n"
            assert node["stderr"] == f"stderr:{word}\n"


@both_modes
def test_failure_propagates_and_independent_branches_finish(client_mode):
    result = run(wf.failing, 1)
    assert result.status == "FAILED"
    assert "Node 0 (boom) failed: ValueError: boom 1" in result.error
    assert ", in boom" in result.error
    assert "raise ValueError" in result.error  # source lines even for code loaded by value
    by_name = {}
    for node in result.get_all_node_results():
        by_name.setdefault(node["node_name"], []).append(node)
    assert by_name["boom"][0]["status"] == "FAILED"
    assert "Traceback" in by_name["boom"][0]["traceback"]
    adds = by_name["add"]
    assert adds[0]["status"] == "COMPLETED" and adds[0]["output"].get_deserialized() == 2
    assert adds[1]["status"] == "NEW_OBJECT" and adds[1]["output"] is None


@both_modes
def test_sublattice_runs_as_linked_child_dispatch():
    result = run(wf.with_sublattice, 1)
    assert result.status == "COMPLETED", result.error
    assert result.result == 103
    node = result.get_node_result(3)
    child = node["sublattice_result"]
    assert child.result == 102
    assert child.root_dispatch_id == result.dispatch_id
    assert child.record.parent_dispatch_id == result.dispatch_id
    assert child.record.parent_node_id == 3


def test_independent_nodes_run_concurrently(tmp_path):
    @ct.lattice
    def lat(folder):
        return [wf.meet(folder, i, 3) for i in range(3)]

    assert run(lat, str(tmp_path)).result == [True, True, True]


def wait_for_status(did, node_id, wanted):
    deadline = time.time() + 20
    while ct.get_result(did).get_node_result(node_id)["status"] != wanted:
        assert time.time() < deadline, f"node {node_id} never became {wanted}"
        time.sleep(0.01)


@both_modes
def test_cancel_whole_dispatch_keeps_completed_results(tmp_path):
    gate = tmp_path / "gate"

    @ct.lattice
    def lat(gate):
        first = wf.identity(1)
        slow = wf.gated(gate, first)
        return wf.identity(slow)

    did = ct.dispatch(lat)(str(gate))
    wait_for_status(did, 2, "RUNNING")
    ct.cancel(did)
    gate.touch()
    result = ct.get_result(did, wait=True, timeout=30)
    assert result.status == "CANCELLED"
    assert result.get_node_result(0)["output"].get_deserialized() == 1
    assert result.get_node_result(2)["status"] == "COMPLETED"
    assert result.get_node_result(4)["status"] == "CANCELLED"


@both_modes
def test_cancel_selected_tasks(tmp_path):
    gate = tmp_path / "gate"

    @ct.lattice
    def lat(gate):
        a = wf.gated(gate, 1)
        b = wf.identity(a)
        c = wf.identity(2)
        return [b, c]

    did = ct.dispatch(lat)(str(gate))
    wait_for_status(did, 0, "RUNNING")
    ct.cancel(did, task_ids=[3])
    gate.touch()
    result = ct.get_result(did, wait=True, timeout=30)
    assert result.get_node_result(3)["status"] == "CANCELLED"
    assert result.get_node_result(0)["status"] == "COMPLETED"
    assert result.get_node_result(5)["status"] == "COMPLETED"
    assert result.status == "CANCELLED"


@both_modes
def test_bad_arguments_write_nothing(active_store):
    with pytest.raises(TypeError, match=r"plain_howto\(a, b\)"):
        ct.dispatch(wf.plain_howto)(1, 2, 3)
    lock = threading.Lock()
    with pytest.raises(SerializationError, match="argument 'a'"):
        ct.dispatch(wf.plain_howto)(lock, 2)
    assert active_store.list_dispatches() == []


@both_modes
def test_unknown_dispatch_id_is_a_clear_error():
    with pytest.raises(DispatchNotFoundError, match="no dispatch"):
        ct.get_result("00000000-0000-4000-8000-000000000000")
    with pytest.raises(DispatchNotFoundError):
        ct.cancel("00000000-0000-4000-8000-000000000000")


@both_modes
def test_non_lattice_is_refused():
    with pytest.raises(TypeError, match=r"@ct\.lattice"):
        ct.dispatch(wf.plain_task_0)(1)


@both_modes
def test_wait_timeout():
    @ct.lattice
    def lat():
        return wf.sleepy(2, 1)

    did = ct.dispatch(lat)()
    with pytest.raises(TimeoutError, match="did not finish within"):
        ct.get_result(did, wait=True, timeout=0.05)
    assert ct.get_result(did, wait=True, timeout=30).result == 1


@both_modes
def test_status_only_and_dispatch_sync():
    result = ct.dispatch_sync(wf.diamond)(1)
    assert result.result == 5
    assert ct.get_result(result.dispatch_id, status_only=True) == {
        "id": result.dispatch_id,
        "status": "COMPLETED",
    }


@both_modes
def test_disable_run_records_without_running():
    did = ct.dispatch(wf.diamond, disable_run=True)(1)
    assert ct.get_result(did).status == ct.status.NEW_OBJECT
    assert not ct.get_result(did).status


@both_modes
def test_result_readable_from_another_process(valence_home, tmp_path):
    did = run(wf.plain_howto, 1, 2).dispatch_id
    script = textwrap.dedent(
        f"""
        import valence as ct
        r = ct.get_result({did!r})
        print(r.status, r.result, r.get_node_result(2)["output"].get_deserialized())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "VALENCE_HOME": str(valence_home)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["COMPLETED", "16", "4"]


def test_default_process_executor_runs_tasks(monkeypatch):
    monkeypatch.setenv("VALENCE_EXECUTOR", "local")
    result = run(wf.diamond, 1)
    assert result.result == 5
    assert result.get_node_result(0)["executor"] == "local"


@pytest.mark.slow
def test_waits_for_running_dispatches_at_exit(tmp_path, valence_home):
    module = tmp_path / "exitflow.py"
    module.write_text(
        textwrap.dedent(
            """
            import time
            import valence as ct

            @ct.electron
            def slow(x):
                time.sleep(0.5)
                return x * 2

            @ct.lattice
            def flow(x):
                return slow(x)

            if __name__ == "__main__":
                print(ct.dispatch(flow)(21))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(module)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "VALENCE_HOME": str(valence_home), "VALENCE_EXECUTOR": "local"},
    )
    assert out.returncode == 0, out.stderr
    assert "waiting for 1 running dispatch" in out.stderr
    result = ct.get_result(out.stdout.strip())
    assert result.status == "COMPLETED" and result.result == 42


@both_modes
def test_function_sources_are_stored_in_both_modes(active_store):
    result = run(wf.plain_howto, 1, 2)
    record = active_store.get_dispatch(result.dispatch_id)
    assert "def plain_howto(a, b):" in record.lattice_source
    node = active_store.get_node(result.dispatch_id, 2)
    assert "def plain_task_1(x, y):" in active_store.get_blob(node.source_digest).decode()


def test_tracebacks_show_source_lines_on_the_process_pool(monkeypatch):
    monkeypatch.setenv("VALENCE_EXECUTOR", "local")
    result = run(wf.failing, 1)
    assert result.status == "FAILED"
    assert 'raise ValueError(f"boom {x}")' in result.get_node_result(0)["traceback"]


@pytest.mark.parametrize("executor", ["thread", "local"])
def test_cancel_a_running_task_discards_it_and_skips_its_dependents(
    tmp_path, monkeypatch, executor
):
    monkeypatch.setenv("VALENCE_EXECUTOR", executor)
    gate = tmp_path / "gate"

    @ct.lattice
    def lat(gate):
        slow = wf.gated(gate, 1)
        after = wf.identity(slow)
        other = wf.identity(2)
        return [after, other]

    did = ct.dispatch(lat)(str(gate))
    wait_for_status(did, 0, "RUNNING")
    ct.cancel(did, task_ids=[0])
    gate.touch()
    result = ct.get_result(did, wait=True, timeout=60)
    assert result.get_node_result(0)["status"] == "CANCELLED"
    assert result.get_node_result(0)["output"] is None
    assert result.get_node_result(3)["status"] == "CANCELLED"  # its dependent never ran
    assert result.get_node_result(4)["output"].get_deserialized() == 2  # independent branch
    assert result.status == "CANCELLED"


def test_unknown_executor_name_is_refused_before_anything_is_written():
    from valence.engine.embedded import get_embedded
    from valence.errors import UnknownExecutorError

    typo = ct.electron(wf.identity.function, executor="thraed")

    @ct.lattice
    def lat(x):
        return typo(x)

    with pytest.raises(UnknownExecutorError, match="'thraed' is not registered"):
        ct.dispatch(lat)(1)
    assert get_embedded().store.list_dispatches() == []
