"""Nothing lost: a server stopped or killed mid-run resumes the dispatch on restart.

Every task appends ``start <name>`` to a log file, so the log proves what ran:
every task runs exactly once, except the ones in flight when their server went
away (they run again). Tasks ``t1`` and ``t3`` wait for a gate file, so the test
decides when they may finish; no step depends on timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest

import valence as ct
from tests.server.processes import serve, wait_until
from valence.backends.http import close_all


@ct.electron
def step(log, name, previous, gate=None):
    with open(log, "a") as fh:
        fh.write(f"start {name}\n")
    deadline = time.time() + 120
    while gate and not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.01)
    return previous + 1


@ct.lattice
def slow_chain(log, gate1, gate3):
    x = step(log, "t0", 0)
    x = step(log, "t1", x, gate1)
    x = step(log, "t2", x)
    x = step(log, "t3", x, gate3)
    return step(log, "t4", x)


def node_status(url, did, name):
    nodes = ct.get_result(did, dispatcher_addr=url).get_all_node_results()
    tasks = [n for n in nodes if n["kind"] == "electron"]  # t0 .. t4, in call order
    return tasks[int(name[1:])]["status"]


@pytest.fixture
def started():
    """Every server process the test starts; any still running at the end is killed."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(30)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["thread", "local"])
def test_stop_and_kill_mid_run_then_resume(valence_home, tmp_path, started, monkeypatch, executor):
    monkeypatch.setenv("VALENCE_EXECUTOR", executor)  # the server's default executor
    log, gate1, gate3 = (str(tmp_path / name) for name in ("ran.log", "gate1", "gate3"))

    def start():
        process, url = serve(valence_home)
        started.append(process)
        return process, url

    first, url = start()
    did = ct.dispatch(slow_chain, dispatcher_addr=url)(log, gate1, gate3)
    wait_until(lambda: node_status(url, did, "t1") == "RUNNING", "t1 running")
    wait_until(lambda: node_status(url, did, "t0") == "COMPLETED", "t0 recorded")
    first.send_signal(signal.SIGTERM)  # graceful stop: the dispatch is left, not cancelled
    assert first.wait(60) == 0
    close_all()
    (tmp_path / "gate1").touch()

    second, url = start()  # resumes: t0 kept, t1 again
    wait_until(lambda: node_status(url, did, "t3") == "RUNNING", "t3 running")
    wait_until(lambda: node_status(url, did, "t2") == "COMPLETED", "t2 recorded")
    second.send_signal(signal.SIGKILL)  # a crash
    second.wait(60)
    close_all()
    (tmp_path / "gate3").touch()

    third, url = start()
    try:
        result = ct.get_result(did, wait=True, dispatcher_addr=url, timeout=120)
        assert result.status == "COMPLETED", result.error
        assert result.result == 5
    finally:
        close_all()
        third.send_signal(signal.SIGTERM)
        third.wait(60)
    with open(log) as fh:
        runs = Counter(line.split()[1] for line in fh.read().splitlines())
    assert runs == {"t0": 1, "t1": 2, "t2": 1, "t3": 2, "t4": 1}
