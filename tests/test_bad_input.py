"""Bad input through the public API, embedded and via a real server: one clear error, no change."""

from __future__ import annotations

import time

import pytest

import valence as ct
from tests import workflows as wf
from valence.errors import DispatchNotFoundError, SerializationError

both_modes = pytest.mark.both_modes


def wait_running(dispatch_id: str, node_id: int) -> None:
    deadline = time.time() + 30
    while ct.get_result(dispatch_id).get_node_result(node_id)["status"] != "RUNNING":
        assert time.time() < deadline, f"node {node_id} never ran"
        time.sleep(0.01)


@ct.lattice
def gated_pair(gate):
    a = wf.gated(gate, 1)
    return wf.identity(a)


BAD_TASK_IDS = [
    (9999, ValueError, "has no node(s) 9999"),
    (-1, ValueError, "has no node(s) -1"),
    (2**70, ValueError, "its node ids are 0..3"),
    ([0, 2**64], ValueError, "has no node(s) 1844674407370955"),
    ("abc", TypeError, "task_ids must be a node id"),
    ([None], TypeError, "got None"),
    ([True], TypeError, "got True"),
    ([1.0], TypeError, "got 1.0"),
    (3.5, TypeError, "task_ids must be a node id"),
]


@both_modes
def test_cancel_refuses_ids_that_are_not_nodes_and_changes_nothing(tmp_path):
    gate = tmp_path / "gate"
    did = ct.dispatch(gated_pair)(str(gate))
    wait_running(did, 0)
    np = pytest.importorskip("numpy")

    for task_ids, error, text in [*BAD_TASK_IDS, (np.int64(-1), ValueError, "no node(s) -1")]:
        with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
            ct.cancel(did, task_ids)
    gate.touch()
    result = ct.get_result(did, wait=True, timeout=60)
    assert result.status == "COMPLETED", result.error
    assert [n["status"] for n in result.get_all_node_results()] == ["COMPLETED"] * 4
    assert result.result == 1


@both_modes
def test_dispatch_ids_are_checked_and_matched_in_any_case():
    did = ct.dispatch(wf.plain_howto)(1, 2)
    ct.get_result(did, wait=True, timeout=60)
    with pytest.raises(TypeError, match=r"a dispatch id is a str .* got int 12345"):
        ct.get_result(12345)
    assert ct.get_result(did[:8].upper()).dispatch_id == did
    assert ct.get_result(f"  {did.upper()} ").dispatch_id == did
    for hostile in (f"{did[:8]}?x=1", f"{did[:8]}/../{did[:8]}", f"{did[:8]}#x", "%", "_"):
        with pytest.raises(DispatchNotFoundError, match="dispatch ids are UUIDs"):
            ct.get_result(hostile)
    with pytest.raises(ValueError, match="empty prefix"):
        ct.get_result("")
    for timeout in (float("nan"), -1):
        with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0"):
            ct.get_result(did, wait=True, timeout=timeout)
    with pytest.raises(TypeError, match="timeout is a number of seconds"):
        ct.get_result(did, wait=True, timeout="5")
    assert ct.get_result(did, wait=True, timeout=float("inf")).result == 16


@both_modes
def test_redispatch_options_of_the_wrong_shape_are_refused(active_store):
    did = ct.dispatch(wf.plain_howto)(1, 2)
    ct.get_result(did, wait=True, timeout=60)
    with pytest.raises(TypeError, match=r"replace_electrons maps task names .* got list"):
        ct.redispatch(did, replace_electrons=[wf.plain_task_0])
    with pytest.raises(TypeError, match=r"replace_electrons maps task names \(str\)"):
        ct.redispatch(did, replace_electrons={"plain_task_0": 3})
    with pytest.raises(TypeError, match=r"force_rerun takes a list .* force_rerun=\['add'\]"):
        ct.redispatch(did, force_rerun="add")
    with pytest.raises(TypeError, match="force_rerun holds task names"):
        ct.redispatch(did, force_rerun=[1])
    assert [r.dispatch_id for r in active_store.list_dispatches()] == [did]  # nothing written


def test_an_electron_needs_a_readable_signature():
    with pytest.raises(TypeError, match=r"cannot read the signature of time\.sleep .* Wrap it"):
        ct.electron(time.sleep)
    with pytest.raises(TypeError, match="cannot read the signature"):
        ct.electron(executor="thread")(time.sleep)


class Unloadable:
    """Pickles fine; unpickling it raises (as a class changed since the run would)."""

    def __reduce__(self):
        return (_refuse_to_load, ())


def _refuse_to_load():
    raise RuntimeError("this value refuses to load here")


@ct.electron
def make_unloadable():
    return Unloadable()


@ct.lattice
def unloadable():
    return make_unloadable()


@both_modes
def test_an_output_that_cannot_be_unpickled_names_its_task():
    result = ct.get_result(ct.dispatch(unloadable)(), wait=True, timeout=60)
    assert result.status == "COMPLETED", result.error
    did = result.dispatch_id
    with pytest.raises(
        SerializationError, match=f"output of node 0 \\(make_unloadable\\) of dispatch {did}"
    ):
        result.get_node_result(0)["output"].get_deserialized()
    with pytest.raises(
        SerializationError, match=f"the result of dispatch {did}: .*refuses to load"
    ):
        result.result


@ct.electron
def consume(x):
    return 1


@ct.lattice
def unloadable_chain():
    return consume(make_unloadable())


@both_modes
def test_a_reused_input_that_cannot_be_unpickled_names_its_producer():
    first = ct.get_result(ct.dispatch(unloadable_chain)(), wait=True, timeout=60)
    assert first.status == "COMPLETED", first.error  # the live value passed in memory
    again = ct.redispatch(first.dispatch_id, reuse_previous_results=True, force_rerun=["consume"])()
    result = ct.get_result(again, wait=True, timeout=60)
    assert result.status == "FAILED"
    assert (
        "Node 1 (consume) failed: SerializationError: cannot load the output of node 0 "
        "(make_unloadable): cannot deserialize a stored value: RuntimeError: this value "
        "refuses to load here"
    ) in result.error


@ct.electron
def chatty(size):
    print("x" * size)
    print("é" * size)
    return size


@ct.lattice
def chatty_flow(size):
    return chatty(size)


@both_modes
def test_task_output_is_capped_and_read_only_when_asked(monkeypatch, client_mode):
    monkeypatch.setenv("VALENCE_MAX_STREAM_BYTES", "1000")
    result = ct.get_result(ct.dispatch(chatty_flow)(5000), wait=True, timeout=60)
    assert result.result == 5000
    assert result.nodes[0].stdout is None  # records come without streams; read when asked
    stdout = result.get_node_result(0)["stdout"]
    kept, note = stdout.split("\n[valence: ")
    assert kept == "x" * 1000
    assert note.startswith("14002 more bytes of stdout not kept")  # (5000 + 1 + 10000 + 1) - 1000
    assert "VALENCE_MAX_STREAM_BYTES" in note
    assert result.get_node_result(0)["stderr"] == ""
    every = ct.get_result(result.dispatch_id).get_all_node_results()  # streams in one read
    assert every[0]["stdout"] == stdout and every[1]["stdout"] == ""
