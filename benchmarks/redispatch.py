"""Redispatch with reuse vs the original dispatch, on 10,000 tasks that sleep 1 ms.

For each shape (chain, fan-out/fan-in) prints the original's wall and CPU time
and, as a share of the original (goal: at most 2 %), a full-reuse redispatch,
with how many blob bytes it added (goal: none); then the same re-traced (the
inputs passed again) and a new ``ct.dispatch(..., reuse_previous_results=True)``
that finds every result through the store's key index. Last, on a fan whose
tasks each take one lattice input, a redispatch that changes one of those
inputs (goal: at most 10 % of that fan's original; everything else reused).

CPU time is this process's (the embedded dispatcher runs in it), so a shared
machine's load shows as wall time above CPU time; the load average is printed.

    python benchmarks/redispatch.py [--n 10000] [--shape chain|fan|both] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

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


def timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    """``action()``, its wall time and this process's CPU time, in seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = action()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def share(part: tuple[Any, float, float], whole: tuple[Any, float, float]) -> str:
    """``1.234 s = 2.10% (CPU 0.9 s = 1.80%)`` of ``whole``."""
    return (
        f"{part[1]:.3f} s = {100 * part[1] / whole[1]:.2f}% "
        f"(CPU {part[2]:.3f} s = {100 * part[2] / whole[2]:.2f}%)"
    )


def run(shape: str, n: int) -> None:
    import valence as ct
    from valence.config import load_settings

    task = ct.electron(nap, executor="thread")
    collect = ct.electron(gather, executor="thread")
    lattice = workflow(shape, task, collect)
    url = load_settings().database_url

    def wait(dispatch_id: str) -> Any:
        return ct.get_result(dispatch_id, wait=True)

    original = timed(lambda: wait(ct.dispatch(lattice)(n)))
    parent = original[0]
    assert parent.status == "COMPLETED", parent.error
    before = blob_bytes(url)
    reused = timed(lambda: wait(ct.redispatch(parent.dispatch_id, reuse_previous_results=True)()))
    after = blob_bytes(url)
    assert reused[0].status == "COMPLETED" and reused[0].result == parent.result
    ran = sum(1 for node in reused[0].nodes if node.reused_from_dispatch is None)
    # same inputs passed explicitly: traced and keyed again
    traced = timed(lambda: wait(ct.redispatch(parent.dispatch_id, reuse_previous_results=True)(n)))
    assert traced[0].result == parent.result
    # a new dispatch reusing from the whole store (node_keys)
    anew = timed(lambda: wait(ct.dispatch(lattice, reuse_previous_results=True)(n)))
    assert anew[0].result == parent.result
    assert all(node.reused_from_dispatch for node in anew[0].nodes)
    print(
        f"{shape:<6} N={n}: original {original[1]:.3f} s (CPU {original[2]:.3f} s); "
        f"full-reuse redispatch {share(reused, original)} [goal <= 2%]; "
        f"nodes not reused: {ran}; blobs added: {after[0] - before[0]} "
        f"({after[1] - before[1]} bytes); re-traced full reuse {share(traced, original)}; "
        f"new dispatch reusing from the store {share(anew, original)}",
        flush=True,
    )
    for figure, part, goal in (
        ("full-reuse redispatch", reused, "≤ 0.02x"),
        ("full-reuse redispatch, inputs passed again (re-traced)", traced, None),
        ("new dispatch reusing from the store", anew, None),
    ):
        _record_share(f"{figure}, {shape}, N={n}", part, original, f"{shape}, N={n}", goal)
    record(
        f"blob bytes added by a full-reuse redispatch, {shape}, N={n}",
        after[1] - before[1],
        "bytes",
        goal="≤ 0 bytes",
    )


def _record_share(figure: str, part: Any, whole: Any, case: str, goal: str | None) -> None:
    """Hand ``make bench`` the wall time of ``part`` against the original run's."""
    baseline = f"original dispatch, {case}"
    record(figure, part[1], "s", baseline=baseline, baseline_value=whole[1], goal=goal)


def run_one_changed(n: int) -> None:
    """A fan of ``n`` tasks over a list input; redispatch with one element changed."""
    import valence as ct

    task = ct.electron(nap, executor="thread")
    collect = ct.electron(gather, executor="thread")

    @ct.lattice
    def fan_over(xs):
        return collect([task(x) for x in xs])

    def wait(dispatch_id: str) -> Any:
        return ct.get_result(dispatch_id, wait=True)

    xs = list(range(n))
    original = timed(lambda: wait(ct.dispatch(fan_over)(xs)))
    parent = original[0]
    assert parent.status == "COMPLETED", parent.error
    edited = [*xs[:-1], -1]
    changed = timed(
        lambda: wait(ct.redispatch(parent.dispatch_id, reuse_previous_results=True)(edited))
    )
    assert changed[0].status == "COMPLETED" and changed[0].result == n
    ran = [node.name for node in changed[0].nodes if node.reused_from_dispatch is None]
    tasks_ran = sum(1 for name in ran if name in ("nap", "gather"))
    assert tasks_ran == 2, ran  # the changed task and the gather
    print(
        f"fan    N={n}, one input changed: original {original[1]:.3f} s "
        f"(CPU {original[2]:.3f} s); redispatch {share(changed, original)} [goal <= 10%]; "
        f"tasks run: {tasks_ran}, nodes written fresh: {len(ran)}",
        flush=True,
    )
    _record_share(
        f"redispatch with one input changed, fan, N={n}",
        changed,
        original,
        f"fan, N={n}",
        "≤ 0.10x",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--shape", choices=["chain", "fan", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    shapes = ["chain", "fan"] if args.shape == "both" else [args.shape]
    for attempt in range(args.runs):
        print(f"run {attempt + 1}, load average {os.getloadavg()[0]:.2f}", flush=True)
        for case in [*shapes, "one_changed"]:
            with tempfile.TemporaryDirectory() as home:
                os.environ["VALENCE_HOME"] = home
                if case == "one_changed":
                    run_one_changed(args.n)
                else:
                    run(case, args.n)


if __name__ == "__main__":
    main()
