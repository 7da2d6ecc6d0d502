"""How fast the web UI opens a big dispatch, in a real browser (Debian's chromium).

Runs a server in this process over a temporary valence home, dispatches a chain
and a fan-out/fan-in of N trivial tasks (thread executor), then opens each
dispatch page several times in headless chromium and prints:

- ``graph route``: the server's ``/graph`` answer (nodes, sibling groups and the
  layout) — time and size;
- ``usable``: from navigation to the graph drawn with its status (the page's
  ``data-graph-status`` is set after the first drawing), median and range;
- ``boxes``: how many boxes the browser draws (a fan-out is one group box).

    python benchmarks/ui_graph.py            # N = 10,000
    python benchmarks/ui_graph.py --n 2000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import httpx
from report import record
from shapes import workflow

CHROMIUM = "/usr/bin/chromium"


def inc(x):
    return x + 1


def total(xs):
    return sum(xs)


def dispatch_shapes(n: int, url: str) -> dict[str, str]:
    import valence as ct

    task = ct.electron(inc, executor="thread")
    gather = ct.electron(total, executor="thread")
    ids = {}
    for shape in ("chain", "fan"):
        dispatch_id = ct.dispatch(workflow(shape, task, gather), dispatcher_addr=url)(n)
        result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=url, timeout=600)
        assert result.status == "COMPLETED", result.error
        ids[shape] = dispatch_id
    return ids


def time_route(url: str, dispatch_id: str, token: str) -> tuple[float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    answer = httpx.get(f"{url}/api/v1/dispatches/{dispatch_id}/graph", headers=headers, timeout=120)
    elapsed = time.perf_counter() - start
    answer.raise_for_status()
    return elapsed, len(answer.content)


def time_page(browser, url: str, dispatch_id: str, token: str) -> tuple[float, int]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/#token={token}")
    start = time.perf_counter()
    page.goto(f"{url}/dispatches/{dispatch_id}")
    page.wait_for_selector("body[data-graph-status='COMPLETED']", timeout=120_000)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    elapsed = time.perf_counter() - start
    boxes = page.evaluate("valenceGraph.cy.nodes().length")
    context.close()
    return elapsed, boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium")
    os.environ["VALENCE_HOME"] = tempfile.mkdtemp(prefix="valence-ui-bench-")
    token = "bench-token"
    os.environ["VALENCE_TOKEN"] = token
    from playwright.sync_api import sync_playwright

    from valence.engine.runtime import Runtime
    from valence.server.serve import BackgroundServer

    runtime = Runtime.open()
    server = BackgroundServer(runtime, token=token)
    url = server.start()
    try:
        ids = dispatch_shapes(options.n, url)
        print(f"N = {options.n:,} tasks; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            for shape, dispatch_id in ids.items():
                route = [time_route(url, dispatch_id, token) for _ in range(options.runs)]
                pages = [time_page(browser, url, dispatch_id, token) for _ in range(options.runs)]
                seconds = [p[0] for p in pages]
                print(
                    f"{shape:5}  graph route {statistics.median(r[0] for r in route):.2f} s "
                    f"({route[0][1] / 1e6:.1f} MB)   usable {statistics.median(seconds):.2f} s "
                    f"(range {min(seconds):.2f}-{max(seconds):.2f}, {options.runs} runs)   "
                    f"boxes {pages[0][1]:,}"
                )
                where = f"{shape}, N={options.n}"
                route_median = statistics.median(r[0] for r in route)
                record(f"web UI /graph route, {where}", route_median, "s")
                record(
                    f"web UI navigation to a drawn graph, {where}",
                    statistics.median(seconds),
                    "s",
                    note=f"range {min(seconds):.2f}-{max(seconds):.2f} s over {options.runs} runs",
                )
            browser.close()
    finally:
        server.stop()
        runtime.dispatcher.wait_all(60)
        runtime.store.close()
        shutil.rmtree(os.environ["VALENCE_HOME"], ignore_errors=True)


if __name__ == "__main__":
    main()
