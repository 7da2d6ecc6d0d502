"""The web UI in a real browser (Debian's chromium driven by Playwright) on a real server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.workflows import pipeline, score_v2, waiting, wide
from tests.workflows import failing
from valence.backends import RedispatchRequest

TASKS = ["load", "normalise", "train", "score", "report"]


def rgb(hex_colour: str) -> str:
    """How cytoscape reports a colour."""
    return "rgb({},{},{})".format(*bytes.fromhex(hex_colour.lstrip("#")))


GREEN, RED, GREY, BLUE, PURPLE = map(rgb, ("#2f9e62", "#d8404a", "#a3adba", "#2f78d0", "#6d28d9"))

VISIBLE_NODES = """() => valenceGraph.cy.nodes(':visible').map(n => ({
  name: n.data('name'), status: n.data('status'), reused: n.data('reused'),
  label: n.data('display'), background: n.style('background-color'),
  border: n.style('border-color'), borderStyle: n.style('border-style'),
}))"""

NODE_CENTRE = """name => {
  const cy = valenceGraph.cy;
  const node = cy.nodes().filter(n => n.data('name') === name)[0];
  const box = cy.container().getBoundingClientRect();
  return [box.left + node.renderedPosition().x, box.top + node.renderedPosition().y];
}"""

READABILITY = """() => {
  const cy = valenceGraph.cy;
  const boxes = cy.nodes(':visible').map(n => n.boundingBox({includeLabels: false}));
  let overlaps = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) overlaps++;
  }
  const onScreen = cy.nodes(':visible').filter(n => {
    const p = n.renderedPosition();
    return p.x > 0 && p.y > 0 && p.x < cy.width() && p.y < cy.height();
  }).length;
  return {count: boxes.length, overlaps, zoom: cy.zoom(), onScreen};
}"""


def visible_nodes(page) -> dict[str, dict]:
    return {n["name"]: n for n in page.evaluate(VISIBLE_NODES)}


def click_node(page, name: str) -> None:
    x, y = page.evaluate(NODE_CENTRE, name)
    page.mouse.click(x, y)
    expect(page.locator("#node-name")).to_have_text(name)


def open_dispatch(page, server, dispatch_id: str, status: str) -> None:
    page.goto(f"{server.url}/dispatches/{dispatch_id}")
    page.wait_for_selector(f"body[data-graph-status='{status}']")


def test_list_then_dispatch_graph_then_node_panel(server, page, shoot):
    dispatch_id = server.backend.submit(pipeline, (10,), {"c": 0.5})
    server.wait(dispatch_id)

    page.goto(server.url + "/")
    row = page.locator(f"tr[data-dispatch-id='{dispatch_id}']")
    expect(row.locator(".badge")).to_have_text("COMPLETED")
    expect(row).to_contain_text("5/5")  # tasks, not helper nodes
    shoot("list")
    row.get_by_role("link", name="pipeline").click()
    page.wait_for_selector("body[data-graph-status='COMPLETED']")
    assert page.url == f"{server.url}/dispatches/{dispatch_id}"

    nodes = visible_nodes(page)
    assert sorted(nodes) == sorted(TASKS)
    assert {n["background"] for n in nodes.values()} == {GREEN}
    assert not any(n["reused"] for n in nodes.values())
    expect(page.locator("#graph-count")).to_have_text("5 tasks · 3 helper nodes hidden")
    page.check("#show-helpers")
    expect(page.locator("#graph-count")).to_have_text("5 tasks · 3 helper nodes shown")
    assert len(visible_nodes(page)) == 8
    page.uncheck("#show-helpers")
    expect(page.locator("#graph-count")).to_have_text("5 tasks · 3 helper nodes hidden")

    expect(page.locator("#dispatch-result")).to_have_text("C=0.5 accuracy=2.25")
    expect(page.locator("#dispatch-inputs")).to_contain_text(re.compile(r"n\s*10\s*c\s*0\.5"))
    click_node(page, "load")
    expect(page.locator("#node-output")).to_have_text(str(list(range(10))))
    expect(page.locator("#node-stdout")).to_have_text("loading 10 rows")
    expect(page.locator("#node-source")).to_contain_text("def load(n):")
    expect(page.locator("#node-reuse")).to_contain_text("not a redispatch")
    expect(page.locator("#node-arguments")).to_contain_text("10")
    assert page.evaluate("valenceGraph.cy.$(':selected').data('name')") == "load"
    shoot("dispatch-node")
    page.keyboard.press("Escape")
    expect(page.locator("#node-panel")).to_be_hidden()


def test_redispatch_marks_reused_nodes_and_compare_lists_them(server, page, shoot):
    parent = server.backend.submit(pipeline, (10,), {"c": 0.5})  # the source text is shown
    server.wait(parent)
    request = RedispatchRequest(replace_electrons={"score": score_v2}, reuse_previous_results=True)
    child = server.backend.redispatch(parent, request)
    server.wait(child)

    open_dispatch(page, server, child, "COMPLETED")
    nodes = visible_nodes(page)
    assert sorted(nodes) == sorted(["load", "normalise", "train", "score_v2", "report"])
    for name in ("load", "normalise", "train"):
        node = nodes[name]
        assert node["reused"] and "↻ reused" in node["label"], node
        assert (node["border"], node["borderStyle"]) == (PURPLE, "double"), node
    for name in ("score_v2", "report"):
        node = nodes[name]
        assert not node["reused"] and "reused" not in node["label"], node
        assert node["border"] != PURPLE, node
    assert {n["background"] for n in nodes.values()} == {GREEN}
    expect(page.locator("#lineage-up")).to_contain_text(parent[:8])
    click_node(page, "train")
    expect(page.locator("#node-reuse")).to_contain_text("Reused")
    expect(page.locator("#node-reuse")).to_contain_text(f"{parent[:8]} node")
    expect(page.locator("#node-stdout")).to_have_text("training with C=0.5")
    expect(page.locator("#node-source")).to_contain_text("def train(rows, c):")
    shoot("redispatch", docs_copy=True)

    page.keyboard.press("Escape")  # the node panel covers the summary
    page.click("#compare-link")
    page.wait_for_selector("body[data-compare-status='COMPLETED']")
    rows = page.locator("#compare-nodes tbody tr")
    expect(rows).to_have_count(5)
    reused = page.locator("#compare-nodes tr[data-category='reused']")
    expect(reused).to_have_count(3)
    for name in ("load", "normalise", "train"):
        expect(reused.filter(has_text=name)).to_contain_text(f"{parent[:8]} node")
    expect(page.locator("tr[data-category='replaced']")).to_contain_text("score_v2 (was score)")
    expect(page.locator("tr[data-category='recomputed']")).to_contain_text("upstream_changed")
    expect(page.locator(".card[data-category='reused'] .number")).to_have_text("3")
    shoot("compare")
    page.click("[data-filter='reused']")
    expect(rows).to_have_count(3)

    open_dispatch(page, server, parent, "COMPLETED")
    expect(page.locator("#lineage-down")).to_contain_text(child[:8])


def test_failed_node_shows_its_traceback(server, page, shoot):
    ok = server.dispatch(pipeline, 2)
    broken = server.dispatch(failing, 3)
    server.wait(ok), server.wait(broken)

    open_dispatch(page, server, broken, "FAILED")
    nodes = page.evaluate(VISIBLE_NODES)
    colours = sorted((n["name"], n["status"], n["background"]) for n in nodes)
    assert colours == [
        ("add", "COMPLETED", GREEN),
        ("add", "NEW_OBJECT", GREY),
        ("boom", "FAILED", RED),
    ]
    error = "Node 0 (boom) failed: ValueError: boom 3"
    expect(page.locator("#dispatch-error")).to_contain_text(error)
    click_node(page, "boom")
    traceback = page.locator("#node-traceback")
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("ValueError: boom 3")
    shoot("failed")

    page.goto(server.url + "/?status=FAILED")
    rows = page.locator("#dispatches tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-dispatch-id", broken)


def test_pages_update_live_while_a_dispatch_runs(server, page, shoot, tmp_path):
    finished = server.dispatch(pipeline, 10, c=0.5)
    server.wait(finished)
    server.wait(server.redispatch(finished, reuse_previous_results=True))
    server.wait(server.dispatch(failing, 3))
    gate = tmp_path / "gate"
    running = server.dispatch(waiting, str(gate))

    page.goto(server.url + "/")
    row = page.locator(f"tr[data-dispatch-id='{running}']")
    expect(row.locator(".badge")).to_have_text("RUNNING")
    shoot("dispatches", docs_copy=True, crop=True)
    graph_page = page.context.new_page()
    open_dispatch(graph_page, server, running, "RUNNING")
    graph_page.wait_for_function(
        "() => valenceGraph.cy.nodes().some(n => n.data('name') === 'gated'"
        f" && n.style('background-color') === '{BLUE}')"
    )

    gate.touch()
    expect(row.locator(".badge")).to_have_text("COMPLETED")  # no reload: polled
    graph_page.wait_for_selector("body[data-graph-status='COMPLETED']")
    graph_page.wait_for_function(
        f"() => valenceGraph.cy.nodes().every(n => n.style('background-color') === '{GREEN}')"
    )
    expect(graph_page.locator("#dispatch-result")).to_have_text("2")
    graph_page.close()


GROUPED = "501 tasks in 11 boxes (10 grouped) · 51 helper nodes hidden"


@pytest.mark.slow
def test_500_task_graph_groups_siblings_and_expands_readably(server, page, shoot):
    dispatch_id = server.dispatch(wide, 50, 10)
    server.wait(dispatch_id)
    open_dispatch(page, server, dispatch_id, "COMPLETED")
    first = page.evaluate(READABILITY)
    assert (first["count"], first["overlaps"]) == (11, 0)  # ten "step ×50" groups + total
    assert first["zoom"] >= 0.6 and first["onScreen"] == 11
    groups = page.evaluate(
        "valenceGraph.cy.nodes('.group').map(n => [n.data('display'), n.data('status')])"
    )
    assert groups == [["step ×50\n50 ✓", "COMPLETED"]] * 10
    expect(page.locator("#graph-count")).to_have_text(GROUPED)
    shoot("graph-500")

    page.evaluate("valenceGraph.cy.nodes('.group')[0].emit('tap')")
    expect(page.locator("#group-counts")).to_have_text("50 ✓")
    expect(page.locator("#group-members li")).to_have_count(50)
    page.click("#group-expand")
    expect(page.locator("#graph-count")).to_have_text(
        "501 tasks in 60 boxes (9 grouped) · 51 helper nodes hidden"
    )
    expanded = page.evaluate(READABILITY)
    assert (expanded["count"], expanded["overlaps"]) == (60, 0)
    page.click("#fit")
    overview = page.evaluate(READABILITY)
    assert overview["onScreen"] == 60
    page.click("#collapse")
    expect(page.locator("#graph-count")).to_have_text(GROUPED)


def test_list_filters_and_pages(server, page):
    ids = [server.dispatch(pipeline, n) for n in (1, 2, 3)]
    other = server.dispatch(wide, 1, 1)
    for dispatch_id in [*ids, other]:
        server.wait(dispatch_id)

    page.goto(server.url + "/?limit=2")
    rows = page.locator("#dispatches tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-dispatch-id", other)
    expect(page.locator("#prev")).to_be_disabled()
    page.click("#next")
    expect(rows.first).to_have_attribute("data-dispatch-id", ids[1])
    expect(rows.nth(1)).to_have_attribute("data-dispatch-id", ids[0])
    page.click("#prev")
    expect(rows.first).to_have_attribute("data-dispatch-id", other)

    page.fill("input[name=name]", "wide")
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-dispatch-id", other)
    assert "name=wide" in page.url
    page.select_option("select[name=status]", "FAILED")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("No dispatch matches these filters.")


def test_the_pages_ask_for_the_token_of_a_secured_server(start_server, page):
    server = start_server(token="ui-secret")
    dispatch_id = server.dispatch(pipeline, 2)
    server.wait(dispatch_id)

    page.goto(server.url + "/")
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("input").fill("ui-secret")
    dialog.get_by_role("button").click()
    expect(page.locator(f"tr[data-dispatch-id='{dispatch_id}'] .badge")).to_have_text("COMPLETED")
    open_dispatch(page, server, dispatch_id, "COMPLETED")  # remembered in this browser
    expect(dialog).to_be_hidden()


def test_a_link_with_the_token_signs_the_browser_in(start_server, page):
    server = start_server(token="ui-secret")
    dispatch_id = server.dispatch(pipeline, 2)
    server.wait(dispatch_id)
    page.goto(server.url + "/#token=ui-secret")
    expect(page.locator(f"tr[data-dispatch-id='{dispatch_id}'] .badge")).to_have_text("COMPLETED")
    expect(page.locator("#token-dialog")).to_be_hidden()
    assert page.url == server.url + "/"  # the token does not stay in the address bar


def test_unknown_dispatch_and_original_run_say_what_is_wrong(server, page):
    page.goto(f"{server.url}/dispatches/nope")
    expect(page.locator("#message")).to_contain_text("no dispatch with id 'nope'")
    dispatch_id = server.dispatch(pipeline, 1)
    server.wait(dispatch_id)
    page.goto(f"{server.url}/dispatches/{dispatch_id}/compare")
    expect(page.locator("#message")).to_contain_text("is not a redispatch")


@pytest.mark.slow
def test_the_api_reference_loads_with_vendored_assets_and_the_token(start_server, page):
    server = start_server(token="docs-secret")
    dispatch_id = server.dispatch(pipeline, 3)
    server.wait(dispatch_id)
    outside: list[str] = []
    blocked: list[str] = []
    page.on(
        "request", lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None
    )
    page.on(
        "console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.goto(server.url + "/#token=docs-secret")
    page.get_by_role("link", name="API").click()
    expect(page).to_have_url(server.url + "/docs")
    operation = page.locator(
        ".opblock-summary-path", has_text="/api/v1/dispatches/{dispatch_id}/status"
    )
    expect(operation.first).to_be_visible()
    operation.first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_placeholder("dispatch_id").fill(dispatch_id[:8])
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table tbody td.response-col_status").first).to_have_text(
        "200"
    )
    expect(page.locator(".live-responses-table")).to_contain_text("COMPLETED")
    assert [u for u in outside if not u.startswith("data:")] == []
    assert blocked == []
