"""What every executor must do, as an importable test class.

Subclass :class:`ExecutorContract` in a test module and provide an ``executor``
fixture (shut it down in the fixture's teardown). Task functions live at module
level here so that out-of-process executors can run them.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from valence.executors.base import Executor, Outcome, TaskSpec

TIMEOUT = 30


def make_spec(
    executor: Executor, fn: Callable[..., Any], *args: Any, node_id: int = 0, **kwargs: Any
) -> TaskSpec:
    """A TaskSpec as the engine builds it: the live function only for in-process executors."""
    from valence import serialize

    fn_bytes = serialize.dumps(fn)
    return TaskSpec(
        dispatch_id="dispatch-contract",
        node_id=node_id,
        name=fn.__name__,
        fn=fn if executor.in_process else None,
        fn_bytes=fn_bytes,
        fn_digest=serialize.digest(fn_bytes),
        args=args,
        kwargs=kwargs,
    )


def submit(
    executor: Executor, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> Future[Outcome]:
    return executor.submit(make_spec(executor, fn, *args, **kwargs))


def run(executor: Executor, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    return submit(executor, fn, *args, **kwargs).result(timeout=TIMEOUT)


# ---------------------------------------------------------------- task functions


def add(x: int, y: int = 0) -> int:
    return x + y


def explode_in_task() -> None:
    raise ValueError("boom from the task")


def leave_with_system_exit() -> None:
    sys.exit(3)


def chatter(tag: str, lines: int) -> str:
    for _ in range(lines):
        print(tag)
        print(f"err-{tag}", file=sys.stderr)
        time.sleep(0.0005)
    return tag


def report_context() -> tuple[Any, ...]:
    from valence.executors.worker import get_context

    context = get_context()
    return context.dispatch_id, context.node_id, context.task_id


def return_generator() -> Any:
    return (i for i in range(3))


def wait_for_file(path: str) -> str:
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.005)
    return path


# ---------------------------------------------------------------- the contract


class ExecutorContract:
    """Behaviour shared by every executor; subclasses provide the ``executor`` fixture."""

    #: True for executors that finish the task inside ``submit`` (nothing to cancel).
    synchronous: bool = False
    #: More tasks than the executor under test runs at once (saturates it for cancel).
    saturating_tasks: int = 16

    def test_output_value_bytes_and_digest(self, executor: Executor) -> None:
        from valence import serialize

        outcome = run(executor, add, 2, y=40)
        assert outcome.ok, outcome.error
        assert outcome.output_bytes is not None
        assert serialize.loads(outcome.output_bytes) == 42
        assert outcome.output_digest == hashlib.sha256(outcome.output_bytes).hexdigest()
        assert outcome.has_output is executor.in_process
        assert outcome.output == (42 if executor.in_process else None)
        assert outcome.error is None and outcome.traceback is None

    def test_exception_becomes_failed_outcome(self, executor: Executor) -> None:
        outcome = run(executor, explode_in_task)
        assert not outcome.ok
        assert outcome.error == "ValueError: boom from the task"
        assert outcome.traceback is not None
        assert "explode_in_task" in outcome.traceback
        assert "boom from the task" in outcome.traceback
        assert outcome.output_bytes is None

    def test_system_exit_fails_the_task_not_the_worker(self, executor: Executor) -> None:
        outcome = run(executor, leave_with_system_exit)
        assert not outcome.ok
        assert outcome.error == "SystemExit: 3"
        assert run(executor, add, 1).ok

    def test_output_captured_per_task_under_concurrency(self, executor: Executor) -> None:
        tags = [f"task{i:02d}" for i in range(20)]
        futures = [submit(executor, chatter, tag, 30) for tag in tags]
        for tag, future in zip(tags, futures, strict=True):
            outcome = future.result(timeout=TIMEOUT)
            assert outcome.ok, outcome.error
            assert outcome.stdout == f"{tag}\n" * 30
            assert outcome.stderr == f"err-{tag}\n" * 30

    def test_times_are_ordered_and_aware(self, executor: Executor) -> None:
        before = datetime.now(timezone.utc)
        outcome = run(executor, add, 1)
        after = datetime.now(timezone.utc)
        assert outcome.start_time.utcoffset() == timedelta(0)
        assert outcome.end_time.utcoffset() == timedelta(0)
        assert before <= outcome.start_time <= outcome.end_time <= after

    def test_context_inside_the_task(self, executor: Executor) -> None:
        spec = make_spec(executor, report_context, node_id=7)
        outcome = executor.submit(spec).result(timeout=TIMEOUT)
        assert outcome.ok, outcome.error
        from valence import serialize

        assert serialize.loads(outcome.output_bytes) == ("dispatch-contract", 7, 7)

    def test_unpicklable_output_is_a_clear_failure(self, executor: Executor) -> None:
        outcome = run(executor, return_generator)
        assert not outcome.ok
        assert outcome.error is not None
        assert "return_generator" in outcome.error
        assert "generator" in outcome.error.replace("return_generator", "")
        assert outcome.output_bytes is None and not outcome.has_output

    def test_cancel_a_queued_task(self, executor: Executor, tmp_path: Path) -> None:
        if self.synchronous:
            future = submit(executor, add, 1)
            assert future.done() and not executor.cancel(future)
            return
        gate = tmp_path / "gate"
        blockers = [
            submit(executor, wait_for_file, str(gate)) for _ in range(self.saturating_tasks)
        ]
        queued = submit(executor, add, 1)
        try:
            assert executor.cancel(queued)
            assert queued.cancelled()
        finally:
            gate.touch()
            done, _ = wait(blockers, timeout=TIMEOUT)
        assert len(done) == len(blockers)
        assert all(f.result().ok for f in blockers)

    def test_submit_is_thread_safe(self, executor: Executor) -> None:
        results: list[Outcome] = []

        def client(i: int) -> None:
            results.append(run(executor, add, i, y=1))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        assert len(results) == 8 and all(o.ok for o in results)
