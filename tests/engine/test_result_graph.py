"""``Result.lattice.transport_graph`` and get_result's loading flags, embedded and served."""

from __future__ import annotations

import pytest

import valence as ct
from valence.errors import UnsupportedOptionError
from valence.store import Store

both_modes = pytest.mark.both_modes


@ct.electron
def add(x, y):
    print(f"adding {x} and {y}")
    return x + y


@ct.electron
def multiply(x, y):
    return x * y


@ct.lattice
def workflow(x, y):
    res_1 = add(x=x, y=y)
    return multiply(x=res_1, y=y)


@ct.lattice
def inner(a):
    return add(a, 1)


@ct.lattice
def outer(a):
    return multiply(ct.electron(inner)(a), 2)


@both_modes
def test_covalent_query_howtos_run_unchanged(capsys):
    # doc/source/how_to/collection/query_electron_execution_result.ipynb
    dispatch_id = ct.dispatch(workflow)(x=2, y=3)
    result = ct.get_result(dispatch_id=dispatch_id, wait=True)
    outputs = result.get_all_node_outputs()
    assert outputs["add(0)"].get_deserialized() == 5
    assert result.get_node_result(node_id=0)["node_name"] == "add"
    # doc/source/how_to/collection/query_lattice_execution_result.ipynb
    print(f"Workflow execution status: {result.status}")
    print(f"Result: {result.result}")
    print(f"Inputs: {result.inputs}")
    print(f"Execution start time: {result.start_time}")
    print(f"Execution end time: {result.end_time}")
    out = capsys.readouterr().out
    assert "Workflow execution status: COMPLETED" in out and "Result: 15" in out

    # doc/source/how_to/collection/query_multiple_lattice_execution_results.ipynb
    @ct.electron
    def identity(x):
        return x

    @ct.electron
    def square(x):
        return x * x

    @ct.lattice
    def workflow_2(a):
        val_1 = identity(x=a)
        return square(x=val_1)

    params = [1, 2, 3, 4]
    dispatch_ids = [ct.dispatch(workflow_2)(a=param) for param in params]

    for dispatch_id in dispatch_ids:
        print(dispatch_id)

    results = []

    for dispatch_id in dispatch_ids:
        result = ct.get_result(dispatch_id=dispatch_id, wait=True)
        results.append(result)

    for i in params:
        print(results[i - 1])
    assert [r.result for r in results] == [1, 4, 9, 16]


@both_modes
def test_transport_graph_answers_covalents_questions():
    result = ct.dispatch_sync(workflow)(x=2, y=3)
    tg = result.lattice.transport_graph
    names = {tg.get_node_value(i, "name"): i for i in tg.node_ids}
    add_id, mul_id = names["add"], names["multiply"]
    assert tg.get_node_value(add_id, "status") == ct.status.COMPLETED
    assert tg.get_node_value(add_id, "output").get_deserialized() == 5
    assert tg.get_node_value(add_id, "stdout") == "adding 2 and 3\n"
    assert tg.get_node_value(add_id, "stderr") == ""
    assert tg.get_node_value(add_id, "error") is None
    start, end = tg.get_node_value(add_id, "start_time"), tg.get_node_value(add_id, "end_time")
    assert start <= end
    assert tg.get_node_value(add_id, "sub_dispatch_id") is None
    assert "def add" in tg.get_node_value(add_id, "function_string")
    assert tg.get_node_value(add_id, "function").get_deserialized()(1, 2) == 3
    assert add_id in tg.get_dependencies(mul_id)
    assert tg.get_edge_data(add_id, mul_id) == {
        0: {"edge_name": "x", "param_type": "kwarg", "arg_index": None}
    }
    assert tg.get_edge_data(mul_id, add_id) is None
    y_param = next(i for i in tg.get_dependencies(mul_id) if i != add_id)
    assert tg.get_node_value(y_param, "value").get_deserialized() == 3
    with pytest.raises(KeyError, match="nodes have no value 'colour'; known keys: "):
        tg.get_node_value(add_id, "colour")
    with pytest.raises(KeyError, match="has no node 99"):
        tg.get_node_value(99, "name")


@both_modes
def test_sublattice_nodes_link_their_child_dispatch():
    result = ct.dispatch_sync(outer)(4)
    assert result.result == 10
    tg = result.lattice.transport_graph
    (sub_id,) = [i for i in tg.node_ids if tg.get_node_value(i, "sub_dispatch_id")]
    child = tg.get_node_value(sub_id, "sublattice_result")
    assert child.dispatch_id == tg.get_node_value(sub_id, "sub_dispatch_id")
    assert child.result == 5
    assert result.get_node_result(sub_id)["sublattice_result"].result == 5


@pytest.fixture
def blob_reads(monkeypatch):
    """How many blobs the store reads (in this process: the embedded store or the server's)."""
    reads = []
    get_blobs = Store.get_blobs

    def counting(self, digests):
        digests = list(digests)
        reads.extend(digests)
        return get_blobs(self, digests)

    monkeypatch.setattr(Store, "get_blobs", counting)
    return reads


@both_modes
def test_get_result_loads_only_what_was_asked_for(blob_reads):
    dispatch_id = ct.dispatch(outer)(4)
    ct.get_result(dispatch_id, wait=True, timeout=60)
    blob_reads.clear()
    result = ct.get_result(
        dispatch_id, workflow_output=False, intermediate_outputs=False, sublattice_results=False
    )
    assert result.status == ct.status.COMPLETED
    assert result.result is None
    assert all(value is None for value in result.get_all_node_outputs().values())
    assert all(n["sublattice_result"] is None for n in result.get_all_node_results())
    assert blob_reads == []  # nothing was read
    full = ct.get_result(dispatch_id)
    assert full.result == 10
    assert len(blob_reads) >= 1
    only_result = ct.get_result(dispatch_id, intermediate_outputs=False)
    assert only_result.result == 10
    sub = next(n for n in only_result.get_all_node_results() if n["sublattice_result"])
    assert sub["sublattice_result"].get_node_result(0)["output"] is None  # flags carry down


def test_results_dir_is_refused_not_ignored():
    dispatch_id = ct.dispatch(workflow)(x=1, y=1)
    with pytest.raises(UnsupportedOptionError, match="results_dir='/tmp/r'"):
        ct.get_result(dispatch_id, results_dir="/tmp/r")
