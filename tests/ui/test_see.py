"""Seeing more in a real browser: big graphs, find, the timeline, rich outputs, live logs."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.ui.test_pages import PURPLE, open_dispatch, rgb
from tests.ui.workflows import chatty, fan, pipeline, rich, talking
from valence import serialize
from valence.backends import RedispatchRequest


def test_a_2000_task_fan_out_opens_as_one_group_and_find_reaches_any_node(server, page, shoot):
    dispatch_id = server.dispatch(fan, 2000)
    server.wait(dispatch_id)
    open_dispatch(page, server, dispatch_id, "COMPLETED")
    boxes = page.evaluate("valenceGraph.cy.nodes().map(n => n.data('display'))")
    assert sorted(boxes) == ["square ×2000\n2000 ✓", "total"]
    shoot("graph-2000")

    page.fill("#find-input", "1500")  # a node id inside the group
    page.press("#find-input", "Enter")
    expect(page.locator("#find-count")).to_have_text("1 of 1")
    expect(page.locator("#node-name")).to_have_text("square")
    assert page.evaluate("valenceGraph.cy.$('.found').data('isGroup')") is True
    assert page.url.endswith("#node=1500")

    page.fill("#find-input", "TOT")  # names match in any case
    page.press("#find-input", "Enter")
    expect(page.locator("#node-name")).to_have_text("total")
    expect(page.locator("#node-output")).to_have_text(str(sum(i * i for i in range(2000))))
    page.fill("#find-input", "nothing-like-this")
    page.press("#find-input", "Enter")
    expect(page.locator("#find-count")).to_have_text("no match")


def test_the_timeline_draws_one_bar_per_task_and_opens_the_node(server, page, shoot):
    parent = server.backend.submit(pipeline, (10,), {"c": 0.5})
    server.wait(parent)
    child = server.backend.redispatch(
        parent, RedispatchRequest(reuse_previous_results=True, force_rerun=("score",))
    )
    server.wait(child)
    open_dispatch(page, server, child, "COMPLETED")
    page.click("#views [data-view='timeline']")
    expect(page.locator("#graph")).to_be_hidden()
    expect(page.locator("#timeline-canvas")).to_have_attribute("data-bars", "5")
    expect(page.locator("#fit")).to_be_hidden()  # graph-only controls step aside
    bars = page.evaluate("document.getElementById('timeline-canvas').hits")
    assert sorted(b["name"] for b in bars) == sorted(
        ["load", "normalise", "train", "score", "report"]
    )
    shoot("timeline", docs_copy=True)
    colour = page.evaluate(
        """() => {
          const canvas = document.getElementById('timeline-canvas');
          const bar = canvas.hits.find(b => b.name === 'train');
          const ratio = window.devicePixelRatio || 1;
          const [r, g, b] = canvas.getContext('2d').getImageData(
            Math.round(bar.x * ratio), Math.round((bar.y + 6) * ratio), 1, 1).data;
          return `rgb(${r},${g},${b})`;
        }"""
    )
    assert colour == PURPLE  # train was reused: drawn as a purple mark
    box = page.locator("#timeline-canvas").bounding_box()
    bar = next(b for b in bars if b["name"] == "score")
    page.mouse.click(box["x"] + bar["x"] + bar["w"] / 2, box["y"] + bar["y"] + 6)
    expect(page.locator("#node-name")).to_have_text("score")
    page.click("#views [data-view='graph']")
    expect(page.locator("#graph")).to_be_visible()


def test_outputs_show_as_tables_arrays_and_images_and_download_raw(server, page, shoot, tmp_path):
    dispatch_id = server.dispatch(rich, 30)
    server.wait(dispatch_id)
    open_dispatch(page, server, dispatch_id, "COMPLETED")
    page.fill("#find-input", "frame")
    page.press("#find-input", "Enter")
    table = page.locator("#node-rich table")
    expect(page.locator("#node-rich")).to_contain_text("30 × 2 table, first 20 rows")
    expect(table.locator("thead th")).to_have_text(["", "x", "square"])
    expect(table.locator("tbody tr")).to_have_count(20)
    expect(table.locator("tbody tr").nth(3).locator("th, td")).to_have_text(["3", "3", "9"])
    with page.expect_download() as download:
        page.click("#node-download")
    saved = tmp_path / "frame.pickle"
    download.value.save_as(saved)
    frame = serialize.loads(saved.read_bytes())
    if hasattr(frame, "get_deserialized"):
        frame = frame.get_deserialized()
    assert list(frame["square"]) == [i * i for i in range(30)]

    page.fill("#find-input", "matrix")
    page.press("#find-input", "Enter")
    expect(page.locator("#node-rich")).to_contain_text("shape (30, 30) · dtype float32")
    expect(page.locator("#node-rich pre")).to_contain_text("...")

    page.fill("#find-input", "figure")
    page.press("#find-input", "Enter")
    image = page.locator("#node-rich img")
    expect(image).to_be_visible()
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert page.evaluate("document.querySelector('#node-rich img').naturalWidth") > 100
    shoot("rich-output", docs_copy=True)


def test_task_logs_appear_in_the_panel_while_the_task_runs(server, page, tmp_path):
    gate = tmp_path / "gate"
    dispatch_id = server.dispatch(talking, str(gate))
    open_dispatch(page, server, dispatch_id, "RUNNING")
    page.wait_for_function(
        "() => valenceGraph.cy.nodes().some(n => n.data('status') === 'RUNNING')"
    )
    page.fill("#find-input", chatty.__name__)
    page.press("#find-input", "Enter")
    expect(page.locator("#node-stdout")).to_have_text("warming up", timeout=20_000)
    expect(page.locator("#node-stderr")).to_have_text("a warning")
    assert page.locator("#node-panel h3", has_text="stdout (live)").count() == 1
    gate.touch()
    page.wait_for_selector("body[data-graph-status='COMPLETED']")
    expect(page.locator("#node-stdout")).to_have_text("warming up\ndone")


def test_reused_marks_and_group_colours_follow_status(server, page):
    dispatch_id = server.dispatch(fan, 12)
    server.wait(dispatch_id)
    child = server.redispatch(dispatch_id, reuse_previous_results=True)
    server.wait(child)
    open_dispatch(page, server, child, "COMPLETED")
    group = page.evaluate(
        "(() => { const n = valenceGraph.cy.nodes('.group')[0];"
        " return [n.data('display'), n.style('border-color')]; })()"
    )
    assert group[0].startswith("square ×12") and "↻ 12 reused" in group[0]
    assert group[1] == PURPLE
    assert rgb("#6d28d9") == PURPLE
