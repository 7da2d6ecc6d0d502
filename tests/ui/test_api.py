"""The JSON endpoints the UI reads (graph, lineage, inputs, compare, source, arguments),
and the pages and static files, on a real server."""

from __future__ import annotations

import httpx
import pytest

from tests.ui.workflows import pipeline, score_v2
from tests.workflows import with_sublattice

TASKS = ["load", "normalise", "train", "score", "report"]


def get(server, path: str, **options) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1{path}", timeout=30, **options)


def names(graph: dict, edges: str) -> set[tuple[str, str]]:
    by_id = {n["id"]: n["name"] for n in graph["nodes"]}
    return {(by_id[e["source"]], by_id[e["target"]]) for e in graph[edges]}


def test_graph_has_nodes_edges_and_task_edges_through_helpers(server):
    dispatch_id = server.dispatch(pipeline, 10, c=0.5)
    server.wait(dispatch_id)
    graph = get(server, f"/dispatches/{dispatch_id[:8]}/graph?edges=true&helpers=true").json()
    assert (graph["dispatch_id"], graph["status"], graph["done"]) == (dispatch_id, "COMPLETED", 1)
    tasks = [n["name"] for n in graph["nodes"] if not n["helper"]]
    assert tasks == TASKS
    helpers = {n["label"] for n in graph["nodes"] if n["helper"]}
    assert helpers == {"10", "2.0", "0.5"}
    assert all(n["status"] == "COMPLETED" and not n["reused"] for n in graph["nodes"])
    assert names(graph, "task_edges") == {
        ("load", "normalise"),
        ("normalise", "train"),
        ("normalise", "score"),
        ("train", "score"),
        ("train", "report"),
        ("score", "report"),
    }
    assert len(graph["edges"]) == len(names(graph, "task_edges")) + 3  # + one per parameter
    assert len(graph["boxes"]) == 8 and graph["total_nodes"] == 8
    lean = get(server, f"/dispatches/{dispatch_id}/graph").json()
    assert (lean["edges"], lean["task_edges"]) == ([], [])  # only the drawing by default
    assert [n["name"] for n in lean["nodes"]] == TASKS and lean["total_nodes"] == 8
    assert [b["label"] for b in lean["boxes"]] == TASKS  # laid out top to bottom
    assert [b["y"] for b in lean["boxes"]] == sorted(b["y"] for b in lean["boxes"])
    assert len(lean["box_edges"]) == 6


def test_lineage_goes_up_the_redispatch_chain_and_down_the_tree(server):
    first = server.dispatch(pipeline, 3)
    server.wait(first)
    second = server.redispatch(first, reuse_previous_results=True)
    server.wait(second)
    third = server.redispatch(second, reuse_previous_results=True)
    sibling = server.redispatch(first)
    server.wait(third), server.wait(sibling)

    up = get(server, f"/dispatches/{third}/lineage").json()
    assert [d["dispatch_id"] for d in up["ancestors"]] == [first, second]
    assert up["derived"] == [] and up["sublattice_parent"] is None
    down = get(server, f"/dispatches/{first}/lineage").json()
    assert [(d["depth"], d["dispatch"]["dispatch_id"]) for d in down["derived"]] == [
        (1, second),
        (2, third),
        (1, sibling),
    ]
    assert down["derived"][0]["dispatch"]["progress"] == {"COMPLETED": len(TASKS)}  # tasks only


def test_lineage_links_sublattice_runs(server):
    parent = server.dispatch(with_sublattice, 1)
    server.wait(parent)
    lineage = get(server, f"/dispatches/{parent}/lineage").json()
    [child] = lineage["sublattices"]
    assert child["parent_dispatch_id"] == parent
    back = get(server, f"/dispatches/{child['dispatch_id']}/lineage").json()
    assert back["sublattice_parent"]["dispatch_id"] == parent
    assert back["sublattice_parent_node"] is not None


def test_compare_sorts_nodes_into_reused_replaced_recomputed_with_inputs(server):
    parent = server.dispatch(pipeline, 10, c=0.5)
    server.wait(parent)
    child = server.redispatch(
        parent, replace_electrons={"score": score_v2}, reuse_previous_results=True
    )
    server.wait(child)
    compare = get(server, f"/dispatches/{child}/compare").json()
    assert (compare["parent_id"], compare["status"]) == (parent, "COMPLETED")
    assert compare["counts"] == {"reused": 3, "replaced": 1, "recomputed": 1, "unexplained": 0}
    assert compare["replaced"] == ["score"]
    outcome = {n["name"]: (n["category"], n["code"]) for n in compare["nodes"]}
    assert outcome == {
        "load": ("reused", "reused"),
        "normalise": ("reused", "reused"),
        "train": ("reused", "reused"),
        "score_v2": ("replaced", "replaced"),
        "report": ("recomputed", "upstream_changed"),
    }
    reused = next(n for n in compare["nodes"] if n["name"] == "load")
    assert (reused["reused_from_dispatch"], reused["reused_from_node"]) == (parent, 0)
    assert [(i["name"], i["before"], i["after"], i["changed"]) for i in compare["inputs"]] == [
        ("n", "10", "10", False),
        ("c", "0.5", "0.5", False),
    ]
    with_helpers = get(server, f"/dispatches/{child}/compare", params={"helpers": True}).json()
    assert len(with_helpers["nodes"]) == 8


def test_compare_names_changed_inputs_and_refuses_an_original_run(server):
    parent = server.dispatch(pipeline, 4, c=0.5)
    server.wait(parent)
    child = server.redispatch(parent, reuse_previous_results=True)
    server.wait(child)
    response = get(server, f"/dispatches/{parent}/compare")
    assert response.status_code == 422
    assert response.json()["error"] == "NotARedispatch"
    assert "not a redispatch" in response.json()["detail"]
    inputs = get(server, f"/dispatches/{parent}/inputs").json()["inputs"]
    assert [(i["name"], i["preview"]) for i in inputs] == [("n", "4"), ("c", "0.5")]


def test_source_and_arguments_of_a_node(server):
    dispatch_id = server.backend.submit(pipeline, (10,), {})  # in-process: sources stored
    server.wait(dispatch_id)
    graph = get(server, f"/dispatches/{dispatch_id}/graph?helpers=true").json()
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    source = get(server, f"/dispatches/{dispatch_id}/nodes/{ids['load']}/source").json()
    assert "def load(n):" in source["source"]
    param = next(n["id"] for n in graph["nodes"] if n["kind"] == "parameter")
    assert get(server, f"/dispatches/{dispatch_id}/nodes/{param}/source").json()["source"] is None
    arguments = get(server, f"/dispatches/{dispatch_id}/nodes/{ids['train']}/arguments").json()
    assert [(a["name"], a["parent_name"], a["preview"]) for a in arguments] == [
        ("rows", "normalise", str([r / 2.0 for r in range(10)])),
        ("c", ":parameter:1.0", "1.0"),
    ]


@pytest.mark.parametrize(
    "path", ["/graph", "/lineage", "/inputs", "/compare", "/nodes/0/source", "/nodes/0/arguments"]
)
def test_unknown_dispatches_and_nodes_are_404(server, path):
    response = get(server, f"/dispatches/00000000-0000-4000-8000-000000000000{path}")
    assert response.status_code == 404
    assert response.json()["error"] == "DispatchNotFoundError"


def test_unknown_node_is_404(server):
    dispatch_id = server.dispatch(pipeline, 1)
    server.wait(dispatch_id)
    for path in ("source", "arguments"):
        response = get(server, f"/dispatches/{dispatch_id}/nodes/99/{path}")
        assert response.status_code == 404, path


def test_ui_api_needs_the_token_but_pages_and_static_files_do_not(start_server):
    server = start_server(token="ui-secret")
    dispatch_id = server.dispatch(pipeline, 2)
    server.wait(dispatch_id)
    assert get(server, f"/dispatches/{dispatch_id}/graph").status_code == 401
    token = {"Authorization": "Bearer ui-secret"}
    assert get(server, f"/dispatches/{dispatch_id}/graph", headers=token).status_code == 200
    for path in ("/", f"/dispatches/{dispatch_id}", f"/dispatches/{dispatch_id}/compare"):
        page = httpx.get(server.url + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert dispatch_id not in page.text or path != "/"
    script = httpx.get(server.url + "/static/vendor/cytoscape.min.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert httpx.get(server.url + "/static/vendor/LICENSE-cytoscape").status_code == 200
