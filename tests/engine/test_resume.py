"""Crash recovery in embedded mode: a killed process's dispatch is finished by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

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
    time.sleep(0.4)
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


def test_killed_dispatch_is_resumed_by_the_next_process(tmp_path, valence_home, monkeypatch):
    log = tmp_path / "ran.log"
    log.write_text("")
    (tmp_path / "crashflow.py").write_text(FLOW)
    env = {**os.environ, "VALENCE_HOME": str(valence_home), "VALENCE_TEST_LOG": str(log)}
    proc = subprocess.Popen(
        [sys.executable, "crashflow.py", "6"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        dispatch_id = proc.stdout.readline().strip()
        deadline = time.time() + 60
        while log.read_text().count("end ") < 2:
            assert time.time() < deadline, "the workflow never got going"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    monkeypatch.setenv("VALENCE_TEST_LOG", str(log))
    before = log.read_text().count("end ")
    assert ct.get_result(dispatch_id).status == "RUNNING"  # reading resumes nothing
    assert ct.dispatch_sync(wf.chain)(1).status == "COMPLETED"  # dispatching does
    result = ct.get_result(dispatch_id, wait=True, timeout=120)
    assert result.status == "COMPLETED", result.error
    assert 2 <= before < 6
    assert result.result == list(range(6))
    lines = log.read_text().split("\n")
    starts = [line.split()[1] for line in lines if line.startswith("start")]
    ends = [line.split()[1] for line in lines if line.startswith("end")]
    assert sorted(set(ends)) == [str(i) for i in range(6)]  # every task finished
    repeated = {i for i in starts if starts.count(i) > 1}
    # only the task in flight at the kill (started, maybe even finished, but not yet
    # recorded) ran twice; every recorded task was not executed again
    assert len(repeated) <= 1
