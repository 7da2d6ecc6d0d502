"""The graph's pure helpers: one topological order for every caller, names without kind prefixes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as hs

from valence.workflow.graph import (
    DICT_PREFIX,
    LIST_PREFIX,
    PARAMETER_PREFIX,
    SUBLATTICE_PREFIX,
    NodeKind,
    TransportGraph,
    bare_name,
    topological_order,
)


@hs.composite
def dags(draw: hs.DrawFn) -> tuple[list[int], list[tuple[int, int]]]:
    """Node ids in a random order and edges that respect a hidden random ranking."""
    n = draw(hs.integers(0, 12))
    ranked = draw(hs.permutations(range(n)))
    pairs = hs.tuples(hs.integers(0, max(n - 1, 0)), hs.integers(0, max(n - 1, 0)))
    drawn = draw(hs.lists(pairs, max_size=30 if n else 0))
    edges = [(ranked[a], ranked[b]) for a, b in drawn if a < b]
    return draw(hs.permutations(range(n))), edges


@given(dags())
def test_every_parent_comes_before_its_children(dag: tuple[list[int], list[tuple[int, int]]]):
    ids, edges = dag
    order = topological_order(ids, edges)
    assert sorted(order) == sorted(ids)
    position = {node_id: i for i, node_id in enumerate(order)}
    assert all(position[parent] < position[child] for parent, child in edges)


@given(hs.permutations(range(8)))
def test_without_edges_the_given_order_is_kept(ids: list[int]):
    assert topological_order(ids, []) == ids


def test_nodes_on_or_below_a_cycle_are_left_out():
    assert topological_order([0, 1, 2, 3], [(0, 1), (1, 0), (1, 2), (3, 2)]) == [3]


def test_the_transport_graph_starts_from_its_roots_in_id_order():
    graph = TransportGraph()
    for name in "abcd":
        graph.add_node(name, NodeKind.ELECTRON)
    graph.add_edge(3, 0, "x", "arg")
    graph.add_edge(2, 1, "x", "arg")
    assert graph.topological_order() == [2, 3, 1, 0]  # then breadth first


@given(hs.sampled_from([PARAMETER_PREFIX, LIST_PREFIX, DICT_PREFIX, SUBLATTICE_PREFIX]), hs.text())
def test_bare_name_drops_only_the_kind_prefix(prefix: str, rest: str):
    assert bare_name(prefix + rest) == rest
    node = TransportGraph().add_node(prefix + rest, NodeKind.PARAMETER)
    assert node.bare_name == rest


def test_bare_name_keeps_other_names():
    for name in ("task", ":other:x", "parameter:x", ""):
        assert bare_name(name) == name
