"""Redispatch through the public API, with side-effect logs proving what ran."""

from __future__ import annotations

import pytest

import valence as ct
from tests import workflows as rf
from valence.errors import ReplacementError

both_modes = pytest.mark.both_modes  # embedded and against a real server (tests/modes.py)


@pytest.fixture(autouse=True)
def task_log(tmp_path, monkeypatch):
    path = tmp_path / "ran.log"
    path.write_text("")
    monkeypatch.setenv("VALENCE_TEST_LOG", str(path))

    def ran():
        lines = path.read_text().split()
        path.write_text("")
        return sorted(lines)

    return ran


def wait(did):
    result = ct.get_result(did, wait=True, timeout=60)
    assert result.status in ("COMPLETED", "FAILED"), result
    return result


def dispatch(lattice, *args, **kwargs):
    return wait(ct.dispatch(lattice)(*args, **kwargs))


def redo(did, *args, **options):
    kwargs = options.pop("kwargs", {})
    return wait(ct.redispatch(did, **options)(*args, **kwargs))


@both_modes
def test_covalent_howto_replacement_with_reuse(task_log):
    parent = dispatch(rf.howto, 1, 2)
    assert parent.result == 6
    task_log()
    new = redo(
        parent.dispatch_id,
        replace_electrons={"task_2": rf.task_2_redefined},
        reuse_previous_results=True,
    )
    assert new.result == 8
    assert task_log() == ["task_2_redefined"]
    for node_id in (0, 2):
        node = new.get_node_result(node_id)
        assert node["start_time"] == node["end_time"]
        assert node["reused_from"] == {"dispatch_id": parent.dispatch_id, "node_id": node_id}
    assert new.get_node_result(4)["reason"]["code"] == "replaced"
    assert new.redispatched_from == parent.dispatch_id
    assert new.root_dispatch_id == new.dispatch_id


@both_modes
def test_covalent_howto_new_arguments(task_log):
    parent = dispatch(rf.howto, 1, 2)
    task_log()
    new = redo(parent.dispatch_id, 1, 4, reuse_previous_results=True)
    assert new.result == 2 + 8
    assert task_log() == ["task_1", "task_2"]
    assert new.get_node_result(0)["reused_from"] is not None
    assert new.get_node_result(2)["reused_from"] is None
    assert new.get_node_result(2)["reason"]["code"] == "changed_argument"
    assert new.get_node_result(4)["reason"]["code"] == "upstream_changed"


@both_modes
def test_without_reuse_everything_runs(task_log):
    parent = dispatch(rf.howto, 1, 2)
    task_log()
    new = redo(parent.dispatch_id)
    assert new.result == 6
    assert task_log() == ["task_0", "task_1", "task_2"]
    assert new.get_node_result(0)["reason"]["code"] == "reuse_off"


@both_modes
def test_original_kwargs_are_kept(task_log):
    parent = dispatch(rf.with_kwargs, 1, b=5)
    assert parent.result == 2 + 10
    new = redo(parent.dispatch_id, replace_electrons={"task_2": rf.task_2_redefined})
    assert new.result == 2 * 10
    assert new.inputs.get_deserialized() == {"args": (1,), "kwargs": {"b": 5}}


@both_modes
def test_partial_new_inputs_change_only_that_parameter(task_log):
    parent = dispatch(rf.with_kwargs, 1, b=5)
    task_log()
    new = redo(parent.dispatch_id, reuse_previous_results=True, kwargs={"b": 7})
    assert new.result == 2 + 14
    assert task_log() == ["task_1", "task_2"]
    new2 = redo(parent.dispatch_id, 3, reuse_previous_results=True)
    assert new2.result == 4 + 10
    assert task_log() == ["task_0", "task_2"]


@both_modes
def test_arguments_that_do_not_bind_are_refused_and_nothing_written(active_store):
    parent = dispatch(rf.with_kwargs, 1, b=5)
    store = active_store
    before = len(store.list_dispatches())
    with pytest.raises(TypeError, match="Did you mean 'b'"):
        ct.redispatch(parent.dispatch_id)(bb=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'zz'"):
        ct.redispatch(parent.dispatch_id)(zz=3)
    with pytest.raises(TypeError, match=r"with_kwargs\(a, b=10\)"):
        ct.redispatch(parent.dispatch_id)(1, 2, 3)
    assert len(store.list_dispatches()) == before


@both_modes
def test_node_gaining_an_input_is_not_reused(task_log):
    parent = dispatch(rf.gains_input, 1)
    assert parent.result == 1
    task_log()
    new = redo(parent.dispatch_id, reuse_previous_results=True, kwargs={"use_a": True})
    assert new.result == 102
    assert "task_b" in task_log()


@both_modes
def test_growing_input_list_keeps_reuse_of_untouched_elements(task_log):
    parent = dispatch(rf.fan, [1, 2, 3])
    assert parent.result == 14
    task_log()
    new = redo(parent.dispatch_id, [1, 2, 3, 4], reuse_previous_results=True)
    assert new.result == 30
    assert task_log() == ["power(4)", "total"]


@both_modes
def test_stochastic_task_and_downstream_always_rerun(task_log):
    parent = dispatch(rf.stochastic, 1)
    task_log()
    new = redo(parent.dispatch_id, reuse_previous_results=True)
    assert task_log() == ["noisy", "task_0"]
    reasons = {r["node_name"]: r["reason"] for r in new.get_all_node_results()}
    assert reasons["noisy"]["code"] == "not_reusable"
    assert "reusable=False" in reasons["noisy"]["text"]
    assert reasons["task_0"]["code"] == "not_reusable"
    assert reasons["task_1"]["code"] == "reused"


@both_modes
def test_failed_then_fixed_reruns_only_what_must(task_log):
    parent = dispatch(rf.breaks, 1, 2)
    assert parent.status == "FAILED"
    task_log()
    new = redo(
        parent.dispatch_id, replace_electrons={"fragile": rf.sturdy}, reuse_previous_results=True
    )
    assert new.status == "COMPLETED", new.error
    assert new.result == 2 + 1004
    assert task_log() == ["sturdy", "task_2"]


@both_modes
def test_failed_node_with_same_key_is_not_reused(task_log):
    parent = dispatch(rf.breaks, 1, 2)
    task_log()
    new = redo(parent.dispatch_id, reuse_previous_results=True)
    assert new.status == "FAILED"
    assert task_log() == ["fragile"]
    fragile = next(r for r in new.get_all_node_results() if r["node_name"] == "fragile")
    assert fragile["reason"]["code"] == "parent_not_completed"


@both_modes
def test_redispatch_of_redispatch_reuses_transitively(task_log):
    first = dispatch(rf.howto, 1, 2)
    second = redo(
        first.dispatch_id,
        replace_electrons={"task_2": rf.task_2_redefined},
        reuse_previous_results=True,
    )
    task_log()
    third = redo(second.dispatch_id, reuse_previous_results=True)
    assert task_log() == []
    assert third.result == 8
    assert third.get_node_result(4)["node_name"] == "task_2_redefined"
    fourth = redo(third.dispatch_id, 5, reuse_previous_results=True)
    assert fourth.result == 6 * 4
    assert task_log() == ["task_0", "task_2_redefined"]


@both_modes
def test_reused_output_is_the_same_blob_and_parent_is_immutable(task_log, active_store):
    parent = dispatch(rf.howto, 1, 2)
    store = active_store
    before = [
        (n.node_id, n.status, n.output_digest, n.start_time, n.end_time)
        for n in store.get_nodes(parent.dispatch_id)
    ]
    before_bytes = {d: store.get_blob(d) for _, _, d, _, _ in before if d}
    before_record = store.get_dispatch(parent.dispatch_id)
    new = redo(
        parent.dispatch_id,
        5,
        6,
        replace_electrons={"task_2": rf.task_2_redefined},
        reuse_previous_results=True,
    )
    again = redo(parent.dispatch_id, reuse_previous_results=True)
    assert [n.output_digest for n in store.get_nodes(again.dispatch_id)] == [b[2] for b in before]
    after = [
        (n.node_id, n.status, n.output_digest, n.start_time, n.end_time)
        for n in store.get_nodes(parent.dispatch_id)
    ]
    assert after == before
    assert {d: store.get_blob(d) for d in before_bytes} == before_bytes
    record = store.get_dispatch(parent.dispatch_id)
    assert (record.result_digest, record.status, record.end_time) == (
        before_record.result_digest,
        before_record.status,
        before_record.end_time,
    )
    assert ct.get_result(parent.dispatch_id).result == 6
    assert new.result == 6 * 12


MODULE = """
import valence as ct
from tests.workflows import log

FACTOR = {factor}


def helper(x):
    # {comment}
    return x * FACTOR


@ct.electron
def scaled(x):
    log("scaled")
    return helper(x)


@ct.electron
def plus_one(x):
    log("plus_one")
    return x + 1


@ct.lattice
def flow(x):
    return plus_one(scaled(x))
"""


def load_module(tmp_path, monkeypatch, **fmt):
    import importlib
    import sys

    (tmp_path / "userflow.py").write_text(MODULE.format(**fmt))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("userflow", None)
    importlib.invalidate_caches()
    return importlib.import_module("userflow")


@both_modes
def test_helper_function_change_invalidates_reuse(task_log, tmp_path, monkeypatch):
    v1 = load_module(tmp_path, monkeypatch, factor=10, comment="first")
    parent = dispatch(v1.flow, 2)
    assert parent.result == 21
    task_log()
    cosmetic = load_module(tmp_path, monkeypatch, factor=10, comment="only a comment changed")
    same = redo(
        parent.dispatch_id,
        replace_electrons={"scaled": cosmetic.scaled},
        reuse_previous_results=True,
    )
    assert same.result == 21 and task_log() == []
    v2 = load_module(tmp_path, monkeypatch, factor=100, comment="first")
    new = redo(
        parent.dispatch_id, replace_electrons={"scaled": v2.scaled}, reuse_previous_results=True
    )
    assert new.result == 201
    assert task_log() == ["plus_one", "scaled"]


@both_modes
def test_force_rerun_forces_named_task_and_dependents(task_log):
    parent = dispatch(rf.howto, 1, 2)
    task_log()
    new = redo(parent.dispatch_id, reuse_previous_results=True, force_rerun=["task_1"])
    assert task_log() == ["task_1", "task_2"]
    assert new.get_node_result(2)["reason"]["code"] == "forced"
    with pytest.raises(ReplacementError, match="force_rerun"):
        ct.redispatch(parent.dispatch_id, force_rerun=["nope"])()


@both_modes
def test_unknown_replacement_lists_names_and_writes_nothing(active_store):
    parent = dispatch(rf.howto, 1, 2)
    store = active_store
    before = len(store.list_dispatches())
    with pytest.raises(ReplacementError, match="task_0, task_1, task_2"):
        ct.redispatch(parent.dispatch_id, replace_electrons={"task_9": rf.task_0})()
    with pytest.raises(ReplacementError, match=r"task_2\(x, y\)"):
        ct.redispatch(parent.dispatch_id, replace_electrons={"task_2": rf.task_0})()
    assert len(store.list_dispatches()) == before


@both_modes
def test_plain_function_and_lattice_as_replacements(task_log):
    parent = dispatch(rf.howto, 1, 2)

    def plain(x, y):
        return x - y

    assert redo(parent.dispatch_id, replace_electrons={"task_2": plain}).result == 2 - 4

    @ct.lattice
    def as_lattice(x, y):
        return rf.task_2_redefined(x, y) + 1

    new = redo(parent.dispatch_id, replace_electrons={"task_2": as_lattice})
    assert new.result == 9
    assert new.get_node_result(4)["kind"] == "electron"


@both_modes
def test_replacement_metadata_applies():
    parent = dispatch(rf.howto, 1, 2)
    replacement = ct.electron(rf.task_2_redefined.function, executor="inline")
    new = redo(parent.dispatch_id, replace_electrons={"task_2": replacement})
    assert new.get_node_result(4)["executor"] == "inline"


@both_modes
def test_replacement_applies_inside_sublattices(task_log):
    parent = dispatch(rf.outer, 1)
    assert parent.result == 5

    @ct.electron
    def task_1(b):
        return b * 3

    new = redo(
        parent.dispatch_id, replace_electrons={"task_1": task_1}, reuse_previous_results=True
    )
    assert new.result == 2 * 3 + 1


@both_modes
def test_plan_previews_without_running(task_log, active_store):
    parent = dispatch(rf.howto, 1, 2)
    task_log()
    store = active_store
    before = len(store.list_dispatches())
    plan = ct.redispatch(parent.dispatch_id, reuse_previous_results=True).plan(1, 4)
    assert [(d.name, d.action) for d in plan.tasks()] == [
        ("task_0", "reuse"),
        ("task_1", "run"),
        ("task_2", "run"),
    ]
    assert "changed argument" in str(plan)
    assert len(store.list_dispatches()) == before
    assert task_log() == []


@both_modes
def test_full_reuse_shortcut_matches_a_traced_redispatch(task_log, active_store):
    parent = dispatch(rf.fan, [1, 2, 3])
    store = active_store
    shortcut = redo(parent.dispatch_id, reuse_previous_results=True)  # nothing changed: no trace
    traced = redo(parent.dispatch_id, [1, 2, 3], reuse_previous_results=True)  # same inputs, traced
    assert task_log() == ["power(1)", "power(2)", "power(3)", "total"]  # only the parent ran
    rows = [
        [(n.name, n.key, n.output_digest, n.status) for n in store.get_nodes(r.dispatch_id)]
        for r in (parent, shortcut, traced)
    ]
    assert rows[0] == rows[1] == rows[2]
    assert shortcut.result == traced.result == parent.result
    assert all(n["reused_from"] for n in shortcut.get_all_node_results())


@both_modes
def test_tasks_inside_a_rerun_sublattice_are_still_reused(task_log):
    parent = dispatch(rf.outer, 1)
    task_log()

    @ct.electron
    def task_1(b):
        return b * 3

    new = redo(
        parent.dispatch_id, replace_electrons={"task_1": task_1}, reuse_previous_results=True
    )
    assert new.result == 2 * 3 + 1
    assert task_log() == ["task_0"]  # the outer task_0 only: the inner one was reused
    child = new.get_node_result(0)["sublattice_result"]
    inner = {n["node_name"]: n for n in child.get_all_node_results()}
    assert inner["task_0"]["reused_from"] is not None
    assert inner["task_1"]["reason"]["code"] == "replaced"
