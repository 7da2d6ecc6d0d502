"""Two servers on one PostgreSQL store share the work: a dead or paused one's dispatch
is taken over by the other, which finishes it; a paused one that wakes writes nothing.

Each server has its own valence home (no shared directory: the small values of these
tasks live in the database) and both use one fresh schema. ``VALENCE_HOST_ID`` makes
them two "hosts", whose process ids mean nothing to each other: then only heartbeats
tell who is dead.
Every task appends ``start <name> <pid>`` to a log; ``t1`` waits for a gate file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest

import valence as ct
from tests.pg import POSTGRES_URL, SKIP_REASON, fresh_schema
from tests.server.processes import serve, wait_until
from valence.backends.http import close_all

pytestmark = [pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_REASON), pytest.mark.slow]


@ct.electron
def step(log, name, previous, gate=None):
    with open(log, "a") as fh:
        fh.write(f"start {name} {os.getpid()}\n")
    deadline = time.time() + 120
    while gate and not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.01)
    with open(log, "a") as fh:
        fh.write(f"end {name} {os.getpid()}\n")
    return previous + 1


@ct.lattice
def chain(log, gate):
    x = step(log, "t0", 0)
    x = step(log, "t1", x, gate)
    return step(log, "t2", x)


def _lines(path, word):
    try:
        with open(path) as fh:
            return [line.split()[1:] for line in fh.read().splitlines() if line.startswith(word)]
    except FileNotFoundError:
        return []


def _status(did, url, task):
    nodes = ct.get_result(did, dispatcher_addr=url).get_all_node_results()
    return [n for n in nodes if n["kind"] == "electron"][task]["status"]


def _snapshot(did, url):
    nodes = ct.get_result(did, dispatcher_addr=url).get_all_node_results()
    return [(n["node_id"], n["status"], str(n["end_time"]), repr(n["output"])) for n in nodes]


@pytest.fixture
def shared(valence_home, monkeypatch):
    """The store URL both servers use; every server started is killed at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    with fresh_schema() as url:
        monkeypatch.setenv("VALENCE_DATABASE_URL", url.render_as_string(hide_password=False))
        monkeypatch.setenv("VALENCE_EXECUTOR", "thread")
        monkeypatch.setenv("VALENCE_LEASE_SECONDS", "6")
        monkeypatch.setenv("VALENCE_TOKEN", "shared-store-test-token")
        yield processes
        close_all()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait(30)


@pytest.mark.parametrize("how", ["kill_same_host", "kill_other_host", "pause_other_host"])
def test_a_peer_finishes_the_dispatch_of_a_dead_or_paused_server(
    valence_home, tmp_path, shared, how
):
    log, gate = str(tmp_path / "ran.log"), str(tmp_path / "gate")
    hosts = ("host-a", "host-b") if how != "kill_same_host" else (None, None)

    def start(host, name):
        env = {"VALENCE_HOST_ID": host} if host else {}
        home = tmp_path / name.replace(".log", "-home")
        env["VALENCE_HOME"] = str(home)
        process, url = serve(home, env=env, log_name=name)
        shared.append(process)
        return process, url

    first, url_a = start(hosts[0], "a.log")
    second, url_b = start(hosts[1], "b.log")
    did = ct.dispatch(chain, dispatcher_addr=url_a)(log, gate)
    wait_until(lambda: ["t1", str(first.pid)] in _lines(log, "start"), "t1 started on A")
    # results are group-committed: t0 is kept once its row is written (as B sees it)
    wait_until(lambda: _status(did, url_b, 0) == "COMPLETED", "t0 recorded")

    first.send_signal(signal.SIGSTOP if how == "pause_other_host" else signal.SIGKILL)
    wait_until(lambda: ["t1", str(second.pid)] in _lines(log, "start"), "B took t1 over")
    open(gate, "w").close()
    result = ct.get_result(did, wait=True, dispatcher_addr=url_b, timeout=120)
    assert result.status == "COMPLETED", result.error
    assert result.result == 3
    runs = Counter(name for name, _ in _lines(log, "start"))
    assert runs == {"t0": 1, "t1": 2, "t2": 1}  # only the task in flight ran again

    if how == "pause_other_host":
        before = _snapshot(did, url_b)
        first.send_signal(signal.SIGCONT)  # A wakes up, its t1 finishes: nothing written
        wait_until(lambda: ["t1", str(first.pid)] in _lines(log, "end"), "A's t1 finished")
        wait_until(
            lambda: "could not renew its lease" in (tmp_path / "a.log").read_text(),
            "A noticed it lost its lease",
        )
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # a write would change a row's end time
            assert _snapshot(did, url_b) == before
            time.sleep(0.2)
        with pytest.raises(ct.errors.LeaseLostError, match="lost its lease"):
            ct.dispatch(chain, dispatcher_addr=url_a)(log, gate)


def test_a_cleanly_stopped_server_hands_over_at_once(valence_home, tmp_path, shared):
    """SIGTERM marks the row stopped: the peer on another host does not wait a lease."""
    log, gate = str(tmp_path / "ran.log"), str(tmp_path / "gate")
    home_a, home_b = tmp_path / "a-home", tmp_path / "b-home"
    env_a = {"VALENCE_HOST_ID": "host-a", "VALENCE_HOME": str(home_a)}
    first, url_a = serve(home_a, env=env_a, log_name="a.log")
    shared.append(first)
    env_b = {
        "VALENCE_HOST_ID": "host-b",
        "VALENCE_LEASE_SECONDS": "600",
        "VALENCE_HOME": str(home_b),
    }
    second, url_b = serve(home_b, env=env_b, log_name="b.log")
    shared.append(second)
    did = ct.dispatch(chain, dispatcher_addr=url_a)(log, gate)
    wait_until(lambda: ["t1", str(first.pid)] in _lines(log, "start"), "t1 started on A")
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 0
    # B's lease is 10 minutes: only the stopped mark lets it take over within the wait
    wait_until(lambda: ["t1", str(second.pid)] in _lines(log, "start"), "B took t1 over", 90)
    open(gate, "w").close()
    result = ct.get_result(did, wait=True, dispatcher_addr=url_b, timeout=120)
    assert result.status == "COMPLETED", result.error
