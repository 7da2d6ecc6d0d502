"""Start-up: ``import valence`` and a 1-task dispatch from a fresh process, beside Prefect.

Every measurement is a new Python process, timed from the parent: interpreter
start, imports, the dispatch, its result, and exit. Printed per measurement:
min, median and max over ``--runs`` runs, after one untimed warm-up run. The
processes keep compiled bytecode (in a temporary ``PYTHONPYCACHEPREFIX``, even
when ``PYTHONDONTWRITEBYTECODE`` is set here), as an installed package has it;
``--no-bytecode-cache`` measures every module (the standard library's too)
compiled from source instead.

- ``python -c pass``: the interpreter alone (the floor of any fresh process);
- ``import valence``: the import alone, timed inside the process;
- ``1-task dispatch``: a script that defines one electron and a lattice,
  dispatches it and waits for its result (default executor, and ``thread``),
  with the valence home made by an earlier run (warm) and with a new one
  (the first run of a new user);
- ``prefect``: the same flow with Prefect 3 (``@flow``/``@task``, default
  settings, a home made by an earlier run), when ``benchmarks/.venv-compare``
  has it (``make bench-compare`` creates it; Prefect is never a valence
  dependency). Otherwise one line says it was skipped and why.

    python benchmarks/startup.py [--runs 10] [--prefect-runs 3] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import record

HERE = Path(__file__).resolve().parent
COMPARE_PYTHON = HERE / ".venv-compare" / "bin" / "python"
STARTUP_TIMEOUT = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"

IMPORT_VALENCE = (
    "import time; t = time.perf_counter(); import valence; print(time.perf_counter() - t)"
)

VALENCE_FLOW = """
import sys
import valence as ct

def add(a, b):
    return a + b

options = {} if sys.argv[1] == "default" else {"executor": sys.argv[1]}
task = ct.electron(add, **options)

@ct.lattice
def flow(a, b):
    return task(a, b)

result = ct.get_result(ct.dispatch(flow)(1, 2), wait=True)
assert result.status == "COMPLETED" and result.result == 3, (result.status, result.error)
"""

PREFECT_FLOW = """
from prefect import flow, task

@task
def add(a, b):
    return a + b

@flow
def pipeline(a, b):
    return add(a, b)

assert pipeline(1, 2) == 3
"""


BASE_ENV = dict(os.environ)


class Failed(Exception):
    """A measured process exited with an error."""


# CPU seconds (user + system) of each process ``wall`` ran, children included: a figure
# that a loaded machine inflates much less than wall time.
CPU: list[float] = []


def wall(command: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``command`` in a new process to its exit (it must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if done.returncode:
        raise Failed(f"{' '.join(command[:2])} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def inside(command: list[str], env: dict[str, str]) -> float:
    """The number a process prints last (a time it measured itself)."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise Failed(f"{' '.join(command[:2])} failed:\n{done.stdout}{done.stderr}")
    return float(done.stdout.split()[-1])


def show(label: str, seconds: list[float], cpu: bool = True) -> float:
    """Print min/median/max (and the median CPU time of the same runs); the median."""
    median = statistics.median(seconds)
    used = f"  cpu {statistics.median(CPU[-len(seconds) :]):.3f} s" if cpu else ""
    print(
        f"{label:<52} min {min(seconds):.3f} s  median {median:.3f} s  "
        f"max {max(seconds):.3f} s{used}  ({len(seconds)} runs)",
        flush=True,
    )
    return median


def spread(seconds: list[float]) -> str:
    return f"range {min(seconds):.3f}-{max(seconds):.3f} s over {len(seconds)} runs"


def valence_env(home: str) -> dict[str, str]:
    return {**BASE_ENV, "VALENCE_HOME": home}


def dispatches(script: Path, runs: int, executor: str, warm: bool) -> list[float]:
    """End-to-end seconds of ``runs`` fresh processes each dispatching one task."""
    times = []
    with tempfile.TemporaryDirectory() as shared:
        if warm:
            wall([sys.executable, str(script), executor], valence_env(shared))
        for _ in range(runs):
            if warm:
                times.append(wall([sys.executable, str(script), executor], valence_env(shared)))
                continue
            with tempfile.TemporaryDirectory() as home:
                times.append(wall([sys.executable, str(script), executor], valence_env(home)))
    return times


def prefect(script: Path, runs: int) -> list[float] | None:
    """End-to-end seconds of Prefect's equivalent, or None (with a printed reason)."""
    if not runs:
        print("prefect: skipped (--prefect-runs 0)")
        return None
    if not COMPARE_PYTHON.exists():
        print("prefect: skipped, no benchmarks/.venv-compare (create it: make bench-compare)")
        return None
    probe = subprocess.run([str(COMPARE_PYTHON), "-c", "import prefect"], capture_output=True)
    if probe.returncode:
        print("prefect: skipped, not installed in benchmarks/.venv-compare (make bench-compare)")
        return None
    with tempfile.TemporaryDirectory() as home:
        # its own default is 20 s: a loaded machine misses it while the database is made
        env = {**BASE_ENV, "PREFECT_HOME": home, STARTUP_TIMEOUT: "180"}
        try:
            wall([str(COMPARE_PYTHON), str(script)], env)  # its database made, as a warm home
            return [wall([str(COMPARE_PYTHON), str(script)], env) for _ in range(runs)]
        except Failed as exc:
            last = str(exc).strip().splitlines()[-1]
            print(f"prefect: skipped, its run failed: {last[:300]}")
            return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--prefect-runs", type=int, default=3, help="each takes seconds")
    parser.add_argument("--no-bytecode-cache", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as pycache:
        if args.no_bytecode_cache:
            BASE_ENV["PYTHONDONTWRITEBYTECODE"] = "1"
            BASE_ENV["PYTHONPYCACHEPREFIX"] = pycache  # no .pyc of an earlier run is found
        else:
            BASE_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
            BASE_ENV["PYTHONPYCACHEPREFIX"] = pycache
        bytecode = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached"
        measure(args.runs, args.prefect_runs, bytecode)


def measure(runs: int, prefect_runs: int, bytecode: str) -> None:
    """Print (and record) every start-up figure."""
    print(f"start-up, {runs} fresh processes each, {bytecode}; load {os.getloadavg()[0]:.1f}")
    python = [sys.executable, "-c", "pass"]
    wall(python, BASE_ENV)
    bare = show("python -c pass", [wall(python, BASE_ENV) for _ in range(runs)])
    importer = [sys.executable, "-c", IMPORT_VALENCE]
    inside(importer, BASE_ENV)
    imports = [inside(importer, BASE_ENV) for _ in range(runs)]
    record(
        "import valence",
        show("import valence (timed inside the process)", imports, cpu=False),
        "s",
        goal="≤ 0.15 s",
        note=f"{spread(imports)}, {bytecode}; a bare interpreter starts in {bare:.3f} s",
    )
    with tempfile.TemporaryDirectory() as scripts:
        ours, theirs = Path(scripts, "valence_flow.py"), Path(scripts, "prefect_flow.py")
        ours.write_text(VALENCE_FLOW)
        theirs.write_text(PREFECT_FLOW)
        other = prefect(theirs, prefect_runs)
        base = show("prefect 3, 1-task flow, end to end", other) if other else None
        base_cpu = statistics.median(CPU[-len(other) :]) if other else None
        for executor, warm in (("default", True), ("thread", True), ("default", False)):
            times = dispatches(ours, runs, executor, warm)
            label = (
                f"valence 1-task dispatch ({executor} executor, {'warm' if warm else 'new'} home)"
            )
            median = show(label, times)
            cpu = statistics.median(CPU[-runs:])
            theirs_name = "Prefect 3, 1-task flow" if base else None
            record(
                f"{label}, end to end",
                median,
                "s",
                baseline=theirs_name and theirs_name + ", end to end",
                baseline_value=base,
                goal="≤ 0.5 s",
                note=f"{spread(times)}, {bytecode}",
            )
            record(
                f"{label}, CPU time",
                cpu,
                "s",
                baseline=theirs_name and theirs_name + ", CPU time",
                baseline_value=base_cpu,
            )
            if base and base_cpu:
                print(f"  ratio to prefect: wall {median / base:.2f}, cpu {cpu / base_cpu:.2f}")


if __name__ == "__main__":
    main()
