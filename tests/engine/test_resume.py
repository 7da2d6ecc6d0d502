"""Crash recovery in embedded mode: a killed process's dispatch is finished by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import valence as ct
from tests import workflows as wf

FLOW = """
import os, sys, time
import valence as ct

LOG = os.environ["VALENCE_TEST_LOG"]


@ct.electron
def step(i, prev):
    with open(LOG, "a") as fh:
        fh.write(f"start {i}\\n")
    while i >= 2 and not os.path.exists(os.environ["VALENCE_TEST_GATE"]):
        time.sleep(0.02)  # tasks 2.. wait for the test to open the gate
    with open(LOG, "a") as fh:
        fh.write(f"end {i}\\n")
    return prev + [i]


@ct.lattice
def slow_chain(n):
    acc = []
    for i in range(n):
        acc = step(i, acc)
    return acc


if __name__ == "__main__":
    print(ct.dispatch(slow_chain)(int(sys.argv[1])), flush=True)
    time.sleep(60)
"""


def kill_when(argv, cwd, env, ready) -> str:
    """Run a script that prints a dispatch id, kill -9 it once ``ready(id)``; return the id."""
    proc = subprocess.Popen(
        [sys.executable, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        dispatch_id = proc.stdout.readline().strip()
        deadline = time.time() + 60
        while not ready(dispatch_id):
            assert time.time() < deadline, "the workflow never got going"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return dispatch_id


@pytest.mark.slow
def test_killed_dispatch_is_resumed_by_the_next_process(tmp_path, valence_home, monkeypatch):
    log, gate = tmp_path / "ran.log", tmp_path / "gate"
    log.write_text("")
    (tmp_path / "crashflow.py").write_text(FLOW)
    env = {
        **os.environ,
        "VALENCE_HOME": str(valence_home),
        "VALENCE_TEST_LOG": str(log),
        "VALENCE_TEST_GATE": str(gate),
    }

    def two_recorded(dispatch_id: str) -> bool:
        steps = [n.status for n in ct.get_result(dispatch_id).nodes if n.name == "step"]
        return "start 2" in log.read_text() and steps.count("COMPLETED") == 2

    try:  # killed while task 2 waits at the gate, once tasks 0 and 1 are recorded
        dispatch_id = kill_when(["crashflow.py", "6"], tmp_path, env, two_recorded)
    finally:
        gate.touch()  # lets an orphaned worker, if any, finish too
    monkeypatch.setenv("VALENCE_TEST_LOG", str(log))
    monkeypatch.setenv("VALENCE_TEST_GATE", str(gate))
    assert log.read_text().split("\n").count("end 1") == 1
    assert ct.get_result(dispatch_id).status == "RUNNING"  # reading resumes nothing
    assert ct.dispatch_sync(wf.count_to)(1).status == "COMPLETED"  # dispatching does
    result = ct.get_result(dispatch_id, wait=True, timeout=120)
    assert result.status == "COMPLETED", result.error
    assert result.result == list(range(6))
    lines = log.read_text().split("\n")
    starts = [line.split()[1] for line in lines if line.startswith("start")]
    ends = [line.split()[1] for line in lines if line.startswith("end")]
    assert sorted(set(ends)) == [str(i) for i in range(6)]  # every task finished
    repeated = {i for i in starts if starts.count(i) > 1}
    # only the task in flight at the kill (started, maybe even finished, but not yet
    # recorded) ran twice; every recorded task was not executed again
    assert len(repeated) <= 1


CUTOFF_FLOW = """
import os, sys, time
import valence as ct

LOG = os.environ["VALENCE_TEST_LOG"]


def log(text):
    with open(LOG, "a") as fh:
        fh.write(text + "\\n")


@ct.electron
def double(x):
    log("double")
    return x * 2


@ct.electron
def gated_double(x):
    log("start gated")
    while not os.path.exists(os.environ["VALENCE_TEST_GATE"]):
        time.sleep(0.02)
    return x + x


@ct.electron
def after(y):
    log("after")
    return y + 1


@ct.lattice
def flow(x):
    return after(double(x))


@ct.lattice
def gated_flow(x):
    return after(gated_double(x))


if __name__ == "__main__":
    if sys.argv[1] == "first":
        print(ct.get_result(ct.dispatch(flow)(3), wait=True).dispatch_id, flush=True)
    else:
        print(ct.dispatch(gated_flow, reuse_previous_results=True)(3), flush=True)
        time.sleep(60)
"""


@pytest.mark.slow
def test_a_resumed_dispatch_keeps_early_cutoff(tmp_path, valence_home, monkeypatch):
    log, gate = tmp_path / "ran.log", tmp_path / "gate"
    log.write_text("")
    (tmp_path / "cutoffflow.py").write_text(CUTOFF_FLOW)
    env = {
        **os.environ,
        "VALENCE_HOME": str(valence_home),
        "VALENCE_TEST_LOG": str(log),
        "VALENCE_TEST_GATE": str(gate),
    }
    first = subprocess.run(
        [sys.executable, "cutoffflow.py", "first"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    first_id = first.stdout.strip().splitlines()[-1]
    dispatch_id = kill_when(
        ["cutoffflow.py", "gated"], tmp_path, env, lambda _: "start gated" in log.read_text()
    )
    monkeypatch.setenv("VALENCE_TEST_LOG", str(log))
    monkeypatch.setenv("VALENCE_TEST_GATE", str(gate))
    gate.touch()
    assert ct.dispatch_sync(wf.count_to)(1).status == "COMPLETED"  # this process resumes it
    result = ct.get_result(dispatch_id, wait=True, timeout=120)
    assert result.status == "COMPLETED", result.error
    assert result.result == 7
    assert log.read_text().split("\n").count("after") == 1  # only the first run's
    from valence.backends import choose_backend

    nodes = {n.name: n for n in choose_backend().get_nodes(dispatch_id)}
    assert nodes["after"].reason["code"] == "early_cutoff"
    assert nodes["after"].reused_from_dispatch == first_id
