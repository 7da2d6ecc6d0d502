"""The built-in executors against the contract, plus process-pool specifics."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.executor_contract import (
    ExecutorContract,
    add,
    die,
    make_spec,
    pid_is_gone,
    record_pid_and_wait,
    run,
    run_with,
    submit,
    wait_for_file,
)
from valence.executors.base import Executor
from valence.executors.local import InlineExecutor, LocalExecutor, ThreadExecutor


class TestInlineExecutor(ExecutorContract):
    synchronous = True
    stops_tasks = False
    isolates_crashes = False

    @pytest.fixture
    def executor(self) -> Iterator[Executor]:
        executor = InlineExecutor()
        yield executor
        executor.shutdown()

    def test_submit_returns_a_completed_future(self, executor: Executor) -> None:
        future = executor.submit(make_spec(executor, add, 1))
        assert future.done() and future.result().output == 1


class TestThreadExecutor(ExecutorContract):
    stops_tasks = False
    isolates_crashes = False

    @pytest.fixture
    def executor(self) -> Iterator[Executor]:
        executor = ThreadExecutor(workers=4)
        yield executor
        executor.shutdown()

    def test_runs_from_bytes_when_no_live_function(self, executor: Executor) -> None:
        spec = make_spec(executor, add, 5)
        spec.fn = None
        outcome = executor.submit(spec).result(timeout=30)
        assert outcome.ok and outcome.output == 5


class TestLocalExecutor(ExecutorContract):
    @pytest.fixture
    def executor(self) -> Iterator[Executor]:
        executor = LocalExecutor(workers=2)
        yield executor
        executor.shutdown()

    def test_function_from_an_uninstalled_module_runs_by_value(
        self, executor: Executor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        module = tmp_path / "valence_scratch_userlib.py"
        module.write_text("SCALE = 3\n\ndef scaled(x):\n    return SCALE * x\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        from valence_scratch_userlib import scaled  # type: ignore[import-not-found]

        spec = make_spec(executor, scaled, 14)
        # The worker must not find the module by name: it gets the code by value.
        module.unlink()
        monkeypatch.delitem(sys.modules, "valence_scratch_userlib")
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
        outcome = executor.submit(spec).result(timeout=30)
        assert outcome.ok, outcome.traceback
        from valence import serialize

        assert serialize.loads(outcome.output_bytes) == 42

    def test_live_function_without_bytes_is_serialized_by_the_executor(
        self, executor: Executor
    ) -> None:
        spec = make_spec(executor, add, 2, y=3)
        spec.fn, spec.fn_bytes, spec.fn_digest = add, None, ""
        outcome = executor.submit(spec).result(timeout=30)
        assert outcome.ok, outcome.error

    def test_unpicklable_argument_fails_at_submit_with_the_task_name(
        self, executor: Executor
    ) -> None:
        outcome = run(executor, add, (i for i in range(2)))
        assert not outcome.ok
        assert outcome.error is not None and "'add'" in outcome.error

    def test_worker_exit_fails_the_task_and_the_pool_recovers(self, executor: Executor) -> None:
        outcome = run(executor, os._exit, 1)
        assert not outcome.ok
        assert outcome.error is not None
        assert outcome.error.startswith("WorkerDiedError: the worker process running task '_exit'")
        assert "exit code 1" in outcome.error
        assert run(executor, add, 1).ok

    def test_worker_killed_by_a_signal_is_named(self, executor: Executor) -> None:
        outcome = run(executor, _kill_self)
        assert not outcome.ok and outcome.error is not None
        assert "killed by signal SIGKILL" in outcome.error
        assert run(executor, add, 2).ok

    def test_unguarded_main_script_is_not_rerun_in_workers(self, tmp_path: Path) -> None:
        script = tmp_path / "unguarded.py"
        script.write_text(
            textwrap.dedent(
                """
                import sys
                from valence import serialize
                from valence.executors.base import TaskSpec
                from valence.executors.local import LocalExecutor

                print("main ran", file=sys.stderr)

                def double(x):
                    return 2 * x

                data = serialize.dumps(double)
                spec = TaskSpec("d", 0, "double", None, data, serialize.digest(data), (21,))
                executor = LocalExecutor(workers=1)
                outcome = executor.submit(spec).result(timeout=30)
                executor.shutdown()
                print(serialize.loads(outcome.output_bytes))
                """
            )
        )
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "42"
        assert done.stderr.count("main ran") == 1


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize(
    ("executor", "text"),
    [
        (InlineExecutor(), "InlineExecutor()"),
        (ThreadExecutor(workers=4), "ThreadExecutor(workers=4)"),
        (LocalExecutor(), "LocalExecutor(workers=None)"),
    ],
)
def test_executors_pickle_compare_and_print_by_configuration(executor: Executor, text: str) -> None:
    try:
        run(executor, add, 1)  # a started pool must not get in the way of pickling
        copy = pickle.loads(pickle.dumps(executor))
        assert copy == executor and hash(copy) == hash(executor)
        assert repr(copy) == repr(executor) == text
        assert run(copy, add, 2).ok
        copy.shutdown()
    finally:
        executor.shutdown()


def test_different_configurations_differ() -> None:
    assert ThreadExecutor(workers=4) != ThreadExecutor(workers=2)
    assert ThreadExecutor(workers=4) != LocalExecutor(workers=4)
    with pytest.raises(ValueError, match="positive"):
        ThreadExecutor(workers=0)


def test_executor_is_usable_after_shutdown() -> None:
    executor = ThreadExecutor(workers=1)
    assert run(executor, add, 1).ok
    executor.shutdown()
    assert run(executor, add, 1).ok
    executor.shutdown()


def test_a_dying_worker_fails_only_its_own_task(tmp_path: Path) -> None:
    executor = LocalExecutor(workers=2)
    gate = tmp_path / "gate"
    try:
        innocent = submit(executor, wait_for_file, str(gate))
        outcome = run(executor, die)
        assert not outcome.ok and outcome.error is not None
        assert "exit code 7" in outcome.error
        gate.touch()
        assert innocent.result(timeout=30).ok
    finally:
        gate.touch()
        executor.shutdown()


def test_cancelling_a_running_task_kills_its_worker(tmp_path: Path) -> None:
    executor = LocalExecutor(workers=1)
    pid_file, gate = tmp_path / "pid", tmp_path / "never"
    try:
        future = submit(executor, record_pid_and_wait, str(pid_file), str(gate))
        wait_for_file(str(pid_file))  # the task is running
        while not pid_file.read_text():  # and has written its pid
            pass
        pid = int(pid_file.read_text())
        assert executor.cancel(future) and future.cancelled()
        deadline = time.monotonic() + 30
        while not pid_is_gone(pid):
            assert time.monotonic() < deadline, "the cancelled task's worker is still alive"
            time.sleep(0.01)
        assert run(executor, add, 5).ok  # a fresh worker takes over
    finally:
        gate.touch()
        executor.shutdown()


def test_a_timeout_leaves_other_tasks_running(tmp_path: Path) -> None:
    executor = LocalExecutor(workers=2)
    gate = tmp_path / "gate"
    try:
        other = submit(executor, wait_for_file, str(gate))
        timed = run_with(executor, wait_for_file, str(tmp_path / "never"), options={"timeout": 0.3})
        assert not timed.ok and "timeout of 0.3 s" in (timed.error or "")
        gate.touch()
        assert other.result(timeout=30).ok
    finally:
        gate.touch()
        executor.shutdown()


def _segfault() -> None:
    import ctypes

    ctypes.string_at(0)  # reads address 0: SIGSEGV


def test_a_segfault_is_a_worker_death_named_by_its_signal() -> None:
    executor = LocalExecutor(workers=1)
    try:
        outcome = run(executor, _segfault)
        assert not outcome.ok and outcome.error is not None
        assert outcome.error.startswith("WorkerDiedError: the worker process running task")
        assert "killed by signal SIGSEGV" in outcome.error
        assert run(executor, add, 1).ok
    finally:
        executor.shutdown()
