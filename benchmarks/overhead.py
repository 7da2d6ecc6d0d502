"""Orchestration overhead per task: valence vs raw Dask, measured in one run.

Each measurement runs in a fresh subprocess (so peak RSS is its own) on two
graph shapes of trivial tasks: a chain and a fan-out/fan-in. Printed: wall
time, ms per task, peak RSS, RSS growth per node, and valence/Dask ratios.
The floor is ``dask-dict``: Dask's threaded scheduler on a raw task dict
(nothing durable); ``dask-threads`` is the same scheduler via ``dask.delayed``.

``valence-dask`` runs valence on a ``DaskExecutor`` LocalCluster (2 worker
processes, 1 thread each, as ``dask-distributed``) and then, in the same
process and on the same cluster, the raw ``client.submit`` chain/fan with a
fresh Client; its ratio is against that same-cluster baseline.

    python benchmarks/overhead.py            # N = 1,000 and 10,000
    python benchmarks/overhead.py --quick    # N = 1,000 only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from report import record
from shapes import workflow


def inc(x):
    return x + 1


def total(xs):
    return sum(xs)


WAIT_LATENCY: list[float] = []
CPU_SECONDS: list[float] = []  # CPU time of this (the dispatching) process, all threads
SAME_CLUSTER_CPU: list[float] = []  # the same for raw Dask on valence's cluster (scheduler here)


def run_valence(shape: str, n: int, executor: str) -> float:
    from datetime import datetime, timezone

    import valence as ct

    chosen = dask_executor() if executor == "dask" else executor
    task = ct.electron(inc, executor=chosen)
    gather = ct.electron(total, executor=chosen)
    lattice = workflow(shape, task, gather)
    if executor == "dask":  # the cluster starts outside the measurement, as for raw Dask,
        dask_executor().client.submit(inc, 0).result()
        warm = workflow("chain", task, gather)  # and so does valence: store and engine open
        assert ct.get_result(ct.dispatch(warm)(1), wait=True).status == "COMPLETED"
    start, cpu = time.perf_counter(), time.process_time()
    result = ct.get_result(ct.dispatch(lattice)(n), wait=True)
    elapsed = time.perf_counter() - start
    CPU_SECONDS.append(time.process_time() - cpu)
    WAIT_LATENCY.append((datetime.now(timezone.utc) - result.end_time).total_seconds())
    assert result.status == "COMPLETED", result.error
    return elapsed


def run_dask_threaded(shape: str, n: int) -> float:
    import dask

    start = time.perf_counter()
    if shape == "chain":
        x = 0
        for _ in range(n):
            x = dask.delayed(inc)(x)
        out = x.compute(scheduler="threads")
    else:
        out = dask.delayed(total)([dask.delayed(inc)(i) for i in range(n)]).compute(
            scheduler="threads"
        )
    elapsed = time.perf_counter() - start
    assert out is not None
    return elapsed


def run_dask_dict(shape: str, n: int) -> float:
    """Dask's threaded scheduler on a raw task dict, the dict built inside the timing."""
    from dask.threaded import get

    start, cpu = time.perf_counter(), time.process_time()
    if shape == "chain":
        graph = {"x0": (inc, 0)} | {f"x{i}": (inc, f"x{i - 1}") for i in range(1, n)}
        key = f"x{n - 1}"
    else:
        graph = {f"x{i}": (inc, i) for i in range(n)}
        graph["total"] = (total, [f"x{i}" for i in range(n)])
        key = "total"
    out = get(graph, key)
    elapsed = time.perf_counter() - start
    CPU_SECONDS.append(time.process_time() - cpu)
    assert out is not None
    return elapsed


def run_dask_distributed(shape: str, n: int, cluster=None) -> float:
    from distributed import Client, LocalCluster

    if cluster is None:
        with LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster:
            return run_dask_distributed(shape, n, cluster)
    with Client(cluster, set_as_default=False) as client:
        client.submit(inc, 0).result()  # warm up: workers started
        start, cpu = time.perf_counter(), time.process_time()
        if shape == "chain":
            x = client.submit(inc, 0, pure=False)
            for _ in range(n - 1):
                x = client.submit(inc, x, pure=False)
            x.result()
        else:
            parts = [client.submit(inc, i, pure=False) for i in range(n)]
            client.submit(total, parts).result()
        SAME_CLUSTER_CPU.append(time.process_time() - cpu)
        return time.perf_counter() - start


def dask_executor():
    """The valence DaskExecutor of this process: 2 worker processes, 1 thread each."""
    from valence.executors import get_executor
    from valence.executors.dask import DaskExecutor

    return get_executor(DaskExecutor(workers=2, threads_per_worker=1))


def one(system: str, shape: str, n: int) -> None:
    """Run one measurement in this process and print it as JSON."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    same_cluster = None
    if system.startswith("valence-"):
        with tempfile.TemporaryDirectory() as home:
            os.environ["VALENCE_HOME"] = home
            elapsed = run_valence(shape, n, system.removeprefix("valence-"))
            if system == "valence-dask":  # raw Dask on the very same cluster, same run
                same_cluster = run_dask_distributed(shape, n, dask_executor()._cluster)
                dask_executor().shutdown()
    elif system == "dask-threads":
        elapsed = run_dask_threaded(shape, n)
    elif system == "dask-dict":
        elapsed = run_dask_dict(shape, n)
    else:
        elapsed = run_dask_distributed(shape, n)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wait = WAIT_LATENCY[0] * 1000 if WAIT_LATENCY else None
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu_seconds": CPU_SECONDS[0] if CPU_SECONDS else None,
                "peak_kb": peak,
                "base_kb": rss_before,
                "wait_ms": wait,
                "same_cluster_seconds": same_cluster,
                "same_cluster_cpu_seconds": SAME_CLUSTER_CPU[0] if same_cluster else None,
            }
        )
    )


def measure(system: str, shape: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", system, shape, str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ms(value: float | None) -> str:
    """Completion-to-return latency of get_result(wait=True), valence only."""
    return "-" if value is None else f"{value:.2f}"


SYSTEMS = [
    "valence-thread",
    "valence-local",
    "valence-dask",
    "dask-dict",
    "dask-threads",
    "dask-distributed",
]
# valence system -> its goal as a multiple of the floor (Dask threaded on a raw task dict)
GOALS = {"valence-thread": "≤ 2x", "valence-local": "≤ 4x"}


def record_rows(rows: dict, shape: str, n: int, growth: dict) -> None:
    """Hand the per-task figures to ``make bench`` (benchmarks/report.py)."""
    floor = rows.get("dask-dict")
    for system, row in rows.items():
        if not system.startswith("valence-"):
            continue
        per_task = 1000 * row["seconds"] / n
        same = row.get("same_cluster_seconds")
        if same:
            base, base_ms, goal = "raw client.submit, same cluster", 1000 * same / n, "≤ 1.2x"
        elif floor:
            base, base_ms = "Dask threaded, raw task dict", 1000 * floor["seconds"] / n
            goal = GOALS.get(system)
        else:
            base, base_ms, goal = None, None, None
        record(
            f"per task, {system}, {shape}, N={n}",
            per_task,
            "ms",
            baseline=base,
            baseline_value=base_ms,
            goal=goal,
        )
        record(f"memory per node, {system}, {shape}, N={n}", growth[system], "KB", goal="≤ 10 KB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs=3)
    parser.add_argument("--systems", help="comma-separated subset of: " + ", ".join(SYSTEMS))
    parser.add_argument("--sizes", help="comma-separated N (default 1000,10000)")
    args = parser.parse_args()
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]))
        return
    sizes = [1000] if args.quick else [1000, 10000]
    if args.sizes:
        sizes = [int(n) for n in args.sizes.split(",")]
    systems = args.systems.split(",") if args.systems else SYSTEMS
    print(f"load: {os.getloadavg()[0]:.2f} (1 min); cpu ms/t: CPU time of the measuring process")
    print(
        f"{'system':<18} {'shape':<6} {'N':>6} {'wall s':>8} {'ms/task':>8} {'cpu ms/t':>8} "
        f"{'peak MB':>8} {'KB/node':>8} {'wait ms':>8}"
    )
    for n in sizes:
        for shape in ("chain", "fan"):
            rows, growths = {}, {}
            for system in systems:
                distributed = system in ("dask-distributed", "valence-dask")
                if distributed and n > 1000 and shape == "chain" and args.quick:
                    continue
                small = measure(system, shape, 10)
                row = measure(system, shape, n)
                growth = (row["peak_kb"] - small["peak_kb"]) / n
                rows[system] = row
                growths[system] = growth
                cpu = row.get("cpu_seconds")
                cpu_ms = "-" if cpu is None else f"{1000 * cpu / n:.3f}"
                print(
                    f"{system:<18} {shape:<6} {n:>6} {row['seconds']:>8.3f} "
                    f"{1000 * row['seconds'] / n:>8.3f} {cpu_ms:>8} {row['peak_kb'] / 1024:>8.1f} "
                    f"{growth:>8.2f} {_ms(row['wait_ms']):>8}",
                    flush=True,
                )
            record_rows(rows, shape, n, growths)
            for ours in ("valence-thread", "valence-local", "valence-dask"):
                for base in ("dask-dict", "dask-threads", "dask-distributed"):
                    if ours in rows and base in rows:
                        ratio = rows[ours]["seconds"] / rows[base]["seconds"]
                        print(f"  ratio {ours}/{base} ({shape}, N={n}): {ratio:.2f}")
            same = rows.get("valence-dask", {}).get("same_cluster_seconds")
            if same:
                ratio = rows["valence-dask"]["seconds"] / same
                cpu, raw_cpu = (
                    rows["valence-dask"]["cpu_seconds"],
                    rows["valence-dask"]["same_cluster_cpu_seconds"],
                )
                print(
                    f"  ratio valence-dask/dask-distributed on the same cluster ({shape}, "
                    f"N={n}): {ratio:.2f} (raw {1000 * same / n:.3f} ms/task); CPU time of "
                    f"this process (scheduler included): {cpu / raw_cpu:.2f} "
                    f"(raw {1000 * raw_cpu / n:.3f} ms/task)"
                )


if __name__ == "__main__":
    main()
