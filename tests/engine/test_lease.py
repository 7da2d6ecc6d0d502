"""Leases: judging dispatchers on other hosts by their heartbeats, and fencing oneself.

Run on a real SQLite store with a fake monotonic clock: no test waits for time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from subprocess import PIPE

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import valence as ct
from tests.pg import POSTGRES_URL, SKIP_REASON, fresh_schema
from valence.engine.lease import Lease, Peers, lease_seconds
from valence.engine.ownership import host_id, new_owner
from valence.errors import ConfigError
from valence.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    opened = Store.open(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "blobs")
    yield opened
    opened.close()


REMOTE = "elsewhere:4242:1.000:abcdef01"


def test_a_remote_owner_dies_only_after_a_whole_lease_without_a_beat(store):
    clock = Clock()
    peers = Peers(store, expiry=30, clock=clock)
    assert peers.dead([REMOTE]) == set()  # no row: never judged from afar
    store.beat(REMOTE, "elsewhere")
    assert peers.dead([REMOTE]) == set()  # first seen now
    clock.now += 29.9
    assert peers.dead([REMOTE]) == set()
    store.beat(REMOTE, "elsewhere")  # renewed: counted from when this peer sees it
    clock.now += 29.9
    assert peers.dead([REMOTE]) == set()  # seen now, on this peer's clock
    clock.now += 29.9
    assert peers.dead([REMOTE]) == set()
    clock.now += 0.2
    assert peers.dead([REMOTE]) == {REMOTE}


def test_a_retired_owner_is_taken_over_at_once_and_a_new_beat_revives_it(store):
    peers = Peers(store, expiry=30, clock=Clock())
    store.beat(REMOTE, "elsewhere")
    store.retire(REMOTE)
    assert peers.dead([REMOTE]) == {REMOTE}
    store.beat(REMOTE, "elsewhere")
    assert peers.dead([REMOTE]) == set()


def test_owners_on_this_host_are_judged_by_their_process(store):
    peers = Peers(store, expiry=30, clock=Clock())
    me = new_owner()
    gone = f"{host_id()}:999999999:1.000:00000000"  # no such pid
    legacy = "not-an-owner-id"
    assert peers.dead([me, gone, legacy]) == {gone}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 20)), max_size=12))
def test_judgement_matches_a_model_of_observed_beats(tmp_path_factory, steps):
    """Dead iff the count has not grown for ``expiry`` since this peer first saw it."""
    path = tmp_path_factory.mktemp("lease")
    store = Store.open(f"sqlite:///{path / 'store.db'}", path / "blobs")
    try:
        clock = Clock()
        peers = Peers(store, expiry=30, clock=clock)
        store.beat(REMOTE, "elsewhere")
        last_change = None
        beats = 1
        seen = None
        for beat, wait in steps:
            if beat:
                store.beat(REMOTE, "elsewhere")
                beats += 1
            clock.now += wait
            if seen != beats:
                seen, last_change = beats, clock.now
            expected = clock.now - last_change >= 30
            assert (REMOTE in peers.dead([REMOTE])) is expected
    finally:
        store.close()


def test_a_lease_not_renewed_for_half_its_time_is_lost_once(store):
    clock = Clock()
    lost: list[bool] = []
    lease = Lease(
        store, "me:1:1.000:00000000", expiry=10, on_lost=lambda: lost.append(True), clock=clock
    )
    lease.renew()
    clock.now += 4.9
    assert lease.valid()
    lease.renew()
    clock.now += 4.9
    assert lease.valid()
    clock.now += 0.2
    assert not lease.valid()
    lease.renew()  # too late: a peer may own the work already
    assert not lease.valid()
    assert lost == [True]
    lease.stop(retire=True)  # a lost lease is not retired: its row says nothing new
    assert not store.beats(["me:1:1.000:00000000"])["me:1:1.000:00000000"].stopped


def test_a_renewal_counts_from_before_the_write(store):
    """A slow write must not extend the lease past what the peer observes."""
    clock = Clock()

    class SlowStore:
        def beat(self, owner: str, host: str) -> None:
            clock.now += 4.0  # the write takes 4 s
            store.beat(owner, host)

    lease = Lease(SlowStore(), "me:1:1.000:00000000", expiry=10, on_lost=lambda: None, clock=clock)
    lease.renew()
    clock.now += 1.0
    assert not lease.valid()  # 5 s since the renewal started


def test_stopping_retires_the_row(store):
    lease = Lease(store, "me:1:1.000:00000000", expiry=10, on_lost=lambda: None)
    lease.start()
    lease.stop(retire=True)
    assert store.beats(["me:1:1.000:00000000"])["me:1:1.000:00000000"].stopped


@pytest.mark.parametrize("text", ["abc", "0", "-5", "nan", "inf", "1e9"])
def test_bad_lease_seconds_are_one_clear_error(monkeypatch, text):
    monkeypatch.setenv("VALENCE_LEASE_SECONDS", text)
    with pytest.raises(ConfigError, match="VALENCE_LEASE_SECONDS must be a number"):
        lease_seconds()


def test_lease_seconds_default_and_setting(monkeypatch):
    monkeypatch.delenv("VALENCE_LEASE_SECONDS", raising=False)
    assert lease_seconds() == 30.0
    monkeypatch.setenv("VALENCE_LEASE_SECONDS", " 2.5 ")
    assert lease_seconds() == 2.5


def test_host_id_from_the_environment(monkeypatch):
    monkeypatch.setenv("VALENCE_HOST_ID", "worker-7")
    assert new_owner().startswith(f"worker-7:{os.getpid()}:")
    monkeypatch.setenv("VALENCE_HOST_ID", "a:b")
    with pytest.raises(ConfigError, match="without colons"):
        host_id()


def test_a_store_on_sqlite_holds_no_lease(store):
    from valence.engine.dispatcher import Dispatcher

    dispatcher = Dispatcher(store)
    dispatcher.hold_lease(sweep=True)
    assert dispatcher.lease is None
    assert store.shares_work() is False


@ct.electron
def _gated(gate, x):
    deadline = time.time() + 120
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.01)
    return x + 1


@ct.lattice
def _gated_flow(gate, x):
    return _gated(gate, _gated(gate, x))


@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_REASON)
def test_peers_sweeping_at_once_take_a_dead_dispatch_exactly_once(valence_home, tmp_path):
    """Three dispatchers (own connections) race to resume one dispatch of a dead host."""
    from sqlalchemy import update

    from valence.engine.dispatcher import Dispatcher
    from valence.engine.prepare import prepare_dispatch
    from valence.store.tables import dispatches

    gate = str(tmp_path / "gate")
    with fresh_schema() as url:
        text = url.render_as_string(hide_password=False)
        stores = [Store.open(text, tmp_path / "blobs") for _ in range(4)]
        try:
            first = Dispatcher(stores[3], default_executor="thread")
            prepared = prepare_dispatch(_gated_flow, (gate, 1), {})
            did = prepared.record.dispatch_id
            first.submit(prepared)
            deadline = time.monotonic() + 60
            while not any(n.status == "RUNNING" for n in stores[3].get_nodes(did)):
                assert time.monotonic() < deadline, "the first task never started"
                time.sleep(0.02)
            first.freeze()  # the first dispatcher "dies" mid-task
            dead = "far-away:7:1.000:deadbeef"
            stores[0].beat(dead, "far-away")
            stores[0].retire(dead)
            owner = update(dispatches).where(dispatches.c.dispatch_id == did).values(owner=dead)
            with stores[0]._engine.begin() as conn:
                conn.execute(owner)
            peers = [Dispatcher(store, default_executor="thread") for store in stores[:3]]
            barrier = threading.Barrier(len(peers))
            taken: list[list[str]] = [[] for _ in peers]

            def sweep(i: int) -> None:
                barrier.wait()
                taken[i] = peers[i].resume_unfinished()

            threads = [threading.Thread(target=sweep, args=(i,)) for i in range(len(peers))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert sorted(len(t) for t in taken) == [0, 0, 1]
            winner = peers[[len(t) for t in taken].index(1)]
            open(gate, "w").close()
            assert winner.wait(did, 120)
            record = stores[0].get_dispatch(did)
            assert (record.status, record.owner) == ("COMPLETED", winner.owner)
        finally:
            open(gate, "w").close()
            for store in stores:
                store.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_process_facts_agree_with_psutil() -> None:
    import psutil

    from valence.engine.ownership import _process, is_alive

    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=PIPE)
    try:
        for pid in (os.getpid(), child.pid):
            created, zombie = _process(pid)
            assert created == psutil.Process(pid).create_time() and not zombie
            assert is_alive(f"{host_id()}:{pid}:{created:.3f}:00000000")
            assert not is_alive(f"{host_id()}:{pid}:{created - 5:.3f}:00000000")  # pid reused
        owner = f"{host_id()}:{child.pid}:{_process(child.pid)[0]:.3f}:00000000"
        child.stdin.close()
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        assert _process(child.pid)[1] is True and not is_alive(owner)  # exited, not reaped
    finally:
        child.wait()
    assert _process(child.pid) == (None, False) and not is_alive(owner)  # reaped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="psutil is used elsewhere")
def test_a_dispatching_process_does_not_import_psutil(tmp_path) -> None:
    code = (
        "import sys, valence as ct\n"
        "@ct.electron(executor='thread')\ndef add(a, b):\n    return a + b\n"
        "@ct.lattice\ndef flow(a):\n    return add(a, 1)\n"
        "assert ct.get_result(ct.dispatch(flow)(1), wait=True).result == 2\n"
        "print('psutil' in sys.modules)\n"
    )
    env = {**os.environ, "VALENCE_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
