"""What every executor must do, as an importable test class.

Subclass :class:`ExecutorContract` in a test module and provide an ``executor``
fixture (shut it down in the fixture's teardown). Task functions live at module
level here so that out-of-process executors can run them.

Besides the seam itself, the contract runs deps and hooks, retries and
timeouts (through ``executors.policy``, as the engine does), worker death, and
whole dispatches (plus a redispatch with reuse) on the executor under test.
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
    executor: Executor,
    fn: Callable[..., Any],
    *args: Any,
    node_id: int = 0,
    options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> TaskSpec:
    """A TaskSpec as the engine builds it: the live function only for in-process executors.

    ``options`` are electron options (deps, hooks, retries, timeout).
    """
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
        metadata=dict(options or {}),
    )


def run_with(
    executor: Executor, fn: Callable[..., Any], *args: Any, options: dict[str, Any], **kwargs: Any
) -> Outcome:
    """Run through ``submit_with_policy`` (retries, timeouts), as the engine does."""
    from valence.executors.policy import submit_with_policy

    spec = make_spec(executor, fn, *args, options=options, **kwargs)
    return submit_with_policy(executor, spec).result(timeout=TIMEOUT)


def submit(
    executor: Executor, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> Future[Outcome]:
    return executor.submit(make_spec(executor, fn, *args, **kwargs))


def run(executor: Executor, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    return submit(executor, fn, *args, **kwargs).result(timeout=TIMEOUT)


# ---------------------------------------------------------------- task functions


def add(x: int, y: int = 0) -> int:
    return x + y


def print_then_wait(gate: str) -> str:
    """Print, wait until the file ``gate`` exists, print again."""
    import time
    from pathlib import Path

    print("hello")
    print("oops", file=sys.stderr)
    deadline = time.monotonic() + 60
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    print("bye")
    return "done"


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


def read_text(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def write_text(path: str, text: str) -> str:
    print(f"hook wrote {path}")
    with open(path, "w") as fh:
        fh.write(text)
    return text


def make_token(prefix: str) -> str:
    return prefix + "-token"


def use_token(x: int, token: str | None = None) -> str:
    return f"{x}:{token}"


def explode_hook() -> None:
    raise ValueError("hook exploded")


def flaky(counter: str, failures: int) -> int:
    """Fail the first ``failures`` calls (counted in a file: attempts may run anywhere)."""
    with open(counter, "a+") as fh:
        fh.write("x")
        fh.seek(0)
        calls = len(fh.read())
    print(f"call {calls}", file=sys.stderr)
    if calls <= failures:
        raise RuntimeError(f"flaky failure {calls}")
    return calls


def record_pid_and_wait(pid_file: str, gate: str) -> str:
    with open(pid_file, "w") as fh:
        fh.write(str(os.getpid()))
    return wait_for_file(gate)


def large_output(n: int) -> bytes:
    return b"v" * n


def die() -> None:
    os._exit(7)


def pid_is_gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ---------------------------------------------------------------- the contract


class ExecutorContract:
    """Behaviour shared by every executor; subclasses provide the ``executor`` fixture."""

    #: True for executors that finish the task inside ``submit`` (nothing to cancel).
    synchronous: bool = False
    #: More tasks than the executor under test runs at once (saturates it for cancel).
    saturating_tasks: int = 16
    #: True if a timeout stops the task (kills its process), not just abandons it.
    stops_tasks: bool = True
    #: True if a task may kill its process (os._exit) without taking the tests down.
    isolates_crashes: bool = True

    def test_start_and_output_reach_the_listener_while_the_task_runs(
        self, executor: Executor, tmp_path: Path
    ) -> None:
        import dataclasses

        assert executor.reports_start  # every built-in executor does
        events: list[tuple[str, Any]] = []
        lock = threading.Lock()

        def listen(kind: str, value: Any) -> None:
            with lock:
                events.append((kind, value))

        def seen(kind: str) -> str:
            with lock:
                return "".join(v for k, v in events if k == kind)

        gate = tmp_path / "gate"
        spec = dataclasses.replace(make_spec(executor, print_then_wait, str(gate)), listener=listen)
        if self.synchronous:  # it runs inside submit: only its start can be reported
            gate.touch()
            assert executor.submit(spec).result().ok and events[0][0] == "started"
            return
        future = executor.submit(spec)
        deadline = time.monotonic() + TIMEOUT
        while (seen("stdout") != "hello\n" or seen("stderr") != "oops\n") and not future.done():
            assert time.monotonic() < deadline, events
            time.sleep(0.02)
        assert not future.done()  # printed while it still runs
        assert events[0][0] == "started" and events[0][1].tzinfo is not None
        gate.touch()
        outcome = future.result(timeout=TIMEOUT)
        assert outcome.ok and outcome.stdout == "hello\nbye\n"
        assert outcome.start_time >= events[0][1] - timedelta(seconds=1)

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

    # ---- deps and hooks ---------------------------------------------------------------
    def test_deps_bash_runs_where_the_task_runs(self, executor: Executor, tmp_path: Path) -> None:
        from valence import DepsBash

        target = tmp_path / "bashed.txt"
        options = {"deps_bash": DepsBash([f"printf bashed > {target}"])}
        outcome = run_with(executor, read_text, str(target), options=options)
        assert outcome.ok, outcome.error
        assert _value(outcome) == "bashed"

    def test_failing_deps_bash_names_the_command_and_its_output(self, executor: Executor) -> None:
        from valence import DepsBash

        command = "echo first-line; echo broken-dep >&2; exit 3"
        outcome = run_with(executor, add, 1, options={"deps_bash": DepsBash(command)})
        assert not outcome.ok and outcome.error is not None
        assert outcome.error.startswith(f"DependencyError: deps_bash command `{command}` failed")
        assert "exit code 3" in outcome.error and "broken-dep" in outcome.error

    def test_call_before_injects_and_call_after_runs(
        self, executor: Executor, tmp_path: Path
    ) -> None:
        from valence import DepsCall

        after = tmp_path / "after.txt"
        options = {
            "call_before": [DepsCall(make_token, args=("abc",), retval_keyword="token")],
            "call_after": [DepsCall(write_text, args=(str(after), "done"))],
        }
        outcome = run_with(executor, use_token, 7, options=options)
        assert outcome.ok, outcome.error
        assert _value(outcome) == "7:abc-token"
        assert after.read_text() == "done"
        assert f"hook wrote {after}" in outcome.stdout  # hooks print into the task's output

    def test_failing_hook_fails_the_task_with_its_name(self, executor: Executor) -> None:
        from valence import DepsCall

        outcome = run_with(executor, add, 1, options={"call_before": [DepsCall(explode_hook)]})
        assert not outcome.ok
        assert outcome.error == (
            "DependencyError: call_before hook explode_hook() failed: ValueError: hook exploded"
        )
        assert outcome.traceback is not None and "hook exploded" in outcome.traceback

    # ---- retries and timeouts ------------------------------------------------------------
    def test_retries_record_every_attempt(self, executor: Executor, tmp_path: Path) -> None:
        counter = str(tmp_path / "calls")
        options = {"retries": 3, "retry_delay": 0.01}
        outcome = run_with(executor, flaky, counter, 2, options=options)
        assert outcome.ok, outcome.error
        assert _value(outcome) == 3 and outcome.attempts == 3
        assert outcome.attempt_errors == [
            "attempt 1 of 4: RuntimeError: flaky failure 1",
            "attempt 2 of 4: RuntimeError: flaky failure 2",
        ]
        assert "call 1\nvalence: attempt 1 of 4 failed: RuntimeError: flaky failure 1" in (
            outcome.stderr
        )
        assert outcome.stderr.endswith("call 3\n")

    def test_exhausted_retries_fail_with_every_error(
        self, executor: Executor, tmp_path: Path
    ) -> None:
        from valence.executors.policy import error_text

        options = {"retries": 1, "retry_delay": 0.01}
        outcome = run_with(executor, flaky, str(tmp_path / "calls"), 5, options=options)
        assert not outcome.ok and outcome.attempts == 2
        assert outcome.error == "RuntimeError: flaky failure 2"
        assert error_text(outcome).splitlines() == [
            "RuntimeError: flaky failure 2",
            "all 2 attempts failed:",
            "  attempt 1 of 2: RuntimeError: flaky failure 1",
            "  attempt 2 of 2: RuntimeError: flaky failure 2",
        ]

    def test_timeout_fails_the_task_and_names_the_limit(
        self, executor: Executor, tmp_path: Path
    ) -> None:
        if self.synchronous:
            return  # the policy's post-hoc check is tested with the inline executor
        pid_file, gate = tmp_path / "pid", tmp_path / "never"
        try:
            outcome = run_with(
                executor, record_pid_and_wait, str(pid_file), str(gate), options={"timeout": 1.0}
            )
            assert not outcome.ok and outcome.error is not None
            assert outcome.error.startswith("TimeoutError: task 'record_pid_and_wait' exceeded")
            assert "timeout of 1 s" in outcome.error
            if self.stops_tasks:
                assert pid_is_gone(int(pid_file.read_text()))
        finally:
            gate.touch()  # releases a task that could not be stopped (threads)
        assert run(executor, add, 1).ok  # and the executor goes on

    # ---- worker death --------------------------------------------------------------------
    def test_worker_death_fails_the_task_and_the_executor_recovers(
        self, executor: Executor
    ) -> None:
        if not self.isolates_crashes:
            return
        outcome = run(executor, die)
        assert not outcome.ok and outcome.error is not None
        assert outcome.error.startswith("WorkerDiedError: the worker process running task 'die'")
        assert run(executor, add, 2).ok

    # ---- whole dispatches --------------------------------------------------------------------
    def test_a_dispatch_runs_on_this_executor(self, executor: Executor) -> None:
        import valence as ct

        task = ct.electron(chatter, executor=executor)
        big = ct.electron(large_output, executor=executor)

        @ct.lattice
        def flow(tag):
            return task(tag, 2), big(100_000)

        result = ct.dispatch_sync(flow)("hello")
        assert result.status == "COMPLETED", result.error
        assert result.result == ("hello", b"v" * 100_000)
        node = result.get_node_result(0)
        assert node["executor"] == executor.name
        assert node["stdout"] == "hello\nhello\n" and node["attempts"] == 1

    def test_retries_are_visible_in_the_node_result(
        self, executor: Executor, tmp_path: Path
    ) -> None:
        import valence as ct

        task = ct.electron(flaky, executor=executor, retries=2, retry_delay=0.01)

        @ct.lattice
        def flow(counter):
            return task(counter, 1)

        result = ct.dispatch_sync(flow)(str(tmp_path / "calls"))
        assert result.status == "COMPLETED", result.error
        node = result.get_node_result(0)
        assert node["attempts"] == 2 and node["error"] is None
        assert "valence: attempt 1 of 3 failed: RuntimeError: flaky failure 1" in node["stderr"]

    def test_a_dispatch_survives_a_dying_task(self, executor: Executor) -> None:
        if not self.isolates_crashes:
            return
        import valence as ct

        ok = ct.electron(add, executor=executor)
        dying = ct.electron(die, executor=executor)

        @ct.lattice
        def flow():
            return ok(1, 1), dying(), ok(2, 2)

        result = ct.dispatch_sync(flow)()
        assert result.status == "FAILED"
        died = next(n for n in result.get_all_node_results() if n["node_name"] == "die")
        assert died["error"].startswith("WorkerDiedError")
        assert "WorkerDiedError" in result.error
        again = ct.dispatch_sync(ct.lattice(lambda: ok(3, 4)))()
        assert again.status == "COMPLETED" and again.result == 7

    def test_redispatch_with_reuse_after_this_executor(self, executor: Executor) -> None:
        import valence as ct

        first = ct.electron(add, executor=executor)
        second = ct.electron(chatter, executor=executor)

        @ct.lattice
        def flow(a, tag):
            return first(a, 1), second(tag, 1)

        parent = ct.dispatch_sync(flow)(1, "x")
        assert parent.status == "COMPLETED", parent.error
        new_id = ct.redispatch(parent.dispatch_id, reuse_previous_results=True)(1, "y")
        new = ct.get_result(new_id, wait=True, timeout=TIMEOUT)
        assert new.status == "COMPLETED", new.error
        assert new.result == (2, "y")
        reused = new.get_node_result(0)
        assert reused["reused_from"] == {"dispatch_id": parent.dispatch_id, "node_id": 0}
        assert reused["output"].get_deserialized() == 2
        rerun = next(n for n in new.get_all_node_results() if n["node_name"] == "chatter")
        assert rerun["reused_from"] is None and rerun["stdout"] == "y\n"


def _value(outcome: Outcome) -> Any:
    from valence import serialize

    return outcome.output if outcome.has_output else serialize.loads(outcome.output_bytes)
