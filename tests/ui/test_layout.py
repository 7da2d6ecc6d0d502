"""The server-side drawing: sibling groups and the layered layout, on plain items."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as s

from valence.server.ui import layout
from valence.server.ui.layout import Item


def items(names: list[str], status: str = "COMPLETED") -> list[Item]:
    return [Item(i, name, name, status) for i, name in enumerate(names)]


def draw(nodes, edges, expanded=()):
    drawn, box_of = layout.group_siblings(nodes, edges, expanded)
    links = layout.drawn_edges(edges, box_of)
    layout.place(drawn, links)
    return drawn, box_of, links


def test_a_fan_out_becomes_one_group_with_counts():
    nodes = items(["square"] * 2000 + ["total"])
    nodes[5] = Item(5, "square", "square", "FAILED")
    edges = [(i, 2000) for i in range(2000)]
    drawn, _, links = draw(nodes, edges)
    assert [(b.key, b.label) for b in drawn] == [("g0", "square ×2000"), ("n2000", "total")]
    assert drawn[0].counts == {"COMPLETED": 1999, "FAILED": 1}
    assert layout.group_status(drawn[0].counts) == "FAILED"
    assert links == [("g0", "n2000", 2000)]
    assert drawn[1].y > drawn[0].y  # top to bottom


def test_a_second_stage_under_a_group_groups_too_and_survives_expanding_the_first():
    # a_i -> b_i for 10 i: two groups; expanding the first keeps the second grouped
    nodes = items(["a"] * 10 + ["b"] * 10)
    edges = [(i, i + 10) for i in range(10)]
    drawn, _, links = draw(nodes, edges)
    assert [b.key for b in drawn] == ["g0", "g10"] and links == [("g0", "g10", 10)]
    drawn, _, links = draw(nodes, edges, expanded={"g0"})
    assert [b.key for b in drawn] == [*(f"n{i}" for i in range(10)), "g10"]
    assert sorted(links) == sorted((f"n{i}", "g10", 1) for i in range(10))


def test_few_siblings_or_different_names_are_not_grouped():
    nodes = items(["a"] * (layout.GROUP_MIN - 1) + ["b", "c"])
    drawn, _, _ = draw(nodes, [])
    assert not any(b.group for b in drawn) and len(drawn) == len(nodes)


def test_group_status_prefers_what_needs_attention():
    assert layout.group_status({"COMPLETED": 3}) == "COMPLETED"
    assert layout.group_status({"COMPLETED": 3, "RUNNING": 1, "FAILED": 1}) == "FAILED"
    assert layout.group_status({"COMPLETED": 3, "PENDING_BACKEND": 2}) == "PENDING_BACKEND"
    assert layout.group_status({"COMPLETED": 3, "NEW_OBJECT": 2}) == "NEW_OBJECT"


def test_a_wide_rank_wraps_into_rows():
    nodes = items([f"t{i}" for i in range(layout.ROW_MAX * 2 + 1)])  # distinct: no group
    drawn, _, _ = draw(nodes, [])
    assert len({b.y for b in drawn}) == 3


@s.composite
def dags(draw_):
    n = draw_(s.integers(1, 60))
    names = draw_(s.lists(s.sampled_from("abc"), min_size=n, max_size=n))
    pairs = draw_(s.lists(s.tuples(s.integers(0, n - 1), s.integers(0, n - 1)), max_size=3 * n))
    edges = sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b})  # acyclic
    return items(names), edges


@settings(max_examples=150, deadline=None)
@given(dags(), s.booleans())
def test_every_node_is_drawn_once_without_overlaps_and_edges_point_down(graph, expand_all):
    nodes, edges = graph
    expanded = {f"g{n.id}" for n in nodes} if expand_all else set()
    drawn, box_of, links = draw(nodes, edges, expanded)
    members = sorted(m for b in drawn for m in b.members)
    assert members == [n.id for n in nodes]
    assert all(box_of[m] == b.key for b in drawn for m in b.members)
    for box in drawn:
        if box.group:
            assert len(box.members) >= layout.GROUP_MIN
            assert len({nodes[m].name for m in box.members}) == 1
    y_of = {b.key: b.y for b in drawn}
    assert all(y_of[a] < y_of[b] for a, b, _ in links)
    rows: dict[float, list[layout.Drawn]] = {}
    for box in drawn:
        rows.setdefault(box.y, []).append(box)
    for row in rows.values():
        row.sort(key=lambda b: b.x)
        for left, right in itertools.pairwise(row):
            assert left.x + left.width / 2 <= right.x - right.width / 2
    assert sum(n for _, _, n in links) == sum(box_of[a] != box_of[b] for a, b in edges)


def test_a_long_chain_of_one_task_becomes_one_box_and_expands():
    nodes = items(["load"] + ["step"] * 30 + ["report"])
    edges = [(i, i + 1) for i in range(31)]
    drawn, box_of = layout.group_siblings(nodes, edges)
    names = {n.id: n.name for n in nodes}
    drawn = layout.collapse_chains(drawn, box_of, edges, names)
    assert [b.label for b in drawn] == ["load", "step ×30 (chain)", "report"]
    assert drawn[1].members == list(range(1, 31)) and box_of[17] == "c1"
    links = layout.drawn_edges(edges, box_of)
    assert sorted(links) == [("c1", "n31", 1), ("n0", "c1", 1)]
    layout.place(drawn, links)
    assert [b.y for b in drawn] == [0.0, layout.RANK_GAP, 2 * layout.RANK_GAP]

    drawn, box_of = layout.group_siblings(nodes, edges)
    drawn = layout.collapse_chains(drawn, box_of, edges, names, expanded={"c1"})
    assert len(drawn) == 32


def test_a_chain_with_a_branch_is_not_collapsed_across_the_branch():
    nodes = items(["step"] * 20 + ["side"])
    edges = [(i, i + 1) for i in range(19)] + [(9, 20)]  # node 9 also feeds "side"
    drawn, box_of = layout.group_siblings(nodes, edges)
    names = {n.id: n.name for n in nodes}
    drawn = layout.collapse_chains(drawn, box_of, edges, names)
    assert sorted(b.label for b in drawn) == ["side", "step ×10 (chain)", "step ×10 (chain)"]
