"""Orchestration overhead per task: valence vs raw Dask, measured in one run.

Each measurement runs in a fresh subprocess (so peak RSS is its own) on two
graph shapes of trivial tasks: a chain and a fan-out/fan-in. Printed: wall
time, ms per task, CPU time per task of the dispatching process (all its
threads; the machine may be shared, CPU time is less noisy), peak RSS, RSS
growth per node, and valence/Dask ratios. The floor is ``dask-raw``: Dask's
threaded scheduler on a hand-built task dict (nothing durable).

``valence-dask`` runs valence on a ``DaskExecutor`` LocalCluster (2 worker
processes, 1 thread each, as ``dask-distributed``) and then, in the same
process and on the same cluster, the raw ``client.submit`` chain/fan with a
fresh Client; its ratio is against that same-cluster baseline.

    python benchmarks/overhead.py            # N = 1,000 and 10,000
    python benchmarks/overhead.py --quick    # N = 1,000 only
    python benchmarks/overhead.py --systems valence-thread,dask-raw --sizes 10000,100000
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

from shapes import workflow


def inc(x):
    return x + 1


def total(xs):
    return sum(xs)


WAIT_LATENCY: list[float] = []
CPU_SECONDS: list[float] = []  # CPU time of this (the dispatching) process, every thread


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def record(started: tuple[float, float]) -> float:
    """Seconds of wall time since ``started``; its CPU time goes to CPU_SECONDS."""
    CPU_SECONDS.append(time.process_time() - started[1])
    return time.perf_counter() - started[0]


def run_valence(shape: str, n: int, executor: str) -> float:
    from datetime import datetime, timezone

    import valence as ct

    chosen = dask_executor() if executor == "dask" else executor
    task = ct.electron(inc, executor=chosen)
    gather = ct.electron(total, executor=chosen)
    lattice = workflow(shape, task, gather)
    if executor == "dask":  # the cluster starts outside the measurement, as for raw Dask
        dask_executor().client.submit(inc, 0).result()
    started = clocks()
    result = ct.get_result(ct.dispatch(lattice)(n), wait=True)
    elapsed = record(started)
    WAIT_LATENCY.append((datetime.now(timezone.utc) - result.end_time).total_seconds())
    assert result.status == "COMPLETED", result.error
    return elapsed


def run_dask_threaded(shape: str, n: int) -> float:
    import dask

    started = clocks()
    if shape == "chain":
        x = 0
        for _ in range(n):
            x = dask.delayed(inc)(x)
        out = x.compute(scheduler="threads")
    else:
        out = dask.delayed(total)([dask.delayed(inc)(i) for i in range(n)]).compute(
            scheduler="threads"
        )
    elapsed = record(started)
    assert out is not None
    return elapsed


def run_dask_raw(shape: str, n: int) -> float:
    """Dask's threaded scheduler on a hand-built task dict: the floor (nothing durable)."""
    from dask.threaded import get

    if shape == "chain":
        dsk: dict = {"x0": (inc, 0)}
        for i in range(1, n):
            dsk[f"x{i}"] = (inc, f"x{i - 1}")
        out_key = f"x{n - 1}"
    else:
        dsk = {f"x{i}": (inc, i) for i in range(n)}
        dsk["total"] = (total, [f"x{i}" for i in range(n)])
        out_key = "total"
    started = clocks()
    out = get(dsk, out_key)
    elapsed = record(started)
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
        start = time.perf_counter()
        if shape == "chain":
            x = client.submit(inc, 0, pure=False)
            for _ in range(n - 1):
                x = client.submit(inc, x, pure=False)
            x.result()
        else:
            parts = [client.submit(inc, i, pure=False) for i in range(n)]
            client.submit(total, parts).result()
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
    elif system == "dask-raw":
        elapsed = run_dask_raw(shape, n)
    else:
        elapsed = run_dask_distributed(shape, n)
    cpu = CPU_SECONDS[0] if CPU_SECONDS else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wait = WAIT_LATENCY[0] * 1000 if WAIT_LATENCY else None
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "peak_kb": peak,
                "base_kb": rss_before,
                "wait_ms": wait,
                "same_cluster_seconds": same_cluster,
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
    "dask-raw",
    "dask-threads",
    "dask-distributed",
]
BASES = ("dask-raw", "dask-threads", "dask-distributed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs=3)
    parser.add_argument("--systems", help="comma-separated subset of: " + ", ".join(SYSTEMS))
    parser.add_argument("--sizes", help="comma-separated N (default 1000,10000)")
    parser.add_argument("--shapes", default="chain,fan")
    args = parser.parse_args()
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]))
        return
    sizes = [1000] if args.quick else [1000, 10000]
    if args.sizes:
        sizes = [int(n) for n in args.sizes.split(",")]
    systems = args.systems.split(",") if args.systems else SYSTEMS
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1 and 5 min)")
    print(
        f"{'system':<18} {'shape':<6} {'N':>6} {'wall s':>8} {'ms/task':>8} {'cpu ms/t':>8} "
        f"{'peak MB':>8} {'KB/node':>8} {'wait ms':>8}"
    )
    for n in sizes:
        for shape in args.shapes.split(","):
            rows = {}
            for system in systems:
                distributed = system in ("dask-distributed", "valence-dask")
                if distributed and n > 1000 and shape == "chain" and args.quick:
                    continue
                small = measure(system, shape, 10)
                row = measure(system, shape, n)
                growth = (row["peak_kb"] - small["peak_kb"]) / n
                rows[system] = row
                cpu = row["cpu_seconds"]
                cpu_ms = "-" if cpu is None else f"{1000 * cpu / n:.3f}"
                print(
                    f"{system:<18} {shape:<6} {n:>6} {row['seconds']:>8.3f} "
                    f"{1000 * row['seconds'] / n:>8.3f} {cpu_ms:>8} {row['peak_kb'] / 1024:>8.1f} "
                    f"{growth:>8.2f} {_ms(row['wait_ms']):>8}",
                    flush=True,
                )
            for ours in ("valence-thread", "valence-local", "valence-dask"):
                for base in BASES:
                    if ours in rows and base in rows:
                        ratio = rows[ours]["seconds"] / rows[base]["seconds"]
                        print(f"  ratio {ours}/{base} ({shape}, N={n}): {ratio:.2f}")
            same = rows.get("valence-dask", {}).get("same_cluster_seconds")
            if same:
                ratio = rows["valence-dask"]["seconds"] / same
                print(
                    f"  ratio valence-dask/dask-distributed on the same cluster ({shape}, "
                    f"N={n}): {ratio:.2f} (raw {1000 * same / n:.3f} ms/task)"
                )


if __name__ == "__main__":
    main()
