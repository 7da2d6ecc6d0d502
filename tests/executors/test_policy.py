"""Retries and timeouts around executors that cannot stop a task themselves."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.executor_contract import add, flaky, make_spec, run_with, wait_for_file
from valence.executors.base import Executor, Outcome, TaskSpec
from valence.executors.local import InlineExecutor, ThreadExecutor
from valence.executors.policy import (
    Retrying,
    backoff,
    canceller,
    submit_with_policy,
    task_options,
)


def test_backoff_doubles_from_the_retry_delay() -> None:
    assert [backoff(0.5, k) for k in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(0, 3) == 0


def test_without_retries_or_emulated_timeout_the_executor_is_called_directly() -> None:
    executor = InlineExecutor()
    plain = submit_with_policy(executor, make_spec(executor, add, 1))
    assert not isinstance(plain, Retrying) and plain.result().ok
    assert canceller(executor, plain) is executor
    spec = make_spec(executor, add, 1, options={"retries": 1})
    retrying = submit_with_policy(executor, spec)
    assert isinstance(retrying, Retrying) and retrying.result().ok
    assert canceller(executor, retrying) is not executor


@pytest.mark.parametrize(
    ("options", "message"),
    [({"retries": -1}, "retries must be >= 0"), ({"timeout": 0}, "timeout must be a positive")],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    executor = InlineExecutor()
    with pytest.raises(ValueError, match=message):
        submit_with_policy(executor, make_spec(executor, add, 1, options=options))


def test_inline_task_longer_than_its_timeout_fails_when_it_returns(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    outcome = run_with(InlineExecutor(), _slower_than, 0.05, options={"timeout": 0.01})
    assert not outcome.ok
    assert outcome.error == (
        "TimeoutError: task '_slower_than' exceeded its timeout of 0.01 s and ran to its end "
        "(this executor cannot stop it)"
    )


def _slower_than(seconds: float) -> float:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return seconds


def test_retries_apply_to_timeouts_too(tmp_path: Path) -> None:
    executor = ThreadExecutor(workers=2)
    gate = tmp_path / "gate"
    try:
        options = {"timeout": 0.2, "retries": 1, "retry_delay": 0.01}
        outcome = run_with(executor, wait_for_file, str(gate), options=options)
        assert not outcome.ok and outcome.attempts == 2
        assert [e.split(":")[1].strip() for e in outcome.attempt_errors] == ["TimeoutError"] * 2
        assert "was abandoned" in (outcome.error or "")
    finally:
        gate.touch()
        executor.shutdown()


class _Manual(Executor):
    """Futures completed by the test, to drive the policy step by step."""

    name = "manual"

    def __init__(self) -> None:
        self.futures: list[Future[Outcome]] = []
        self.submitted = threading.Event()

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self.futures.append(future)
        self.submitted.set()
        return future


def test_cancel_during_the_backoff_stops_further_attempts(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    executor = _Manual()
    spec = make_spec(executor, flaky, str(tmp_path / "n"), 9, options={"retries": 5})
    spec.metadata["retry_delay"] = 3600  # the next attempt would wait an hour
    future = submit_with_policy(executor, spec)
    now = datetime.now(timezone.utc)
    executor.futures[0].set_result(Outcome(ok=False, start_time=now, end_time=now, error="E: x"))
    assert not future.done()
    assert canceller(executor, future).cancel(future) and future.cancelled()
    assert len(executor.futures) == 1


def test_cancel_reaches_the_running_attempt() -> None:
    executor = _Manual()
    future = submit_with_policy(executor, make_spec(executor, add, 1, options={"retries": 2}))
    assert future.cancel() and future.cancelled()
    assert executor.futures[0].cancelled()


def test_only_task_options_travel() -> None:
    options = task_options(
        {"executor": "dask", "retries": 0, "timeout": 5, "version": "2", "deps_bash": None}
    )
    assert options == {"timeout": 5}
