"""Reading a large finished dispatch through a server: ``get_result`` of N nodes.

A real ``valence serve`` process on loopback (thread executor, SQLite in a temp
home) runs a fan of N trivial tasks; then this client times ``ct.get_result``
through the server (the result, every node's metadata and the output previews as
Covalent's ``Result`` reads them when asked), against the same call in embedded mode
on the same store measured in the same run (the baseline). Timed twice: ``get_result``
with its ``.result`` (goal: ≤ 0.3 s at N = 10,000), and, on a fresh Result, reading
every node's record and output (``get_all_node_results``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from report import record
from server_load import start_server
from shapes import workflow

import valence as ct


def one(x):
    return x + 1


def total(xs):
    return sum(xs)


def timed(read, runs: int) -> tuple[list[float], list[float]]:
    """Seconds of ``read()`` alone, and of ``read()`` then every node's record and output."""
    alone, every = [], []
    for _ in range(runs):
        began = time.perf_counter()
        result = read()
        assert result.status == "COMPLETED" and result.result is not None, result.error
        alone.append(time.perf_counter() - began)
        nodes = read().get_all_node_results()  # the same work in both modes
        every.append(time.perf_counter() - began - alone[-1])
        assert nodes and nodes[-1]["output"] is not None
    return alone, every


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="valence-result-"))
    env = {**os.environ, "VALENCE_HOME": str(home), "VALENCE_EXECUTOR": "thread"}
    os.environ.update({"VALENCE_HOME": str(home), "VALENCE_EXECUTOR": "thread"})
    server, url = start_server(home, env)
    try:
        flow = workflow("fan", ct.electron(one), ct.electron(total))
        did = ct.dispatch(flow, dispatcher_addr=url)(args.n)
        done = ct.get_result(did, wait=True, dispatcher_addr=url, timeout=600)
        assert done.status == "COMPLETED", done.error
        count = len(done.nodes)
        through, through_all = timed(lambda: ct.get_result(did, dispatcher_addr=url), args.runs)
    finally:
        server.terminate()
        server.wait(30)
    embedded, embedded_all = timed(lambda: ct.get_result(did), args.runs)  # no server recorded now
    load = os.getloadavg()[0]
    best, base = min(through), min(embedded)
    print(
        f"get_result of a {args.n}-task fan ({count} nodes), load {load:.2f}: "
        f"through the server min {best:.3f} s, median {statistics.median(through):.3f} s "
        f"[goal <= 0.3 s]; embedded min {base:.3f} s, median {statistics.median(embedded):.3f} s; "
        f"ratio {best / base:.2f}x\n"
        f"  + get_all_node_results(): through the server min {min(through_all):.3f} s, "
        f"median {statistics.median(through_all):.3f} s; embedded min {min(embedded_all):.3f} s, "
        f"median {statistics.median(embedded_all):.3f} s",
        flush=True,
    )
    record(
        f"get_result through the server, fan N={args.n}",
        best,
        "s",
        baseline=f"get_result embedded, fan N={args.n}",
        baseline_value=base,
        goal="≤ 0.3 s",
    )


if __name__ == "__main__":
    main()
