"""The process pool's batches under attack: crashes, cancels, timeouts and huge
values inside a batch, rebalancing, and function bytes sent once per worker.

A batch is forced by keeping the pool's workers busy with a task that waits
for a gate file while more tasks queue; when the gate opens, a worker takes the
queued tasks in one message. A spy on ``ProcessPool._send`` records which
tasks travelled together, so each test also checks that it met a real batch.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.executor_contract import TIMEOUT, make_spec, pid_is_gone, wait_for_file
from valence import serialize
from valence.executors import pool as pool_module
from valence.executors.base import Outcome
from valence.executors.local import LocalExecutor
from valence.executors.pool import ProcessPool

# ---------------------------------------------------------------- task functions


def mark(directory: str, tag: str, value: Any = None) -> Any:
    """Leave ``<tag>.<pid>.<unique>`` in ``directory`` (one file per run); return ``value``."""
    Path(directory, f"{tag}.{os.getpid()}.{uuid.uuid4().hex}").touch()
    return value


def mark_then_wait(directory: str, tag: str, gate: str) -> str:
    mark(directory, tag)
    return wait_for_file(gate)


def mark_then_exit(directory: str, tag: str, code: int) -> None:
    mark(directory, tag)
    os._exit(code)


def measure(data: bytes) -> tuple[int, bytes]:
    return len(data), data[:10] * 500_000


def behave(kind: str, value: int) -> int:
    if kind == "raise":
        raise ValueError(f"bad {value}")
    if kind == "exit":
        os._exit(value)
    return value * 2


# ---------------------------------------------------------------- helpers


def runs(directory: Path, tag: str) -> list[int]:
    """The pids of the processes that ran task ``tag`` (one per run)."""
    return [int(Path(p).name.split(".")[1]) for p in glob.glob(str(directory / f"{tag}.*"))]


def wait_for_runs(directory: Path, tag: str, count: int = 1) -> list[int]:
    import time

    deadline = time.monotonic() + TIMEOUT
    while len(found := runs(directory, tag)) < count:
        assert time.monotonic() < deadline, f"task {tag} did not start"
        time.sleep(0.01)
    return found


def value(outcome: Outcome) -> Any:
    assert outcome.ok, outcome.error
    assert outcome.output_bytes is not None
    return serialize.loads(outcome.output_bytes)


Submit = Callable[..., Future[Outcome]]


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The task names of every message the pool sent, in order."""
    sent: list[list[str]] = []
    original = ProcessPool._send

    def spy(self: ProcessPool, worker: Any, jobs: list[Any]) -> bool:
        ok = original(self, worker, jobs)
        if ok:
            sent.append([job.name for job in jobs])
        return ok

    monkeypatch.setattr(ProcessPool, "_send", spy)
    return sent


def submitter(executor: LocalExecutor) -> Submit:
    def submit(name: str, fn: Callable[..., Any], *args: Any, **options: Any) -> Future[Outcome]:
        spec = make_spec(executor, fn, *args, options=options)
        return executor.submit(dataclasses.replace(spec, name=name))

    return submit


@pytest.fixture
def one_worker() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(workers=1)
    yield executor
    executor.shutdown()


def busy(submit: Submit, tmp_path: Path, gate: Path, tag: str = "blocker") -> Future[Outcome]:
    """A task that keeps a worker busy until ``gate`` exists (started when this returns)."""
    future = submit(tag, mark_then_wait, str(tmp_path), tag, str(gate))
    wait_for_runs(tmp_path, tag)
    return future


def together(batches: list[list[str]], *names: str) -> bool:
    return any(set(names) <= set(batch) for batch in batches)


# ---------------------------------------------------------------- tests


def test_a_crash_in_the_middle_of_a_batch_fails_only_the_crashed_task(
    one_worker: LocalExecutor, tmp_path: Path, batches: list[list[str]]
) -> None:
    submit, gate = submitter(one_worker), tmp_path / "gate"
    blocker = busy(submit, tmp_path, gate)
    before = {f"a{i}": submit(f"a{i}", mark, str(tmp_path), f"a{i}", i) for i in range(5)}
    crash = submit("crash", mark_then_exit, str(tmp_path), "crash", 9)
    after = {f"b{i}": submit(f"b{i}", mark, str(tmp_path), f"b{i}", i) for i in range(5)}
    gate.touch()

    outcome = crash.result(timeout=TIMEOUT)
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.startswith("WorkerDiedError: the worker process running task 'crash'")
    assert "exit code 9" in outcome.error
    for futures in (before, after):
        for name, future in futures.items():
            assert value(future.result(timeout=TIMEOUT)) == int(name[1:])
    assert value(blocker.result(timeout=TIMEOUT)) == str(gate)
    assert together(batches, "a0", "a4", "crash", "b0", "b4")  # one message
    (crashed_pid,) = runs(tmp_path, "crash")  # blamed: never run again
    for i in range(5):  # the rest of its batch ran on the new worker
        assert crashed_pid not in runs(tmp_path, f"b{i}")


def test_cancel_inside_a_batch_skips_the_unstarted_tasks(
    one_worker: LocalExecutor, tmp_path: Path, batches: list[list[str]]
) -> None:
    submit, gate, gate2 = submitter(one_worker), tmp_path / "gate", tmp_path / "gate2"
    blocker = busy(submit, tmp_path, gate)
    head = submit("head", mark_then_wait, str(tmp_path), "head", str(gate2))
    rest = [submit(f"a{i}", mark, str(tmp_path), f"a{i}", i) for i in range(6)]
    gate.touch()
    (pid,) = wait_for_runs(tmp_path, "head")  # the batch [head, a0..a5] was sent
    assert together(batches, "head", "a0", "a5")

    assert one_worker.cancel_pending(rest[2]) and rest[2].cancelled()  # sent, not started
    assert not one_worker.cancel_pending(head)  # running: it finishes and is kept
    assert one_worker.cancel(rest[4]) and rest[4].cancelled()  # no worker killed for it
    gate2.touch()
    assert value(head.result(timeout=TIMEOUT)) == str(gate2)
    for i in (0, 1, 3, 5):  # the rest of the batch, on the same worker
        assert value(rest[i].result(timeout=TIMEOUT)) == i
        assert runs(tmp_path, f"a{i}") == [pid]
    assert runs(tmp_path, "a2") == [] and runs(tmp_path, "a4") == []  # never ran
    assert value(blocker.result(timeout=TIMEOUT)) == str(gate)


def test_killing_a_running_task_of_a_batch_requeues_the_rest(
    one_worker: LocalExecutor, tmp_path: Path, batches: list[list[str]]
) -> None:
    submit, gate, never = submitter(one_worker), tmp_path / "gate", tmp_path / "never"
    blocker = busy(submit, tmp_path, gate)
    head = submit("head", mark_then_wait, str(tmp_path), "head", str(never))
    rest = [submit(f"a{i}", mark, str(tmp_path), f"a{i}", i) for i in range(4)]
    gate.touch()
    (pid,) = wait_for_runs(tmp_path, "head")
    assert together(batches, "head", "a0", "a3")
    assert one_worker.cancel(rest[1]) and rest[1].cancelled()
    assert one_worker.cancel(head) and head.cancelled()  # running: its worker is killed
    for i in (0, 2, 3):  # taken back from the dead worker, run on a new one
        assert value(rest[i].result(timeout=TIMEOUT)) == i
        assert pid not in runs(tmp_path, f"a{i}")
    assert pid_is_gone(pid)
    assert runs(tmp_path, "a1") == []
    assert value(blocker.result(timeout=TIMEOUT)) == str(gate)


def test_a_huge_argument_and_output_inside_a_batch(
    one_worker: LocalExecutor, tmp_path: Path, batches: list[list[str]]
) -> None:
    submit, gate = submitter(one_worker), tmp_path / "gate"
    blocker = busy(submit, tmp_path, gate)
    small = [submit(f"s{i}", mark, str(tmp_path), f"s{i}", i) for i in range(3)]
    huge = submit("huge", measure, b"0123456789" * 3_000_000)  # 30 MB in, 5 MB out
    more = [submit(f"t{i}", mark, str(tmp_path), f"t{i}", i) for i in range(3)]
    gate.touch()
    size, data = value(huge.result(timeout=TIMEOUT))
    assert size == 30_000_000 and data == b"0123456789" * 500_000
    assert [value(f.result(timeout=TIMEOUT)) for f in small + more] == [0, 1, 2, 0, 1, 2]
    assert together(batches, "s0", "huge", "t2")
    assert blocker.result(timeout=TIMEOUT).ok


def test_a_timeout_inside_a_queue_stops_only_its_task(
    one_worker: LocalExecutor, tmp_path: Path, batches: list[list[str]]
) -> None:
    submit, gate = submitter(one_worker), tmp_path / "gate"
    blocker = busy(submit, tmp_path, gate)
    first = [submit(f"a{i}", mark, str(tmp_path), f"a{i}", i) for i in range(3)]
    never = str(tmp_path / "never")
    slow = submit("slow", mark_then_wait, str(tmp_path), "slow", never, timeout=0.5)
    last = [submit(f"b{i}", mark, str(tmp_path), f"b{i}", i) for i in range(3)]
    gate.touch()
    outcome = slow.result(timeout=TIMEOUT)
    assert not outcome.ok and "timeout of 0.5 s" in (outcome.error or "")
    assert [value(f.result(timeout=TIMEOUT)) for f in first + last] == [0, 1, 2, 0, 1, 2]
    assert ["slow"] in batches  # a task with a timeout travels alone
    assert together(batches, "a0", "a2")
    assert blocker.result(timeout=TIMEOUT).ok


def test_an_idle_worker_takes_over_the_unstarted_tasks_of_a_busy_one(
    tmp_path: Path, batches: list[list[str]]
) -> None:
    executor = LocalExecutor(workers=2)
    submit, gate, gate2 = submitter(executor), tmp_path / "gate", tmp_path / "gate2"
    try:
        blockers = [busy(submit, tmp_path, gate, f"blocker{i}") for i in range(2)]
        head = submit("head", mark_then_wait, str(tmp_path), "head", str(gate2))
        rest = [submit(f"a{i}", mark, str(tmp_path), f"a{i}", i) for i in range(5)]
        gate.touch()
        # Whatever batch went with "head", its tasks finish while "head" still waits.
        assert [value(f.result(timeout=TIMEOUT)) for f in rest] == list(range(5))
        assert not head.done()
        assert any("head" in batch and len(batch) > 1 for batch in batches)
        gate2.touch()
        assert head.result(timeout=TIMEOUT).ok
        assert all(b.result(timeout=TIMEOUT).ok for b in blockers)
    finally:
        gate.touch()
        gate2.touch()
        executor.shutdown()


def _adder(k: int) -> Callable[[int], int]:
    def add_k(x: int) -> int:
        return x + k

    return add_k


def test_function_bytes_go_to_a_worker_once_and_forgotten_ones_again(
    one_worker: LocalExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multiprocessing.connection import Connection

    sent_functions: list[list[str]] = []
    original = Connection.send_bytes

    def spy(self: Connection, data: Any, *args: Any) -> None:
        message = pickle.loads(bytes(data))
        if isinstance(message, tuple) and len(message) == 3:
            sent_functions.append(sorted(message[1]))
        original(self, data, *args)

    monkeypatch.setattr(Connection, "send_bytes", spy)
    monkeypatch.setattr(pool_module, "KNOWN_FUNCTIONS", 2)
    submit = submitter(one_worker)
    adders = [_adder(k) for k in range(4)]
    digests = [serialize.digest(serialize.dumps(fn)) for fn in adders]
    assert len(set(digests)) == 4
    for _ in range(3):
        assert value(submit("a", adders[0], 1).result(timeout=TIMEOUT)) == 1
    assert sent_functions.count([digests[0]]) == 1 and sent_functions.count([]) == 2
    for round_ in range(3):  # four functions through a worker that keeps two
        futures = [submit(f"f{k}", fn, round_) for k, fn in enumerate(adders)]
        assert [value(f.result(timeout=TIMEOUT)) for f in futures] == [round_ + k for k in range(4)]


@pytest.fixture(scope="module")
def two_workers() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(workers=2)
    yield executor
    executor.shutdown()


tasks = st.lists(
    st.one_of(
        st.tuples(st.just("ok"), st.integers(0, 1000)),
        st.tuples(st.just("raise"), st.integers(0, 1000)),
        st.tuples(st.just("exit"), st.integers(3, 60)),
    ),
    min_size=1,
    max_size=24,
).filter(lambda ops: sum(kind == "exit" for kind, _ in ops) <= 2)


@pytest.mark.slow
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=tasks)
def test_every_task_of_a_mixed_stream_gets_its_own_outcome(
    two_workers: LocalExecutor, ops: list[tuple[str, int]]
) -> None:
    submit = submitter(two_workers)
    futures = [submit(f"t{i}", behave, kind, arg) for i, (kind, arg) in enumerate(ops)]
    for i, ((kind, arg), future) in enumerate(zip(ops, futures, strict=True)):
        outcome = future.result(timeout=TIMEOUT)
        if kind == "ok":
            assert value(outcome) == arg * 2
        elif kind == "raise":
            assert not outcome.ok and outcome.error == f"ValueError: bad {arg}"
        else:
            assert not outcome.ok and outcome.error is not None
            assert outcome.error.startswith(
                f"WorkerDiedError: the worker process running task 't{i}'"
            )
            assert f"exit code {arg}" in outcome.error
