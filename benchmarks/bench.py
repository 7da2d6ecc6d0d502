"""``make bench``: run every benchmark script, write the figures under ``docs/benchmarks/``.

Each script in ``SCRIPTS`` runs in its own process with its quick arguments (or
its defaults with ``--full``); what it prints is kept, and the figures it hands
over with ``report.record`` are collected. Written:

- ``docs/benchmarks/results.json``: the machine (CPU, cores, RAM, load before
  and after, Python, package versions, commit), then per script its arguments,
  seconds, exit code, output and figures;
- ``docs/benchmarks/README.md``: the machine, one table of every figure (value,
  the baseline measured in the same run, their ratio, the goal), the plot, and
  each script's output;
- ``docs/benchmarks/figures.png``: each ratio against its baseline, and each
  figure as a share of its goal.

A script that fails (or is not there) is reported as such and the others still
run; the exit code is then 1.

    python benchmarks/bench.py                  # quick: a few minutes on 2 cores
    python benchmarks/bench.py --full           # the scripts' own sizes
    python benchmarks/bench.py --only startup,overhead
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "docs" / "benchmarks"

# script -> its arguments in the quick run (the full run passes none: the script's defaults)
SCRIPTS: dict[str, list[str]] = {
    "startup": ["--runs", "5", "--prefect-runs", "2"],
    "overhead": ["--quick"],
    "redispatch": ["--n", "2000"],
    "prepare": ["--n", "2000"],
    "server_load": ["--clients", "50", "--dispatches", "4"],
    "server_result": ["--n", "2000", "--runs", "3"],
    "ui_graph": ["--n", "2000", "--runs", "3"],
}
PACKAGES = ["valence", "sqlalchemy", "cloudpickle", "dask", "distributed", "fastapi", "uvicorn"]
TIMEOUT = 1800


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(_mem_total_kb() / 1024 / 1024, 1),
        "system": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in PACKAGES},
        "prefect": _prefect_version(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _mem_total_kb() -> int:
    found = re.search(r"MemTotal:\s+(\d+)", _read("/proc/meminfo"))
    return int(found.group(1)) if found else 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _prefect_version() -> str | None:
    python = HERE / ".venv-compare" / "bin" / "python"
    if not python.exists():
        return None
    code = "import importlib.metadata as m; print(m.version('prefect'))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or None


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_script(name: str, args: list[str]) -> dict[str, Any]:
    """Run one script; its output, exit code, seconds and recorded figures."""
    script = HERE / f"{name}.py"
    if not script.exists():
        return {"args": args, "returncode": None, "output": "not found", "figures": []}
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch, "figures.jsonl")
        env = {**os.environ, "VALENCE_BENCH_JSON": str(figures)}
        print(f"== {name} {' '.join(args)}  (load {load()[0]})", flush=True)
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, str(script), *args],
                cwd=HERE,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
            code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as exc:
            code, output = -1, f"timed out after {TIMEOUT} s\n{exc.stdout or ''}"
        seconds = time.perf_counter() - start
        rows = figures.read_text().splitlines() if figures.exists() else []
    print(output, flush=True)
    return {
        "args": args,
        "returncode": code,
        "seconds": round(seconds, 1),
        "output": output,
        "figures": [json.loads(row) for row in rows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the scripts' own (larger) sizes")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(SCRIPTS))
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args()
    names = options.only.split(",") if options.only else list(SCRIPTS)
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        raise SystemExit(f"unknown script(s) {unknown}; choose from {', '.join(SCRIPTS)}")
    results: dict[str, Any] = {"mode": "full" if options.full else "quick"}
    results["machine"] = machine()
    results["load_before"] = load()
    results["scripts"] = {n: run_script(n, [] if options.full else SCRIPTS[n]) for n in names}
    results["load_after"] = load()
    from bench_report import write_report  # matplotlib only once there is something to draw

    write_report(results, options.out)
    failed = [n for n, r in results["scripts"].items() if r["returncode"] != 0]
    print(f"written: {options.out}/results.json, README.md, figures.png")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (their output is in the report)")


if __name__ == "__main__":
    main()
