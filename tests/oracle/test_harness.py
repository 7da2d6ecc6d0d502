"""The oracle's own model and comparison: what must run, and that a stale reuse is caught."""

from __future__ import annotations

import copy

import pytest

from tests.oracle.components import Component
from tests.oracle.edits import Edit
from tests.oracle.harness import Case, Mismatch, Options, compare, expected_runs
from tests.oracle.model import Scope, SubCall, Task, Workflow


def _workflow(stochastic: bool = False) -> Workflow:
    inner = Scope("sub0", 1, [Task("t1", ["x0"], []), Task("t2", ["v0"], [])])
    top = Scope(
        "wf",
        2,
        [
            Task("t0", ["p0"], [], reusable=not stochastic),
            SubCall(inner, ["v0"]),
            Task("t3", ["v1", "p1"], []),
            Task("t4", ["p1"], []),
        ],
    )
    return Workflow("c0", [], top, ["1", "2"])


def test_an_edited_task_runs_with_its_dependents_across_a_sublattice():
    assert expected_runs(_workflow(), {"t1"}, set()) == ["t1", "t2", "t3"]
    assert expected_runs(_workflow(), set(), {"p1"}) == ["t3", "t4"]
    assert expected_runs(_workflow(), set(), set()) == []


def test_a_stochastic_task_reruns_its_graph_but_a_sublattice_keys_by_value():
    assert expected_runs(_workflow(stochastic=True), set(), set()) == ["t0", "t3"]
    # a changed value does reach inside
    assert expected_runs(_workflow(), {"t0"}, set()) == ["t0", "t1", "t2", "t3"]


def test_same_output_edits_stop_at_the_sublattice_boundary():
    assert expected_runs(_workflow(), {"t0"}, set(), same_output=True) == ["t0", "t3"]


def test_replacements_rerun_sublattice_nodes_and_their_dependents():
    assert expected_runs(_workflow(), set(), set(), replaced=True) == ["t3"]


def _run(result: int, ran: list[str]) -> dict:
    return {"status": "COMPLETED", "error": "", "result": result, "ran": ran, "reasons": {}}


def _case(edit_kind: str = "electron_body", affected: frozenset[str] = frozenset({"t4"})) -> Case:
    wf = _workflow()
    edit = Edit(edit_kind, edit_kind, copy.deepcopy(wf), set(affected), in_main=False)
    return Case(wf, edit, Options(replace_all=False, delete_module=False))


EVERYTHING = ["t0", "t1", "t2", "t3", "t4"]
INPUTS = {"p0": ["a", "a"], "p1": ["b", "b"]}


def test_compare_accepts_reuse_equal_to_a_fresh_run():
    out = {"inputs": INPUTS, "reuse": _run(1, ["t4"]), "fresh": _run(1, EVERYTHING)}
    compare(_case(), {}, out)


@pytest.mark.parametrize(
    ("reuse", "message"),
    [
        (_run(2, ["t4"]), "STALE: reuse differs"),
        (_run(1, []), "STALE: did not run ['t4']"),
        (_run(1, ["t0", "t4"]), "LOST REUSE: ran ['t0']"),
    ],
)
def test_compare_catches_stale_and_lost_reuse(reuse, message):
    out = {"inputs": INPUTS, "reuse": reuse, "fresh": _run(1, EVERYTHING)}
    with pytest.raises(Mismatch, match=message.replace("[", r"\[").replace("]", r"\]")):
        compare(_case(), {}, out)


def test_compare_catches_a_fresh_run_that_differs_from_a_new_dispatch():
    out = {
        "inputs": INPUTS,
        "reuse": _run(1, ["t4"]),
        "fresh": _run(1, EVERYTHING),
        "dispatch": _run(3, EVERYTHING),
    }
    with pytest.raises(Mismatch, match="reuse off differs from a fresh dispatch"):
        compare(_case(), {}, out)


def test_the_rendered_module_is_valid_python():
    wf = _workflow()
    source = wf.main_source()
    compile(source, f"{wf.module}.py", "exec")
    assert "@ct.electron(reusable=False)" in _workflow(stochastic=True).main_source()
    assert "def sub0(x0):" in source


def test_rekeyed_tasks_run_without_moving_values():
    assert expected_runs(_workflow(), set(), set(), rekeyed=frozenset({"t1"})) == ["t1", "t2", "t3"]
    assert expected_runs(_workflow(), set(), set(), rekeyed=frozenset({"t0"})) == ["t0", "t3"]


def test_a_pinned_task_keeps_its_key_but_returns_new_output_when_it_runs():
    pinned = frozenset({"t0"})
    assert expected_runs(_workflow(), {"t0"}, set(), pinned=pinned) == []
    stochastic = _workflow(stochastic=True)
    runs = expected_runs(stochastic, {"t0"}, set(), pinned=pinned)
    assert runs == ["t0", "t1", "t2", "t3"]


def _reads_globals_case(replace_all: bool) -> tuple[Case, dict]:
    """t4 reads its module through ``globals()``; the edit bumps the package's version."""
    wf = _workflow()
    wf.comps = [Component("dyn", 0, {"b": 3})]
    wf.top.steps[3].comps = [0]
    bumped = copy.deepcopy(wf)
    bumped.pkg_version += 1
    edit = Edit("package_version", "bump", bumped, set(), in_main=False, same_output=True)
    case = Case(wf, edit, Options(replace_all=replace_all, delete_module=False))
    return case, {"inputs": INPUTS, "fresh": _run(1, EVERYTHING)}


def test_a_replaced_task_reading_globals_is_keyed_by_the_package_it_imports():
    # found by a long oracle run: the replacement's fingerprint reads every module
    # global, the package module (by its version) included, so t4 must run again
    case, out = _reads_globals_case(replace_all=True)
    compare(case, {}, {**out, "reuse": _run(1, ["t4"])})
    with pytest.raises(Mismatch, match=r"STALE: did not run \['t4'\]"):
        compare(case, {}, {**out, "reuse": _run(1, [])})
    # without replacements the stored code runs, keyed as before: t4 stays reused
    case, out = _reads_globals_case(replace_all=False)
    compare(case, {}, {**out, "reuse": _run(1, [])})


def test_consumers_of_a_rerun_that_changed_no_value_may_be_cut_off():
    """Found by a long oracle run: t2 inside the sublattice is edited, but the sublattice
    returns t1's value, so t3 sees byte-identical inputs and early cutoff may reuse it."""
    inner = Scope(
        "sub0", 1, [Task("t1", ["x0"], []), Task("t2", ["x0"], []), Task("t5", ["v0"], [])]
    )
    top = Scope("wf", 1, [SubCall(inner, ["p0"]), Task("t3", ["v0"], [])])
    wf = Workflow("c0", [], top, ["1"])
    may: list[str] = []
    assert expected_runs(wf, {"t2"}, set(), may=may) == ["t2"]
    assert may == ["t3"]
    # a changed value is never optional; nor is anything after a reusable=False task
    may = []
    assert expected_runs(wf, {"t1"}, set(), may=may) == ["t1", "t3", "t5"]
    assert may == []
    inner.steps[1].reusable = False
    assert expected_runs(wf, set(), set(), may=may) == ["t2", "t3"]


def test_a_hook_argument_edit_does_not_rekey_a_task_reading_globals():
    """Found by a 400-example run: t4 reads its module through ``globals()``; editing t0's
    hook argument changes t0's dispatch options, not the module token t4 is keyed by."""
    case, out = _reads_globals_case(replace_all=True)
    edited = copy.deepcopy(case.workflow)
    for kind in ("hook_argument", "deps_bash", "pinned_unchanged"):
        edit = Edit(kind, kind, edited, {"t0"}, same_output=True)
        hook_case = Case(case.workflow, edit, case.options)
        compare(hook_case, {}, {**out, "reuse": _run(1, ["t0"])})
    body = Case(case.workflow, Edit("electron_body", "body", edited, {"t0"}), case.options)
    with pytest.raises(Mismatch, match=r"STALE: did not run \[.*'t4'\]"):
        compare(body, {}, {**out, "reuse": _run(1, ["t0"])})


def test_a_lazy_module_edit_rekeys_a_replaced_task_reading_globals():
    """Found by a 300-example run: a module-level helper imports the lazy module in its
    body, so a replaced task reading ``globals()`` is keyed by that module's code too."""
    case, out = _reads_globals_case(replace_all=True)
    edit = Edit("lazy_module", "lazy", copy.deepcopy(case.workflow), set(), in_main=False)
    lazy_case = Case(case.workflow, edit, case.options)
    compare(lazy_case, {}, {**out, "reuse": _run(1, ["t4"])})
    with pytest.raises(Mismatch, match=r"STALE: did not run \['t4'\]"):
        compare(lazy_case, {}, {**out, "reuse": _run(1, [])})
