"""Redispatch with full reuse vs the original dispatch, on 10,000 tasks that sleep 1 ms.

Prints both wall times, their ratio (budget: reuse < 5% of the original), and
how many blob bytes the redispatch added to the store (budget: none); then the
same re-traced, and a new ``ct.dispatch(..., reuse_previous_results=True)``
that finds every result through the store's key index.

    python benchmarks/redispatch.py [--n 10000] [--shape chain|fan|both]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import sqlalchemy as sa
from report import record
from shapes import workflow


def nap(x):
    time.sleep(0.001)
    return x + 1


def gather(xs):
    return len(xs)


def blob_bytes(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count, size = conn.execute(
            sa.text("select count(*), coalesce(sum(size), 0) from blobs")
        ).one()
    engine.dispose()
    return int(count), int(size)


def run(shape: str, n: int) -> None:
    import valence as ct
    from valence.config import load_settings

    task = ct.electron(nap, executor="thread")
    collect = ct.electron(gather, executor="thread")
    lattice = workflow(shape, task, collect)
    url = load_settings().database_url
    start = time.perf_counter()
    parent = ct.get_result(ct.dispatch(lattice)(n), wait=True)
    original = time.perf_counter() - start
    assert parent.status == "COMPLETED", parent.error
    before = blob_bytes(url)
    start = time.perf_counter()
    child = ct.get_result(
        ct.redispatch(parent.dispatch_id, reuse_previous_results=True)(), wait=True
    )
    reused = time.perf_counter() - start
    after = blob_bytes(url)
    assert child.status == "COMPLETED" and child.result == parent.result
    start = time.perf_counter()  # same inputs passed explicitly: traced and keyed again
    traced = ct.get_result(
        ct.redispatch(parent.dispatch_id, reuse_previous_results=True)(n), wait=True
    )
    retraced = time.perf_counter() - start
    assert traced.result == parent.result
    start = time.perf_counter()  # a new dispatch reusing from the whole store (node_keys)
    anew = ct.get_result(ct.dispatch(lattice, reuse_previous_results=True)(n), wait=True)
    from_store = time.perf_counter() - start
    assert anew.result == parent.result
    assert all(node.reused_from_dispatch for node in anew.nodes)
    ran = sum(1 for n in child.nodes if n.reused_from_dispatch is None)
    print(
        f"{shape:<6} N={n}: original {original:.3f} s, full-reuse redispatch {reused:.3f} s "
        f"= {100 * reused / original:.2f}% of the original; nodes not reused: {ran}; "
        f"blobs added: {after[0] - before[0]} ({after[1] - before[1]} bytes); "
        f"re-traced full reuse {retraced:.3f} s = {100 * retraced / original:.2f}%; "
        f"new dispatch reusing from the store {from_store:.3f} s "
        f"= {100 * from_store / original:.2f}%"
    )
    original_name = f"original dispatch, {shape}, N={n}"
    for figure, seconds, goal in (
        ("full-reuse redispatch", reused, "≤ 0.02x"),
        ("full-reuse redispatch, inputs passed again (re-traced)", retraced, None),
        ("new dispatch reusing from the store", from_store, None),
    ):
        record(
            f"{figure}, {shape}, N={n}",
            seconds,
            "s",
            baseline=original_name,
            baseline_value=original,
            goal=goal,
        )
    record(
        f"blob bytes added by a full-reuse redispatch, {shape}, N={n}",
        after[1] - before[1],
        "bytes",
        goal="≤ 0 bytes",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--shape", choices=["chain", "fan", "both"], default="both")
    args = parser.parse_args()
    shapes = ["chain", "fan"] if args.shape == "both" else [args.shape]
    for shape in shapes:
        with tempfile.TemporaryDirectory() as home:
            os.environ["VALENCE_HOME"] = home
            run(shape, args.n)


if __name__ == "__main__":
    main()
