"""DepsBash / DepsPip / DepsCall as definitions, and hook-injected arguments in the graph."""

from __future__ import annotations

from pathlib import Path

import pytest

import valence as ct
from valence.errors import TracingError
from valence.workflow.graph import NodeKind


def connect() -> str:
    return "connection"


def query(sql, conn=None):
    return f"{sql} via {conn}"


def needs_conn(sql, conn):
    return f"{sql} via {conn}"


def anything(sql, **kwargs):
    return f"{sql} via {kwargs.get('conn')}"


INJECT = ct.DepsCall(connect, retval_keyword="conn")


def test_covalent_spellings_are_normalized() -> None:
    task = ct.electron(query, deps_bash="echo hi", deps_pip=["pkg-a", "pkg-b"], call_before=INJECT)
    assert task.metadata["deps_bash"] == ct.DepsBash(["echo hi"])
    assert task.metadata["deps_pip"] == ct.DepsPip(packages=["pkg-a", "pkg-b"])
    assert task.metadata["call_before"] == [INJECT]
    assert task.metadata["call_after"] is None  # unset: inherited from the lattice
    assert repr(INJECT) == "DepsCall(connect, args=(), kwargs={}, retval_keyword='conn')"
    flow = ct.lattice(deps_bash=["a", "b"])(query)
    assert flow.metadata["deps_bash"].commands == ["a", "b"]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"deps_bash": 3}, TypeError, "deps_bash= takes a DepsBash"),
        ({"deps_pip": {"numpy": 1}}, TypeError, "deps_pip= takes a DepsPip"),
        ({"call_before": connect}, TypeError, "call_before= takes a ct.DepsCall"),
        ({"call_after": [INJECT]}, ValueError, "call_after hooks cannot inject"),
        ({"retries": -1}, ValueError, "retries= takes a whole number"),
        ({"retries": 1.5}, ValueError, "retries= takes a whole number"),
        ({"retry_delay": -1}, ValueError, "retry_delay= takes a number"),
        ({"timeout": 0}, ValueError, r"timeout= takes a number of seconds > 0"),
    ],
)
def test_bad_options_get_one_clear_message(options, error, message) -> None:
    with pytest.raises(error, match=message):
        ct.electron(query, **options)


def test_deps_objects_check_their_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="DepsBash commands must be strings"):
        ct.DepsBash(["ok", 3])
    with pytest.raises(ValueError, match="needs packages"):
        ct.DepsPip()
    with pytest.raises(FileNotFoundError, match="cannot read the requirements file"):
        ct.DepsPip(reqs_path=str(tmp_path / "missing.txt"))
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("pkg-a==1\n")
    assert ct.DepsPip(reqs_path=str(reqs)).requirements_content == "pkg-a==1\n"
    with pytest.raises(TypeError, match="needs a function"):
        ct.DepsCall(None)
    with pytest.raises(ValueError, match="'files' is reserved"):
        ct.DepsCall(connect, retval_keyword="files")
    assert ct.DepsCall(connect, retval_keyword="files", override_reserved_retval_keys=True)


def _graph(fn, *args, **kwargs):
    @ct.lattice
    def flow():
        return fn(*args, **kwargs)

    return flow.build_graph()


def test_an_injected_argument_is_not_an_edge() -> None:
    task = ct.electron(query, call_before=[INJECT])
    graph = _graph(task, "select 1")
    assert [(n.name, n.kind) for n in graph.nodes] == [
        ("query", NodeKind.ELECTRON),
        (":parameter:select 1", NodeKind.PARAMETER),
    ]
    passed = _graph(task, "select 1", conn="ignored: the hook's value wins")
    assert len(passed.nodes) == 2 and {e.name for e in passed.edges} == {"sql"}


def test_an_injected_argument_may_have_no_default() -> None:
    graph = _graph(ct.electron(needs_conn, call_before=INJECT), "q")
    assert {e.name for e in graph.edges} == {"sql"}


def test_an_injected_argument_may_land_in_var_keyword() -> None:
    graph = _graph(ct.electron(anything, call_before=INJECT), "q", other=1)
    assert sorted(e.name for e in graph.edges) == ["other", "sql"]


def test_injecting_an_unknown_parameter_is_refused() -> None:
    task = ct.electron(connect, call_before=INJECT)
    with pytest.raises(TracingError, match="injects 'conn', which is not a keyword parameter"):
        _graph(task)


def test_passing_an_injected_argument_by_position_is_refused() -> None:
    task = ct.electron(query, call_before=INJECT)
    with pytest.raises(TracingError, match="'conn' is injected by a call_before hook"):
        _graph(task, "q", "positional")


def test_a_lattice_hook_injects_into_its_tasks() -> None:
    task = ct.electron(query)

    @ct.lattice(call_before=[INJECT])
    def flow(sql):
        return task(sql)

    result = ct.dispatch_sync(flow)("select 2")
    assert result.status == "COMPLETED", result.error
    assert result.result == "select 2 via connection"


def test_several_hooks_with_one_keyword_pass_a_list() -> None:
    hooks = [INJECT, ct.DepsCall(str.upper, args=("second",), retval_keyword="conn")]
    task = ct.electron(query, call_before=hooks)

    @ct.lattice
    def flow():
        return task("q")

    assert ct.dispatch_sync(flow)().result == "q via ['connection', 'SECOND']"
