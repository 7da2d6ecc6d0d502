"""While a large dispatch runs, full collections are rare; afterwards the threshold is back."""

from __future__ import annotations

import gc
import threading

import pytest

import valence as ct
from tests.notebook.kernel import wait_for
from valence.engine import collector


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


@ct.electron(executor="thread")
def probe(_):
    return gc.get_threshold()[2]


@ct.lattice
def many(n):
    return [probe(i) for i in range(n)]


def test_a_large_dispatch_holds_the_collector_while_it_runs(valence_home, thresholds):
    small = ct.dispatch_sync(many)(3)
    assert small.result == [10, 10, 10]  # small dispatches change nothing
    n = collector.LARGE  # with its parameter nodes, well over LARGE nodes
    large = ct.dispatch_sync(many)(n)
    assert large.status == ct.status.COMPLETED
    assert set(large.result) == {collector.RARE}
    # put back once the finished run is freed (the loop's next round, after its waiters)
    wait_for(lambda: gc.get_threshold() == (700, 10, 10), what="the threshold put back")


def test_holds_nest_and_a_change_made_meanwhile_is_kept(thresholds):
    collector.hold()
    collector.hold()
    assert gc.get_threshold()[2] == collector.RARE
    collector.release()
    assert gc.get_threshold()[2] == collector.RARE  # one holder left
    collector.release()
    assert gc.get_threshold() == (700, 10, 10)
    collector.hold()
    gc.set_threshold(700, 10, 50)  # someone else's choice
    collector.release()
    assert gc.get_threshold() == (700, 10, 50)


def test_concurrent_holders_leave_the_threshold_as_found(thresholds):
    def work():
        for _ in range(200):
            collector.hold()
            collector.release()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.get_threshold() == (700, 10, 10)
