"""run_task on its own: capture, context, failures, function cache."""

from __future__ import annotations

import sys
import threading

import pytest

from tests.executor_contract import add, chatter, make_spec
from valence.executors import worker
from valence.executors.base import TaskSpec
from valence.executors.local import InlineExecutor, ThreadExecutor
from valence.executors.worker import get_context, run_task

INLINE = InlineExecutor()


def spec_for(fn, *args, **kwargs) -> TaskSpec:
    return make_spec(INLINE, fn, *args, **kwargs)


def interrupt() -> None:
    raise KeyboardInterrupt


def test_keyboard_interrupt_is_a_failure() -> None:
    outcome = run_task(spec_for(interrupt))
    assert not outcome.ok and outcome.error == "KeyboardInterrupt"


def test_traceback_starts_at_the_task() -> None:
    def inner() -> None:
        raise RuntimeError("deep")

    outcome = run_task(spec_for(inner))
    assert outcome.traceback is not None
    assert "run_task" not in outcome.traceback
    assert outcome.traceback.rstrip().endswith("RuntimeError: deep")


def test_without_serialization_only_the_live_value() -> None:
    outcome = run_task(spec_for(add, 1, y=2), serialize_output=False)
    assert outcome.ok and outcome.has_output and outcome.output == 3
    assert outcome.output_bytes is None and outcome.output_digest is None


def test_context_outside_a_task_is_empty() -> None:
    context = get_context()
    assert (context.dispatch_id, context.node_id, context.task_id) == (None, None, None)


def test_function_bytes_are_loaded_once_per_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    from valence import serialize

    spec = spec_for(add, 1)
    spec.fn, spec.fn_digest = None, "digest-for-cache-test"
    calls = []
    real_loads = serialize.loads
    monkeypatch.setattr(serialize, "loads", lambda data: calls.append(1) or real_loads(data))
    monkeypatch.setattr(worker, "_functions", {})
    assert run_task(spec).output == 1
    assert run_task(spec).output == 1
    assert len(calls) == 1


def test_a_task_without_function_or_bytes_fails_clearly() -> None:
    spec = TaskSpec("d", 0, "nothing", None, None, "")
    outcome = run_task(spec)
    assert not outcome.ok and "'nothing'" in (outcome.error or "")


def test_prints_outside_tasks_reach_the_real_stream(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_task(spec_for(chatter, "inside", 2))
    print("outside")
    print("outside-err", file=sys.stderr)
    captured = capsys.readouterr()
    assert captured.out == "outside\n" and captured.err == "outside-err\n"
    assert outcome.stdout == "inside\ninside\n"


def nested() -> str:
    print("outer before")
    inner = INLINE.submit(spec_for(chatter, "inner", 1)).result()
    print("outer after")
    return inner.stdout


def test_nested_tasks_capture_separately() -> None:
    outcome = run_task(spec_for(nested))
    assert outcome.ok
    assert outcome.output == "inner\n"
    assert outcome.stdout == "outer before\nouter after\n"


def test_threads_started_by_a_task_print_to_the_real_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def spawner() -> None:
        thread = threading.Thread(target=print, args=("from a helper thread",))
        thread.start()
        thread.join()
        print("from the task")

    outcome = run_task(spec_for(spawner))
    assert outcome.stdout == "from the task\n"
    assert capsys.readouterr().out == "from a helper thread\n"


def test_concurrent_tasks_on_threads_keep_their_context() -> None:
    from tests.executor_contract import report_context

    executor = ThreadExecutor(workers=8)
    try:
        futures = [
            executor.submit(make_spec(executor, report_context, node_id=i)) for i in range(40)
        ]
        assert [f.result(timeout=30).output[1] for f in futures] == list(range(40))
    finally:
        executor.shutdown()
