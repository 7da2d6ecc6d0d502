"""Tracing a lattice into a transport graph: numbering, names, constructs, refusals."""

from __future__ import annotations

from collections import namedtuple

import cloudpickle
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import valence as ct
from tests import workflows as wf
from valence import serialize
from valence.errors import TracingError
from valence.workflow.graph import NodeKind


def names(graph):
    return [n.name for n in graph.nodes]


def test_howto_numbering_matches_covalent():
    graph = wf.plain_howto.build_graph(1, 2)
    assert names(graph) == [
        "plain_task_0",
        ":parameter:1",
        "plain_task_1",
        ":parameter:2",
        "plain_task_2",
    ]
    assert [(e.parent, e.child, e.name, e.param_type, e.arg_index) for e in graph.edges] == [
        (1, 0, "x", "arg", 0),
        (0, 2, "x", "arg", 0),
        (3, 2, "y", "arg", 1),
        (2, 4, "x", "arg", 0),
    ]


def test_kwargs_and_defaults():
    @ct.electron
    def f(a, b=2, *, c, d=4):
        return a + b + c + d

    @ct.lattice
    def lat(x):
        return f(x, c=3)

    graph = lat.build_graph(1)
    assert names(graph) == ["f", ":parameter:1", ":parameter:3"]
    assert [(e.name, e.param_type) for e in graph.edges] == [("a", "arg"), ("c", "kwarg")]


def test_keyword_passed_positional_parameter_is_a_kwarg_edge():
    @ct.lattice
    def lat(x):
        return wf.plain_task_1(x, y=5)

    graph = lat.build_graph(1)
    assert [(e.name, e.param_type, e.arg_index) for e in graph.edges] == [
        ("x", "arg", 0),
        ("y", "kwarg", None),
    ]


def test_unpacking_getitem_getattr():
    @ct.lattice
    def lat(x):
        a, b = wf.pair(x)
        c = wf.pair(x)[0]
        d = wf.pair(x)["k"]
        e = wf.pair(x).real
        return a, b, c, d, e

    graph = lat.build_graph(1)
    kinds = [n.kind for n in graph.nodes]
    assert names(graph)[:6] == [
        "pair",
        ":parameter:1",
        ":pair()[0]",
        ":parameter:0",
        ":pair()[1]",
        ":parameter:1",
    ]
    assert kinds.count(NodeKind.GETITEM) == 4
    assert kinds.count(NodeKind.GETATTR) == 1
    assert ":pair.__getattr__" in names(graph)


def test_collections_keep_their_type():
    @ct.lattice
    def lat(x):
        a = wf.identity(x)
        return wf.identity([a, (a, 2), {"k": a, 3: [1]}])

    graph = lat.build_graph(1)
    ops = [n.op for n in graph.nodes if n.kind is NodeKind.COLLECTION]
    assert ops == ["list", "tuple", "dict", "list"]
    dict_node = next(n for n in graph.nodes if n.op == "dict")
    assert dict_node.keys == ("k", 3)


def test_arithmetic_and_reflected():
    @ct.lattice
    def lat(x):
        a = wf.identity(x)
        return [a + 1, 2 - a, a * a, 3 / a, a**2, 2**a, a // 2, a % 3]

    graph = lat.build_graph(1)
    op_names = [n.name for n in graph.nodes if n.kind is NodeKind.OPERATOR]
    assert op_names == [
        "identity_+_1",
        "2_-_identity",
        "identity_*_identity",
        "3_/_identity",
        "identity_**_2",
        "2_**_identity",
        "identity_//_2",
        "identity_%_3",
    ]


def test_wait_adds_control_edges():
    @ct.lattice
    def lat(x):
        a = wf.identity(x)
        b = wf.identity(2)
        ct.wait(b, [a])
        return b

    graph = lat.build_graph(1)
    waits = [e for e in graph.edges if e.param_type == "wait"]
    assert [(e.parent, e.child, e.name) for e in waits] == [(0, 2, "!waiting_edge")]


def test_loops_and_return_structures():
    @ct.lattice
    def lat(xs):
        outs = [wf.plain_task_0(x) for x in xs]
        return {"all": outs, "first": outs[0], "const": 7}

    graph = lat.build_graph([1, 2, 3])
    assert names(graph).count("plain_task_0") == 3
    assert graph.output["const"] == 7
    assert [r.node_id for r in graph.output["all"]] == [0, 2, 4]


def test_sublattice_node_and_parity_parameters():
    graph = wf.with_sublattice.build_graph(1)
    assert names(graph)[:6] == [
        "add",
        ":parameter:1",
        ":parameter:1",
        ":sublattice:sub_workflow",
        ":parameter:sub_workflow",
        names(graph)[5],
    ]
    assert graph.nodes[3].kind is NodeKind.SUBLATTICE


def test_lattice_called_inside_lattice_is_inlined():
    @ct.lattice
    def outer(x):
        return wf.sub_workflow(x)

    graph = outer.build_graph(1)
    assert names(graph) == ["add", ":parameter:1", ":parameter:100"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        (lambda o: bool(o), "Truth testing"),
        (lambda o: int(o), "int()"),
        (lambda o: float(o), "float()"),
        (lambda o: len(o), "len()"),
        (lambda o: o < 1, "Comparison (<)"),
        (lambda o: o == 1, "Comparison (==)"),
        (lambda o: [x for x in o], "Iterating"),
        (lambda o: list(o), "Iterating"),
        (lambda o: o.method(), "Calling"),
        (lambda o: 1 in o, "`in` operator"),
    ],
)
def test_refused_constructs_raise_clear_errors(body, fragment):
    @ct.lattice
    def lat(x):
        return body(wf.identity(x))

    with pytest.raises(TracingError, match="sublattice") as info:
        lat.build_graph(1)
    assert fragment in str(info.value)


def test_star_unpacking_refused():
    @ct.lattice
    def lat(x):
        a, *_rest = wf.pair(x)
        return a

    with pytest.raises(TracingError, match="Star-unpacking"):
        lat.build_graph(1)


def test_if_on_output_refused():
    @ct.lattice
    def lat(x):
        if wf.identity(x):
            return 1
        return 2

    with pytest.raises(TypeError, match="Truth testing"):
        lat.build_graph(1)


def test_bad_arguments_name_the_signature():
    with pytest.raises(TypeError, match=r"plain_howto\(a, b\)"):
        wf.plain_howto.build_graph(1)

    @ct.lattice
    def lat(model_params):
        return wf.identity(model_params)

    with pytest.raises(TypeError, match="Did you mean 'model_params'"):
        lat.build_graph(model_parameters=1)


def test_outside_a_lattice_things_just_run():
    assert wf.plain_task_0(1) == 2
    assert wf.plain_howto(1, 2) == 16
    assert wf.with_sublattice(1) == 103


def test_decorated_objects_keep_identity_and_pickle():
    assert wf.plain_task_0.__name__ == "plain_task_0"
    assert wf.plain_howto.__doc__.startswith("Covalent's")
    assert wf.plain_task_0.__wrapped__(1) == 2
    again = cloudpickle.loads(cloudpickle.dumps(wf.plain_howto))
    assert again(1, 2) == 16
    assert cloudpickle.loads(serialize.dumps(wf.plain_task_0))(3) == 4


def test_namedtuple_is_a_constant():
    Point = namedtuple("Point", "x y")

    @ct.lattice
    def lat():
        return wf.identity(Point(1, 2))

    graph = lat.build_graph()
    assert graph.nodes[1].kind is NodeKind.PARAMETER


@given(hs.lists(hs.integers(), max_size=6), hs.integers())
def test_graph_building_is_deterministic(xs, y):
    @ct.lattice
    def lat(xs, y):
        outs = [wf.add(x, y) for x in xs]
        return wf.identity(outs)

    assert lat.build_graph(xs, y).describe() == lat.build_graph(xs, y).describe()
