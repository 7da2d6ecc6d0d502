"""Preparing a dispatch, per graph node: tracing, keying, building rows, writing them.

For a chain and a fan-out/fan-in of ``n`` trivial tasks, prints the CPU time per
node (µs) of each step of ``prepare_dispatch`` + ``Store.record_dispatch``:

- ``trace``: ``Lattice.build_graph`` (running the body with proxies);
- ``key``: ``compute_keys`` (every node's reuse key);
- ``rows``: node and edge records, parameter values and functions serialized;
- ``write``: ``Store.record_dispatch`` into a fresh SQLite store (one transaction);
- ``prepare``: the whole ``prepare_dispatch`` (trace + key + rows + the rest),

and, as a same-run baseline, ``dict``: plain Python building the same graph as a
Dask-style task dict (``{key: (function, *arguments)}``), the least any tracing
can cost. Each figure is the best of ``--repeat`` timings (CPU time of this
process); the load average is printed. Goal: key + rows + write <= 20 µs per node.

    python benchmarks/prepare.py [--n 10000] [--shape chain|fan|both] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from report import record
from shapes import workflow


def inc(x):
    return x + 1


def total(xs):
    return sum(xs)


def raw_graph(shape: str, n: int) -> dict[Any, Any]:
    """The same graph as a Dask task dict: what tracing builds, with nothing else."""
    graph: dict[Any, Any] = {}
    if shape == "chain":
        previous: Any = 0
        for i in range(n):
            graph[("inc", i)] = (inc, previous)
            previous = ("inc", i)
    else:
        for i in range(n):
            graph[("inc", i)] = (inc, i)
        graph["total"] = (total, [("inc", i) for i in range(n)])
    return graph


def best_cpu(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The least CPU time of ``repeat`` calls of ``action`` (seconds), and its last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        out = action()
        best = min(best, time.process_time() - start)
    return best, out


def measure(shape: str, n: int, repeat: int) -> dict[str, float]:
    """CPU seconds of each step for one shape."""
    import valence as ct
    from valence.engine.prepare import _node_records, gc_paused, prepare_dispatch
    from valence.fingerprint import user_imports
    from valence.fs.digest import tracking
    from valence.store import Store
    from valence.workflow.keys import compute_keys

    lattice = workflow(shape, ct.electron(inc), ct.electron(total))
    times: dict[str, float] = {}
    times["dict"], _ = best_cpu(lambda: raw_graph(shape, n), repeat)
    with gc_paused():
        times["trace"], graph = best_cpu(lambda: lattice.build_graph(n), repeat)

        def key() -> Any:
            with tracking(), user_imports():
                return compute_keys(graph)

        times["key"], keys = best_cpu(key, repeat)
        times["rows"], _ = best_cpu(lambda: _node_records("d", graph, keys, {}), repeat)
    times["prepare"], _ = best_cpu(lambda: prepare_dispatch(lattice, (n,), {}), repeat)
    writes = []
    with tempfile.TemporaryDirectory() as home:
        store = Store.open(f"sqlite:///{home}/valence.db", f"{home}/blobs")
        try:
            for _ in range(repeat):
                prepared = prepare_dispatch(lattice, (n,), {})
                gc.collect()
                start = time.process_time()
                store.record_dispatch(
                    prepared.record, prepared.nodes, prepared.edges, prepared.blobs
                )
                writes.append(time.process_time() - start)
        finally:
            store.close()
    times["write"] = min(writes)
    times["nodes"] = len(graph.nodes)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--shape", choices=["chain", "fan", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shapes = ["chain", "fan"] if args.shape == "both" else [args.shape]
    print(f"load average {os.getloadavg()[0]:.2f}; CPU µs per graph node, best of {args.repeat}")
    for shape in shapes:
        times = measure(shape, args.n, args.repeat)
        nodes = int(times.pop("nodes"))
        per = {step: 1e6 * seconds / nodes for step, seconds in times.items()}
        budget = per["key"] + per["rows"] + per["write"]
        print(
            f"{shape:<5} N={args.n} ({nodes} nodes): "
            + ", ".join(f"{step} {us:.1f}" for step, us in per.items())
            + f"; key+rows+write {budget:.1f} [goal <= 20]; "
            + f"trace/dict {per['trace'] / per['dict']:.1f}x",
            flush=True,
        )
        case = f"{shape}, N={args.n}"
        record(
            f"tracing per node, {case}",
            per["trace"],
            "µs",
            baseline=f"a raw task dict per node, {case}",
            baseline_value=per["dict"],
        )
        record(f"keying + rows + writing per node, {case}", budget, "µs", goal="≤ 20 µs")


if __name__ == "__main__":
    main()
