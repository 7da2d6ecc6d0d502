"""Load on one server: many clients submitting 100-node dispatches at once, on loopback.

Starts ``valence serve`` (a subprocess, fresh valence home, SQLite unless --database),
then N client threads each submit M dispatches as fast as they can, then wait for
their own dispatches (long polls), as users would. After the clock stops, checks
that every dispatch completed with the right result, none was lost (the server
lists exactly N*M), and the server log has no "database is locked" and no error.
Prints dispatches/s (first submit to the last client seeing its last dispatch
finish), the server's CPU time, and the p50/p99 latency of a submit (one HTTP
request: pickled workflow + inputs in, id out).

    python benchmarks/server_load.py [--clients 50] [--dispatches 20] [--executor thread]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from report import record
from sqlalchemy import make_url

import valence as ct
from valence.backends import choose_backend


def inc(x):
    return x + 1


def total(xs):
    return sum(xs)


def make_flow(executor: str):
    task = ct.electron(inc, executor=executor)
    gather = ct.electron(total, executor=executor)

    @ct.lattice
    def flow(seed):
        """49 tasks + their 49 constant arguments + a list + the sum = 100 nodes."""
        return gather([task(seed + i) for i in range(49)])

    return flow


def start_server(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    log = open(home / "server.log", "ab")  # noqa: SIM115 - the server process owns it
    server = subprocess.Popen(
        [sys.executable, "-m", "valence.cli.main", "serve", "--port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            record = json.loads((home / "server.json").read_text())
            if record.get("pid") == server.pid:
                return server, record["url"]
        except (FileNotFoundError, ValueError):
            pass
        if server.poll() is not None:
            raise SystemExit("server did not start:\n" + (home / "server.log").read_text())
        time.sleep(0.05)
    raise SystemExit("server did not start within 60 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(clients: int, dispatches: int, executor: str, database: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="valence-load-"))
    env = {**os.environ, "VALENCE_HOME": str(home), "VALENCE_EXECUTOR": executor}
    if database:
        env["VALENCE_DATABASE_URL"] = database
    os.environ.update({"VALENCE_HOME": str(home)})  # the clients read the server's token here
    server, url = start_server(home, env)
    flow = make_flow(executor)
    ct.dispatch(flow, dispatcher_addr=url)(0)  # warm up one connection and the server
    latencies: list[float] = []
    ids: list[tuple[str, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    submitted_at: list[float] = []
    done_at: list[float] = []

    def client(number: int) -> None:
        barrier.wait()
        mine: list[str] = []
        for i in range(dispatches):
            seed = number * 1000 + i
            try:
                began = time.perf_counter()
                did = ct.dispatch(flow, dispatcher_addr=url)(seed)
                elapsed = time.perf_counter() - began
            except Exception as exc:
                with lock:
                    failures.append(f"submit: {type(exc).__name__}: {exc}")
                continue
            mine.append(did)
            with lock:
                latencies.append(elapsed)
                ids.append((did, seed))
        with lock:
            submitted_at.append(time.perf_counter())
        backend = choose_backend(url)
        for did in mine:  # as a client does: wait for its own dispatches to finish
            backend.wait(did, timeout=600)
        with lock:
            done_at.append(time.perf_counter())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    cpu_before = psutil.Process(server.pid).cpu_times()
    for thread in threads:
        thread.join()
    submitted = max(submitted_at, default=started) - started
    finished = max(done_at, default=started) - started  # the last client saw its last finish
    cpu_after = psutil.Process(server.pid).cpu_times()
    server_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    wrong = 0
    for did, seed in ids:
        result = ct.get_result(did, wait=True, dispatcher_addr=url, timeout=600)
        expected = sum(seed + i + 1 for i in range(49))
        if result.status != "COMPLETED" or result.result != expected:
            wrong += 1
    from valence.backends.http import connect

    backend = connect(url)
    listed = 0
    while page := backend.list_dispatches(limit=500, offset=listed):
        listed += len(page)
    server.terminate()
    server.wait(60)
    log = (home / "server.log").read_text()
    locked = log.count("database is locked")
    errors = sum(1 for line in log.splitlines() if " ERROR " in line)
    total_wanted = clients * dispatches
    print(f"server_load: {clients} clients x {dispatches} dispatches x 100 nodes, {executor}")
    shown = make_url(database).render_as_string(hide_password=True) if database else "sqlite"
    print(f"  store               {shown}")
    print(f"  submitted           {len(ids)}/{total_wanted} in {submitted:.1f} s")
    print(f"  completed correctly {len(ids) - wrong}/{total_wanted}")
    print(f"  listed by server    {listed - 1} (+1 warm-up)")
    print(f"  failures            {len(failures)} {failures[:3]}")
    print(f"  'database is locked' {locked}, ERROR lines {errors}")
    print(
        f"  throughput          {len(ids) / finished:.1f} dispatches/s "
        f"({len(ids) * 100 / finished:.0f} nodes/s), first submit to last completion"
    )
    print(
        f"  server CPU          {server_cpu:.1f} s ({server_cpu / max(len(ids), 1) * 1000:.1f} ms "
        f"per dispatch), load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  submit latency      p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"mean {statistics.mean(latencies) * 1000:.0f} ms"
    )
    shape = f"{clients} clients x {dispatches} dispatches of 100 nodes, {executor} executor"
    record(f"server throughput, {shape}", len(ids) / finished, "/s", goal="≥ 100 /s")
    p99 = percentile(latencies, 0.99)
    record(f"server submit latency p99, {shape}", p99, "s", goal="≤ 0.5 s")
    ok = not failures and not wrong and not locked and not errors
    ok = ok and len(ids) == total_wanted and listed - 1 == total_wanted
    if not ok:
        raise SystemExit("FAILED: see above")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--dispatches", type=int, default=20, help="per client")
    parser.add_argument("--executor", default="thread", choices=["thread", "local", "inline"])
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: SQLite)")
    args = parser.parse_args()
    run(args.clients, args.dispatches, args.executor, args.database)


if __name__ == "__main__":
    main()
