"""The thread pool's after-call hooks and kept calls (``executors.poolthread``)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from valence.executors import poolthread
from valence.executors.local import DaemonThreadPool


def _whoami(gate: threading.Event | None = None) -> str:
    if gate is not None:
        gate.wait(30)  # the caller adds its callback first
    return threading.current_thread().name + f"/{threading.get_ident()}"


def test_a_hook_runs_after_the_call_in_its_thread_and_its_submission_runs_there_next() -> None:
    pool = DaemonThreadPool(4)
    seen: dict[str, Any] = {}
    second: list[Future[str]] = []
    done = threading.Event()

    def hook(able: bool) -> None:
        seen["hook"] = (_whoami(), able, first.done())
        second.append(pool.submit(_whoami))  # kept: run next by this very thread
        seen["kept"] = poolthread.state.kept is not None

    def on_done(future: Future[str]) -> None:
        seen["in_call"] = poolthread.in_call()
        seen["registered"] = poolthread.after_call(hook)

    gate = threading.Event()
    try:
        first = pool.submit(_whoami, gate)
        first.add_done_callback(on_done)
        gate.set()
        first.result(timeout=30)
        second_done = threading.Event()
        while not second:
            done.wait(0.01)
        second[0].add_done_callback(lambda _: second_done.set())
        assert second_done.wait(30)
        ran_first = first.result()
        assert seen["in_call"] and seen["registered"] and seen["kept"]
        assert seen["hook"] == (ran_first, True, True)  # after the future resolved
        assert second[0].result() == ran_first  # no hand-over to another thread
    finally:
        pool.shutdown()


def test_outside_a_pool_call_nothing_is_deferred_or_kept() -> None:
    assert not poolthread.in_call()
    assert not poolthread.after_call(lambda able: None)
    assert not poolthread.keep(object(), ("future", "fn", ()))
    pool = DaemonThreadPool(1)
    try:
        assert pool.submit(lambda: 7).result(timeout=30) == 7  # queued as usual
    finally:
        pool.shutdown()


def test_an_abandoned_thread_runs_its_hooks_unable_and_keeps_nothing() -> None:
    pool = DaemonThreadPool(1)
    release = threading.Event()
    calls: list[tuple[bool, bool]] = []
    hooked = threading.Event()

    def hook(able: bool) -> None:
        extra = pool.submit(lambda: "queued")
        calls.append((able, poolthread.state.kept is not None))
        extra.add_done_callback(lambda _: hooked.set())

    try:
        running = pool.submit(release.wait, 30)
        running.add_done_callback(lambda _: poolthread.after_call(hook))
        while not running.running():
            release.wait(0.01)
        pool.abandon(running)  # given up: its thread leaves the pool
        release.set()
        assert hooked.wait(30)  # the extra call ran on the pool's new thread
        assert calls == [(False, False)]
    finally:
        pool.shutdown()


def test_a_hook_that_raises_does_not_end_the_pool_thread() -> None:
    pool = DaemonThreadPool(1)

    def bad(able: bool) -> None:
        raise RuntimeError("hook bug")

    gate = threading.Event()
    try:
        first = pool.submit(gate.wait, 30)
        first.add_done_callback(lambda _: poolthread.after_call(bad))
        gate.set()
        assert first.result(timeout=30) is True
        assert pool.submit(lambda: 2).result(timeout=30) == 2
    finally:
        pool.shutdown()
