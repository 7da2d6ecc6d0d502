"""The pages under stress in a real browser: hash links, a lost server, small screens, dark
mode, filters, and untrusted text that must stay text."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import expect

from tests.ui.test_pages import open_dispatch
from tests.ui.workflows import HOSTILE, hostile, pipeline, wide


def test_hash_links_act_while_the_page_is_open(start_server, page):
    server = start_server(token="hash-secret")
    dispatch_id = server.dispatch(pipeline, 2)
    server.wait(dispatch_id)
    page.goto(server.url + "/")
    expect(page.locator("#token-dialog")).to_be_visible()
    page.evaluate("document.getElementById('token-dialog').close()")  # dismissed: wrong token
    page.evaluate("location.hash = '#token=hash-secret'")  # a link clicked later
    expect(page.locator(f"tr[data-dispatch-id='{dispatch_id}'] .badge")).to_have_text("COMPLETED")
    assert page.evaluate("localStorage.getItem('valenceToken')") == "hash-secret"
    assert "#token" not in page.url

    open_dispatch(page, server, dispatch_id, "COMPLETED")
    page.evaluate("location.hash = '#node=0'")
    expect(page.locator("#node-name")).to_have_text("load")
    page.evaluate("location.hash = '#node=2'")
    expect(page.locator("#node-name")).not_to_have_text("load")


def test_an_unreachable_server_shows_a_banner_and_recovers(server, page):
    dispatch_id = server.dispatch(pipeline, 2)
    server.wait(dispatch_id)
    page.goto(server.url + "/")
    expect(page.locator(f"tr[data-dispatch-id='{dispatch_id}']")).to_be_visible()
    page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    banner = page.locator("#offline")
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_contain_text("Cannot reach the valence server")
    expect(page.locator("body")).to_have_class(re.compile("is-offline"))  # the live dot dims
    page.unroute("**/api/v1/**")
    expect(banner).to_be_hidden(timeout=20_000)
    expect(page.locator("body")).not_to_have_class(re.compile("is-offline"))


def test_a_stopped_server_is_reported_not_failed_to_fetch(start_server, page):
    server = start_server()
    dispatch_id = server.dispatch(pipeline, 2)
    server.wait(dispatch_id)
    open_dispatch(page, server, dispatch_id, "COMPLETED")
    server.handle.stop()  # the real server goes away under the open page
    page.evaluate("location.hash = '#node=0'")
    expect(page.locator("#offline")).to_be_visible(timeout=15_000)
    expect(page.locator("#offline")).to_contain_text("retrying")
    expect(page.locator("#message")).not_to_contain_text("Failed to fetch")


def no_wrapped_controls(page) -> list[str]:
    """Toolbar/filter controls whose own text wraps (one word per line)."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
              '.toolbar button, .toolbar label, .filters label, .filters button')]
            .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height > 40)
            .map(e => e.textContent.trim())"""
    )


def test_layout_works_from_phone_width_up(server, page):
    dispatch_id = server.dispatch(wide, 12, 2)
    server.wait(dispatch_id)
    for width, height in ((1024, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(server.url + "/")
        expect(page.locator(f"tr[data-dispatch-id='{dispatch_id}']")).to_be_visible()
        assert no_wrapped_controls(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        open_dispatch(page, server, dispatch_id, "COMPLETED")
        assert no_wrapped_controls(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        toolbar = page.locator(".toolbar").bounding_box()
        assert toolbar["height"] < 130, (width, toolbar)
        graph = page.locator("#graph").bounding_box()
        assert graph["width"] > width * 0.5 and graph["height"] > 200, (width, graph)


def test_dark_mode_follows_the_system(server, page, shoot):
    dispatch_id = server.dispatch(pipeline, 3)
    server.wait(dispatch_id)
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    page.goto(server.url + "/")
    light = page.evaluate(background)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(background)
    assert light == "rgb(245, 246, 248)" and dark == "rgb(11, 16, 32)"
    open_dispatch(page, server, dispatch_id, "COMPLETED")
    shoot("dark")


def test_name_filter_ignores_case_and_dates_bound_the_list(server, page):
    ids = [server.dispatch(pipeline, 1), server.dispatch(wide, 1, 1)]
    for dispatch_id in ids:
        server.wait(dispatch_id)
    page.goto(server.url + "/")
    rows = page.locator("#dispatches tbody tr")
    page.fill("input[name=name]", "IPEL")  # part of "pipeline", other case
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-dispatch-id", ids[0])

    page.fill("input[name=name]", "")
    today = dt.date.today()
    page.fill("input[name=from]", today.isoformat())
    page.fill("input[name=to]", today.isoformat())
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(2)
    page.fill("input[name=to]", (today - dt.timedelta(days=1)).isoformat())
    page.click("#filters button[type=submit]")
    expect(rows.first).to_contain_text("No dispatch matches these filters.")
    assert "from=" in page.url and "to=" in page.url
    page.goto(page.url)  # the filters survive a reload
    expect(page.locator("input[name=from]")).to_have_value(today.isoformat())
    expect(rows.first).to_contain_text("No dispatch matches these filters.")


def test_untrusted_text_is_never_interpreted_as_html(server, page):
    dispatch_id = server.backend.submit(hostile, (HOSTILE,), {})
    server.wait(dispatch_id)
    injected = (
        "() => [window.__pwned,"
        " document.querySelectorAll('img[src=x], b, script:not([src])').length]"
    )

    page.goto(server.url + "/")
    expect(page.locator(f"tr[data-dispatch-id='{dispatch_id}']")).to_be_visible()
    open_dispatch(page, server, dispatch_id, "FAILED")
    expect(page.locator("#dispatch-error")).to_contain_text("<b onmouseover")
    expect(page.locator("#dispatch-inputs")).to_contain_text(HOSTILE)
    page.check("#show-helpers")
    page.wait_for_function(
        "() => valenceGraph.cy.nodes().some(n => n.data('name').includes('onerror'))"
    )
    for name in ("shout", "explode"):
        page.fill("#find-input", name)
        page.press("#find-input", "Enter")
        expect(page.locator("#node-name")).to_have_text(name)
    expect(page.locator("#node-traceback")).to_contain_text("<b onmouseover")
    page.fill("#find-input", "shout")
    page.press("#find-input", "Enter")
    expect(page.locator("#node-stdout")).to_contain_text("<script>window.__pwned=2</script>")
    expect(page.locator("#node-output")).to_contain_text(HOSTILE)
    page.keyboard.press("Escape")
    page.click("#redispatch-open")
    expect(page.locator("#redispatch-dialog textarea").first).to_have_value(
        f'"{HOSTILE.replace(chr(34), chr(92) + chr(34))}"'
    )
    page.click("#plan-preview")
    expect(page.locator("#plan")).to_be_visible()
    page.click("#redispatch-close")
    page.click("#views [data-view='timeline']")
    assert page.evaluate(injected) == [None, 0]


def test_controls_that_do_not_apply_are_hidden(server, page):
    dispatch_id = server.dispatch(pipeline, 2)
    server.wait(dispatch_id)
    open_dispatch(page, server, dispatch_id, "COMPLETED")
    expect(page.locator("#collapse")).to_be_hidden()  # nothing expanded
    expect(page.locator("#offline")).to_have_count(0)
    expect(page.locator("#message")).to_be_hidden()
