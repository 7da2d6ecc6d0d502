"""Acting from the page in a real browser: redispatch with a plan preview, cancel, delete."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import expect

import valence as ct
from tests.ui.test_pages import GREEN, click_node, open_dispatch
from tests.ui.workflows import pipeline, waiting


def test_redispatch_from_the_page_previews_the_plan_then_follows_the_new_dispatch(
    server, page, shoot
):
    parent = server.backend.submit(pipeline, (10,), {"c": 0.5})
    server.wait(parent)
    open_dispatch(page, server, parent, "COMPLETED")
    page.click("#redispatch-open")
    dialog = page.locator("#redispatch-dialog")
    expect(dialog).to_be_visible()
    n_box, c_box = dialog.locator("textarea[data-name='n']"), dialog.locator("[data-name='c']")
    assert json.loads(n_box.input_value()) == 10 and json.loads(c_box.input_value()) == 0.5

    n_box.fill("{not json")
    dialog.locator("#plan-preview").click()
    expect(dialog.locator("#redispatch-message")).to_contain_text("n: not valid JSON")

    n_box.fill("10")
    c_box.fill("2.0")  # only train and what follows change
    dialog.locator("#plan-preview").click()
    expect(dialog.locator("#plan-headline")).to_have_text("2 reused · 3 to run (of 5 tasks)")
    expect(dialog.locator("#plan tr[data-action='reuse']")).to_have_count(2)
    expect(dialog.locator("#plan tr[data-action='run']").first).to_contain_text("train")
    shoot("redispatch-plan", docs_copy=True)
    sent_before = server.backend.list_dispatches()

    dialog.locator("#force-rerun").fill("no_such_task")
    dialog.locator("#redispatch-go").click()
    expect(dialog.locator("#redispatch-message")).to_contain_text("no_such_task")
    assert server.backend.list_dispatches() == sent_before  # the refused one wrote nothing

    dialog.locator("#force-rerun").fill("load")
    dialog.locator("#redispatch-go").click()
    page.wait_for_url(lambda url: "/dispatches/" in url and parent not in url)
    child = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("body[data-graph-status='COMPLETED']")
    expect(page.locator("#dispatch-result")).to_have_text("C=2.0 accuracy=2.25")
    expect(page.locator("#lineage-up")).to_contain_text(parent[:8])
    result = ct.get_result(child, dispatcher_addr=server.url)
    reasons = {
        n["node_name"]: n["reason"]["code"]
        for n in result.get_all_node_results()
        if n["kind"] == "electron"
    }
    assert reasons["load"] == "forced" and reasons["train"] != "reused"


def test_cancel_a_task_then_the_dispatch_then_delete_it(server, page, tmp_path):
    gate = tmp_path / "gate"
    running = server.dispatch(waiting, str(gate))
    open_dispatch(page, server, running, "RUNNING")
    page.wait_for_function(
        "() => valenceGraph.cy.nodes().some(n => n.data('name') === 'gated'"
        " && n.data('status') === 'RUNNING')"
    )
    click_node(page, "step")  # not started yet: it can be cancelled before it runs
    page.click("#node-cancel")
    expect(page.locator("#confirm-dialog")).to_contain_text("Cancel task step?")
    page.click("#confirm-cancel")  # changed my mind: nothing happens
    expect(page.locator("#confirm-dialog")).to_have_count(0)
    assert ct.get_result(running, dispatcher_addr=server.url).status == ct.status.RUNNING

    page.click("#node-cancel")
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
        page.click("#confirm-ok")
    assert answer.value.ok
    page.wait_for_function(
        "() => valenceGraph.cy.nodes().some(n => n.data('name') === 'step'"
        " && n.data('status') === 'CANCELLED')"
    )
    page.keyboard.press("Escape")
    expect(page.locator("#delete-dispatch")).to_have_count(0)  # not finished: no delete
    gate.touch()
    page.wait_for_selector("body[data-graph-status='CANCELLED']")

    page.click("#delete-dispatch")
    preview = page.locator("#delete-preview")
    expect(preview).to_contain_text("Deletes 1 dispatch(es)")
    expect(preview).to_contain_text(running)
    page.click("#confirm-ok")
    page.wait_for_url(server.url + "/")
    gone = httpx.get(f"{server.url}/api/v1/dispatches/{running}")
    assert gone.status_code == 404


def test_cancel_the_whole_running_dispatch(server, page, tmp_path):
    gate = tmp_path / "gate"
    running = server.dispatch(waiting, str(gate))
    open_dispatch(page, server, running, "RUNNING")
    page.click("#cancel-dispatch")
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
        page.click("#confirm-ok")
    assert answer.value.ok
    gate.touch()  # the running task finishes and is kept; nothing new starts
    page.wait_for_selector("body[data-graph-status='CANCELLED']")
    nodes = page.evaluate(
        "valenceGraph.cy.nodes().map(n => [n.data('name'), n.style('background-color')])"
    )
    assert ["gated", GREEN] in nodes
    expect(page.locator("#cancel-dispatch")).to_have_count(0)


def test_an_action_refused_by_the_server_shows_its_message(start_server, page):
    server = start_server(token="t0k")
    done = server.dispatch(pipeline, 2)
    server.wait(done)
    page.goto(server.url + "/#token=t0k")
    open_dispatch(page, server, done, "COMPLETED")
    page.evaluate("localStorage.setItem('valenceToken', 'wrong')")  # token revoked meanwhile
    page.click("#redispatch-open")
    page.locator("#plan-preview").click()
    dialog = page.locator("#token-dialog")  # asked again, not a silent failure
    expect(dialog).to_be_visible()
    dialog.locator("input").fill("t0k")
    dialog.get_by_role("button").click()
    expect(page.locator("#plan-headline")).to_contain_text("5 reused")
