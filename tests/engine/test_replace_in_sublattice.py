"""Replacements and sublattices: a changed task inside runs; an identical one should not.

Found by the reuse oracle (tests/oracle): any ``replace_electrons`` entry enters every
sublattice node's key (``valence/workflow/keys.py::_with_replacements``), so replacing a
task by an identical new version (or replacing a task the sublattice does not even call)
reruns every sublattice node and everything downstream of it. Inner tasks are still
reused by key, so results are right; only reuse is lost. Also found by the oracle and
fixed: a sublattice that runs again was paired with the parent's child dispatch by node id
only, so when ids shifted the tasks inside it lost their reuse.
"""

from __future__ import annotations

import importlib
import sys

import pytest

import valence as ct

FLOW = """
import valence as ct


@ct.electron
def inner(x):
    return x * {factor}


@ct.electron
@ct.lattice
def sub(x):
    return inner(x)


@ct.electron
def after(y):
    return y + 1


@ct.lattice
def flow(x):
    return after(sub(x))
"""


def _load(tmp_path, monkeypatch, factor):
    (tmp_path / "sub_flow.py").write_text(FLOW.format(factor=factor))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("sub_flow", None)
    importlib.invalidate_caches()
    return importlib.import_module("sub_flow")


def _decisions(result):
    return {n["node_name"]: n["reason"]["code"] for n in result.get_all_node_results()}


@pytest.mark.xfail(
    strict=True, reason="lost reuse: any replacement enters every sublattice node's key"
)
def test_identical_replacement_keeps_the_sublattice_reused(tmp_path, monkeypatch):
    module = _load(tmp_path, monkeypatch, 2)
    parent = ct.get_result(ct.dispatch(module.flow)(5), wait=True, timeout=120)
    again = _load(tmp_path, monkeypatch, 2)  # new objects, same code
    replace = {"inner": again.inner, "after": again.after}
    rid = ct.redispatch(
        parent.dispatch_id, replace_electrons=replace, reuse_previous_results=True
    )()
    result = ct.get_result(rid, wait=True, timeout=120)
    assert result.result == 11
    decisions = _decisions(result)
    assert decisions[":sublattice:sub"] == "reused"
    assert decisions["after"] == "reused"


def test_changed_replacement_inside_a_sublattice_runs(tmp_path, monkeypatch):
    module = _load(tmp_path, monkeypatch, 2)
    parent = ct.get_result(ct.dispatch(module.flow)(5), wait=True, timeout=120)
    edited = _load(tmp_path, monkeypatch, 3)
    replace = {"inner": edited.inner, "after": edited.after}
    rid = ct.redispatch(
        parent.dispatch_id, replace_electrons=replace, reuse_previous_results=True
    )()
    result = ct.get_result(rid, wait=True, timeout=120)
    assert result.result == 16
    assert _decisions(result)["after"] != "reused"


SHIFT = """
import valence as ct


@ct.electron
def first(x):
    return str(x)


@ct.electron
def inner1(x):
    return x + 1


@ct.electron
def inner2(x):
    return x + 2


@ct.electron
@ct.lattice
def sub(x):
    return [inner1(x), inner2(x)]


@ct.lattice
def shifted(p0, p1):
    return first(p0), sub(p1)
"""


@ct.electron
def inner2(x):
    return x + 200


def test_tasks_inside_a_rerun_sublattice_are_reused_when_node_ids_shift(tmp_path, monkeypatch):
    """A dict input becomes a collection node: ids move, the sublattice is still paired."""
    (tmp_path / "shift_flow.py").write_text(SHIFT)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("shift_flow")
    parent = ct.get_result(ct.dispatch(module.shifted)((1, 2), 5), wait=True, timeout=120)
    rid = ct.redispatch(
        parent.dispatch_id, replace_electrons={"inner2": inner2}, reuse_previous_results=True
    )({"k": 3})
    result = ct.get_result(rid, wait=True, timeout=120)
    assert result.result == ("{'k': 3}", [6, 205])
    sub = next(n for n in result.get_all_node_results() if n["node_name"] == ":sublattice:sub")
    inside = {n["node_name"]: n for n in sub["sublattice_result"].get_all_node_results()}
    assert inside["inner1"]["reused_from"] is not None
    assert inside["inner2"]["reused_from"] is None
