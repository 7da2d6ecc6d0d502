"""The UI's pure helpers on plain records: labels, helper contraction, inputs, categories."""

from __future__ import annotations

from valence.server.ui import views
from valence.store.records import EdgeRecord, NodeRecord


def node(node_id: int, kind: str = "electron", name: str | None = None, **fields) -> NodeRecord:
    return NodeRecord("d", node_id, name or f"n{node_id}", kind, "COMPLETED", **fields)


def edge(parent: int, child: int, name: str = "x", param_type: str = "arg") -> EdgeRecord:
    return EdgeRecord("d", parent, child, name, param_type)


def pairs(edges) -> list[tuple[int, int]]:
    return sorted((e["source"], e["target"]) for e in edges)


def test_labels_strip_covalent_prefixes_and_stay_short():
    assert views.label(":parameter:10") == "10"
    assert views.label(":sublattice:sub_workflow") == "sub_workflow"
    assert views.label(":electron_list:") == "list"
    assert views.label(":electron_dict:") == "dict"
    assert views.label(":pair()[0]") == "pair()[0]"
    assert views.label("train") == "train"
    assert views.label(":parameter:") == "''"
    long = views.label("x" * 40)
    assert len(long) == views.LABEL_CHARS and long.endswith("…")


def test_task_edges_go_through_chains_of_helpers():
    # 0 task -> 1 getitem -> 2 getitem -> 4 task; 3 parameter -> 4; 0 -> 5 collection <- 6 task
    # 5 collection -> 7 task; 8 operator(0, 6) -> 9 task, twice (deduplicated, names merged)
    nodes = [
        node(0),
        node(1, "getitem"),
        node(2, "getitem"),
        node(3, "parameter"),
        node(4),
        node(5, "collection"),
        node(6),
        node(7),
        node(8, "operator"),
        node(9),
    ]
    edges = [
        edge(0, 1, "e"),
        edge(1, 2, "e"),
        edge(2, 4, "a"),
        edge(3, 4, "b"),
        edge(0, 5),
        edge(6, 5),
        edge(5, 7, "items"),
        edge(0, 8, "arg_1"),
        edge(6, 8, "arg_2"),
        edge(8, 9, "p"),
        edge(8, 9, "q"),
        edge(4, 9, "w", "wait"),
    ]
    found = views.task_edges(nodes, edges)
    assert pairs(found) == [(0, 4), (0, 7), (0, 9), (4, 9), (6, 7), (6, 9)]
    by_pair = {(e["source"], e["target"]): e for e in found}
    assert by_pair[(0, 4)]["via_helpers"] and by_pair[(0, 4)]["name"] == "a"
    assert by_pair[(0, 9)]["name"] == "p, q"
    assert not by_pair[(4, 9)]["via_helpers"] and by_pair[(4, 9)]["param_type"] == "wait"


def test_task_edges_keep_direct_edges_and_drop_helper_only_paths():
    nodes = [node(0, "parameter"), node(1), node(2), node(3, "collection")]
    edges = [edge(0, 1), edge(1, 2), edge(2, 3)]  # the output collection is not a task
    assert pairs(views.task_edges(nodes, edges)) == [(1, 2)]


def test_task_edges_on_a_long_helper_chain_do_not_recurse():
    chain = [node(0), *(node(i, "operator") for i in range(1, 3000)), node(3000)]
    edges = [edge(i, i + 1) for i in range(3000)]
    assert pairs(views.task_edges(chain, edges)) == [(0, 3000)]


def test_inputs_are_named_from_the_lattice_source_or_signature():
    source = "@ct.lattice\ndef flow(a, b=2, *rest, key=None):\n    return a\n"
    names = views.parameter_names(source)
    assert names == (["a", "b"], "rest")

    def flow(a, b=2, *rest, key=None): ...

    assert views.signature_names(flow) == names
    shown = views.named_inputs(*names, {"args": (1, [2], 3), "kwargs": {"key": "k"}})
    assert [(i.name, i.preview) for i in shown] == [
        ("a", "1"),
        ("b", "[2]"),
        ("*rest[0]", "3"),
        ("key", "k"),
    ]
    assert views.parameter_names("not python (") == ([], None)
    assert [i.name for i in views.named_inputs([], None, {"args": (1,)})] == ["args[0]"]


def test_input_changes_mark_what_differs():
    before = views.named_inputs(["a", "b"], None, {"args": (1, 2), "kwargs": {}})
    after = views.named_inputs(["a", "b"], None, {"args": (1, 3), "kwargs": {"c": 4}})
    changes = {c.name: (c.before, c.after, c.changed) for c in views.input_changes(before, after)}
    assert changes == {
        "a": ("1", "1", False),
        "b": ("2", "3", True),
        "c": (None, "4", True),
    }


def test_previews_are_short_and_never_raise():
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert views.preview(Broken()) == "<cannot show value: RuntimeError: no>"
    assert len(views.preview("x" * 5000)) == views.PREVIEW_CHARS


def test_categories_follow_the_recorded_reason():
    reuse = {"decision": "reuse", "code": "reused", "text": "same key"}
    replaced = {"decision": "run", "code": "replaced", "text": "score replaced by recall"}
    rerun = {"decision": "run", "code": "upstream_changed", "text": "upstream changed: 1"}
    assert views.category(node(0, reason=reuse, reused_from_dispatch="p")) == "reused"
    assert views.category(node(0, reason=replaced)) == "replaced"
    assert views.category(node(0, reason=rerun)) == "recomputed"
    assert views.category(node(0)) == "unexplained"
    out = views.compare_node(node(3, reason=replaced, metadata={"replaced": "score"}))
    assert (out.category, out.code, out.replaced) == ("replaced", "replaced", "score")


def test_rich_views_of_tables_arrays_images_and_plain_values():
    import numpy as np
    import pandas as pd

    from valence.server.ui.rich import rich_value

    table = rich_value(pd.DataFrame({"a": range(50), "b": ["x"] * 50}))
    assert (table.kind, table.shape, table.columns, len(table.rows)) == (
        "table",
        [50, 2],
        ["a", "b"],
        20,
    )
    assert rich_value(pd.Series([1, 2], name="s")).columns == ["s"]
    array = rich_value(np.zeros((3, 4), dtype="int8"))
    assert (array.kind, array.shape, array.dtype) == ("array", [3, 4], "int8")
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 10
    assert rich_value(png).image.startswith("data:image/png;base64,")
    assert rich_value(b"plain bytes").kind == "none"
    assert rich_value({"a": 1}).kind == "none"

    class Picture:
        def _repr_png_(self):
            return png

    assert rich_value(Picture()).mime == "image/png"


def test_inputs_are_editable_only_when_json_keeps_them_exactly():
    names = views.named_inputs(
        ["a", "b", "c", "d"],
        "rest",
        {"args": (1.5, (1, 2), {"k": [1, None]}, {1: 2}, 7), "kwargs": {"e": "s"}},
    )
    editable = {i.name: (i.editable, i.json_value) for i in names}
    assert editable == {
        "a": (True, 1.5),
        "b": (False, None),  # a tuple would come back a list
        "c": (True, {"k": [1, None]}),
        "d": (False, None),  # int keys would come back strings
        "*rest[0]": (False, None),  # varargs bind by position only
        "e": (True, "s"),
    }
    assert views.as_json(float("nan")) == (False, None)
    assert views.as_json(True) == (True, True) and views.as_json(1) == (True, 1)
