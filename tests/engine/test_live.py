"""While a dispatch runs: queued tasks are PENDING_BACKEND, output streams as it is printed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import valence as ct
from tests.notebook.kernel import wait_for

pytestmark = pytest.mark.slow


@ct.electron(executor=ct.executor.LocalExecutor(workers=1))
def talk(i, gate):
    import time
    from pathlib import Path

    print(f"hello {i}", flush=True)
    while not Path(gate).exists():
        time.sleep(0.02)
    print(f"bye {i}")
    return i


@ct.lattice
def three(gate):
    return [talk(i, gate) for i in range(3)]


def _tasks(did):
    result = ct.get_result(did)
    return [result.get_node_result(n.node_id) for n in result.nodes if n.kind == "electron"]


def test_queued_tasks_and_live_output(tmp_path, valence_home):
    gate = tmp_path / "gate"
    did = ct.dispatch(three)(str(gate))
    logs = subprocess.Popen(
        [sys.executable, "-m", "valence.cli.main", "logs", "-f", did],
        env={**os.environ, "VALENCE_HOME": str(valence_home), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(t["stdout"] for t in _tasks(did)), what="the first task's output")
        tasks = _tasks(did)
        running = [t for t in tasks if t["status"] == ct.status.RUNNING]
        queued = [t for t in tasks if t["status"] == "PENDING_BACKEND"]
        assert len(running) == 1 and len(queued) == 2  # one worker: the others wait
        assert running[0]["stdout"].startswith("hello ") and "bye" not in running[0]["stdout"]
        assert running[0]["start_time"] is not None
        assert all(t["start_time"] is None for t in queued)
        first = logs.stdout.readline() + logs.stdout.readline()
        assert "hello" in first  # `valence logs -f` shows it while the task runs
        time.sleep(0.3)
        assert ct.get_result(did).status == ct.status.RUNNING
        gate.touch()
        result = ct.get_result(did, wait=True, timeout=60)
        assert result.result == [0, 1, 2]
        for task in _tasks(did):
            i = task["output"].get_deserialized()
            assert task["stdout"] == f"hello {i}\nbye {i}\n"
        rest, _ = logs.communicate(timeout=60)
        text = first + rest
        assert all(f"bye {i}" in text and f"hello {i}" in text for i in range(3))
        assert f"dispatch {did} COMPLETED" in text
    finally:
        gate.touch()
        if logs.poll() is None:
            logs.kill()


@ct.electron(executor="thread")
def chatter(lines):
    import sys

    for i in range(lines):
        print(f"line {i}")
        if i % 1000 == 0:
            print(f"err {i}", file=sys.stderr)
    return lines


@ct.lattice
def chatty(lines):
    return chatter(lines)


def test_a_flood_of_output_arrives_whole_and_in_order():
    lines = 30_000
    result = ct.dispatch_sync(chatty)(lines)
    node = result.get_node_result(0)
    assert result.result == lines
    assert node["stdout"] == "".join(f"line {i}\n" for i in range(lines))
    assert node["stderr"] == "".join(f"err {i}\n" for i in range(0, lines, 1000))
