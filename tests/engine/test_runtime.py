"""The one in-process runtime: its wait blocks on the dispatcher's completion event.

A dispatch run in this process is waited for without reading the store (a
thread blocks, an asyncio task awaits a callback); only a dispatch run by
another process is polled.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import valence as ct
from valence import status as st
from valence.engine.completion import Completion
from valence.engine.runtime import Runtime
from valence.errors import StoreError


@ct.electron(executor="thread")
def held(gate: str) -> int:
    """Return once the file ``gate`` exists."""
    import os
    import time

    while not os.path.exists(gate):
        time.sleep(0.005)
    return 1


@ct.lattice
def flow(gate: str) -> int:
    return held(gate)


class Gate:
    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self) -> None:
        self.path.touch()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    opened = Gate(tmp_path / "gate")
    yield opened
    opened.set()


@pytest.fixture
def runtime(valence_home: Any, gate: Gate) -> Iterator[Runtime]:
    opened = Runtime.open()
    yield opened
    gate.set()
    opened.close()


class CountingReads:
    """Counts the status reads of a store (the polling a wait must not do)."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = runtime.store.get_status

        def counted(dispatch_id: str) -> str:
            self.count += 1
            return original(dispatch_id)

        monkeypatch.setattr(runtime.store, "get_status", counted)


def _start(runtime: Runtime, gate: Gate) -> str:
    return runtime.start(runtime.prepare(flow, (str(gate.path),), {}))


def test_waiting_in_a_thread_blocks_on_the_event_without_reading_the_store(
    runtime: Runtime, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch_id = _start(runtime, gate)
    reads = CountingReads(runtime, monkeypatch)
    assert runtime.wait(dispatch_id, 0) is False  # still held
    done: list[bool] = []
    waiter = threading.Thread(target=lambda: done.append(runtime.wait(dispatch_id, 60)))
    waiter.start()
    gate.set()
    waiter.join(60)
    assert done == [True]
    assert reads.count == 0
    assert runtime.status(dispatch_id) == st.COMPLETED


def test_an_async_waiter_is_woken_by_the_dispatcher_without_polling(
    runtime: Runtime, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch_id = _start(runtime, gate)
    reads = CountingReads(runtime, monkeypatch)

    async def scenario() -> tuple[bool, bool]:
        early = await runtime.wait_async(dispatch_id, 0)
        waiting = asyncio.ensure_future(runtime.wait_async(dispatch_id, 60))
        await asyncio.sleep(0)  # the waiter registers its callback
        gate.set()
        return early, await waiting

    assert asyncio.run(scenario()) == (False, True)
    assert reads.count == 0
    assert runtime.status(dispatch_id) == st.COMPLETED


def test_a_dispatch_run_elsewhere_is_polled_until_finished(runtime: Runtime, gate: Gate) -> None:
    """A second runtime on the same store (as another process) waits by reading it."""
    dispatch_id = _start(runtime, gate)
    other = Runtime.open()
    try:
        assert other.dispatcher is not None and other.dispatcher.completion(dispatch_id) is None
        assert other.wait(dispatch_id, 0.01) is False
        assert asyncio.run(other.wait_async(dispatch_id, 0.01)) is False
        gate.set()
        assert other.wait(dispatch_id, 60) is True
        assert asyncio.run(other.wait_async(dispatch_id, 60)) is True
    finally:
        other.close()


def test_a_reading_runtime_refuses_to_run(runtime: Runtime, gate: Gate) -> None:
    reader = Runtime(runtime.store)
    prepared = reader.prepare(flow, (str(gate.path),), {})
    with pytest.raises(StoreError, match="only reads the store"):
        reader.start(prepared)
    assert runtime.store.list_dispatches() == []  # nothing written
    assert reader.start(prepared, disable_run=True) == prepared.record.dispatch_id
    assert reader.status(prepared.record.dispatch_id) == st.NEW_OBJECT


def test_completion_calls_back_once_when_set_and_at_once_if_already_set() -> None:
    done = Completion()
    calls: list[str] = []
    done.add_done_callback(lambda: calls.append("early"))
    forgotten = lambda: calls.append("forgotten")  # noqa: E731
    done.add_done_callback(forgotten)
    done.remove_done_callback(forgotten)
    done.remove_done_callback(forgotten)  # twice: nothing
    assert calls == []
    done.set()
    done.set()
    assert calls == ["early"]
    done.add_done_callback(lambda: calls.append("late"))
    assert calls == ["early", "late"]
    assert done.wait(0)


def test_a_waiter_whose_loop_closed_does_not_break_the_setter() -> None:
    """The dispatcher sets the event after the server's loop is gone: nothing raises."""
    done = Completion()
    loop = asyncio.new_event_loop()
    woken = loop.create_future()
    done.add_done_callback(lambda: loop.call_soon_threadsafe(woken.set_result, None))
    loop.close()
    with pytest.raises(RuntimeError):  # a raw callback would break the dispatcher...
        done.set()

    from valence.engine.runtime import _awaited

    again = Completion()

    async def give_up() -> bool:
        return await _awaited(again, 0)

    assert asyncio.run(give_up()) is False  # ...ours is removed when its waiter leaves
    again.set()
    assert again.is_set()
