"""Faults inside the dispatcher's process: internal errors, hostile values, stuck threads,
dead owners. Each must fail only what it touches and never hang a waiter or an exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Future

import psutil
import pytest

import valence as ct
from tests import workflows as wf
from valence.executors.base import Executor, Outcome, TaskSpec


def run(lattice, *args):
    return ct.get_result(ct.dispatch(lattice)(*args), wait=True, timeout=60)


class BrokenExecutor(Executor):
    """An executor whose futures raise instead of resolving to an Outcome (a bug in it)."""

    name = "broken"
    in_process = True

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        future.set_exception(RuntimeError("the executor lost its connection"))
        return future


@ct.electron(executor=BrokenExecutor())
def on_broken(x):
    return x


@ct.lattice
def broken_flow(x):
    return wf.add(on_broken(x), wf.identity(x))


@pytest.mark.both_modes
def test_an_internal_error_fails_the_dispatch_with_the_real_error():
    result = run(broken_flow, 3)
    assert result.status == "FAILED"
    assert "valence internal error: RuntimeError: the executor lost its connection" in result.error
    assert "Node -1" not in result.error
    node = result.get_node_result(0)
    assert node["node_name"] == "on_broken"
    assert node["status"] == "FAILED"  # not left RUNNING
    assert "lost its connection" in node["error"]
    statuses = {n["status"] for n in result.get_all_node_results()}
    assert "RUNNING" not in statuses
    assert run(wf.count_to, 3).status == "COMPLETED"  # the dispatcher goes on


class Bomb:
    """A value whose unpickling raises SystemExit (``sys.exit`` as its constructor)."""

    def __reduce__(self):
        return (sys.exit, ("a value's unpickling called sys.exit",))


@ct.electron(executor="local")  # its output crosses a process: the dispatcher unpickles it
def make_bomb():
    return Bomb()


@ct.electron
def consume(value):
    return "unreachable"


@ct.lattice
def bomb_flow(x):
    return {"bad": consume(make_bomb()), "good": wf.identity(x)}


@pytest.mark.slow
def test_a_value_whose_unpickling_raises_system_exit_fails_only_its_consumer():
    result = run(bomb_flow, 5)
    assert result.status == "FAILED"
    nodes = {n["node_name"]: n for n in result.get_all_node_results()}
    assert nodes["make_bomb"]["status"] == "COMPLETED"
    assert nodes["identity"]["status"] == "COMPLETED"
    failed = nodes["consume"]
    assert failed["status"] == "FAILED"
    assert "SerializationError" in failed["error"]
    assert "make_bomb" in failed["error"] and "SystemExit" in failed["error"]
    assert run(wf.count_to, 3).result == 3  # the dispatcher thread survived


THREAD_TIMEOUT_SCRIPT = """
import time
import valence as ct

@ct.electron(executor="thread", timeout=0.2)
def stuck():
    time.sleep(3600)

@ct.electron(executor="thread")
def fine(x):
    return x + 1

@ct.lattice
def flow(x):
    return [stuck(), fine(x)]

result = ct.dispatch_sync(flow)(1)
print(result.status, result.get_node_result(0)["error"].splitlines()[0], flush=True)
"""


def test_a_process_exits_after_a_thread_task_timed_out(tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(THREAD_TIMEOUT_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("FAILED TimeoutError: task 'stuck' exceeded its timeout")


# ---- dead owners: who resumes -------------------------------------------------------

SLOW_CHAIN = """
import os, sys, time
import valence as ct

@ct.electron(executor="thread")
def step(i, prev):
    with open(os.environ["VALENCE_TEST_LOG"], "a") as fh:
        fh.write(f"start {i}\\n")
    time.sleep(0.3)
    return prev + [i]

@ct.lattice
def slow_chain(n):
    acc = []
    for i in range(n):
        acc = step(i, acc)
    return acc

if __name__ == "__main__":
    print(ct.dispatch(slow_chain)(4), flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_reader_never_resumes_and_a_zombie_owner_counts_as_dead(
    tmp_path, valence_home, monkeypatch
):
    log = tmp_path / "ran.log"
    monkeypatch.setenv("VALENCE_TEST_LOG", str(log))
    log.write_text("")
    (tmp_path / "slow.py").write_text(SLOW_CHAIN)
    env = {**os.environ, "VALENCE_HOME": str(valence_home), "VALENCE_TEST_LOG": str(log)}
    owner = subprocess.Popen(
        [sys.executable, "slow.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        dispatch_id = owner.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while "start 1" not in log.read_text():
            assert time.monotonic() < deadline, "the workflow never got going"
            time.sleep(0.02)
        os.kill(owner.pid, signal.SIGKILL)
        while psutil.Process(owner.pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)  # dead but not reaped: we do not wait() for it yet
        ran = log.read_text()

        reader = textwrap.dedent(f"""
            import valence as ct
            print(ct.get_result({dispatch_id!r}).status)
        """)
        done = subprocess.run(
            [sys.executable, "-c", reader], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "RUNNING"
        assert "resuming" not in done.stderr
        assert log.read_text() == ran  # reading started no task
        from valence.store import Store

        with Store.open(f"sqlite:///{valence_home / 'valence.db'}", valence_home / "blobs") as s:
            assert s.get_dispatch(dispatch_id).owner.split(":")[1] == str(owner.pid)

        assert ct.get_result(dispatch_id).status == "RUNNING"  # reading here: still not resumed
        assert run(wf.count_to, 2).status == "COMPLETED"  # dispatching resumes the zombie's work
        result = ct.get_result(dispatch_id, wait=True, timeout=120)
        assert result.status == "COMPLETED", result.error
        assert result.result == [0, 1, 2, 3]
    finally:
        owner.kill()
        owner.wait()
        owner.stdout.close()
