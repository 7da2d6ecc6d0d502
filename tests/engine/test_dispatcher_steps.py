"""The dispatcher driven round by round: ``step()``, no loop thread, a fake clock.

Executors are the inline one (tasks run inside ``submit``) or a manual one whose
futures the test resolves, so every round's events are known and no test sleeps.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime, timedelta, timezone

import pytest

from tests import workflows as wf
from valence import serialize
from valence.engine.dispatcher import Dispatcher
from valence.engine.prepare import prepare_dispatch
from valence.executors.base import Executor, Outcome, TaskSpec
from valence.executors.local import InlineExecutor
from valence.executors.worker import run_task
from valence.store import Store


class FakeClock:
    """What the dispatcher stamps; moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class ManualExecutor(Executor):
    """Tasks wait until the test resolves them; ``cancel`` cannot stop a running one."""

    name = "manual"
    in_process = True

    def __init__(self) -> None:
        self.pending: dict[int, tuple[TaskSpec, Future[Outcome]]] = {}

    def submit(self, task: TaskSpec) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self.pending[task.node_id] = (task, future)
        return future

    def cancel(self, future: Future[Outcome]) -> bool:
        return False  # already running: it finishes, and the dispatcher drops its outcome

    def finish(self, node_id: int) -> None:
        spec, future = self.pending.pop(node_id)
        future.set_result(run_task(spec))

    def crash(self, node_id: int, exc: BaseException) -> None:
        self.pending.pop(node_id)[1].set_exception(exc)


@pytest.fixture
def store(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'steps.db'}", tmp_path / "blobs") as opened:
        yield opened


@pytest.fixture
def clock():
    return FakeClock()


def dispatcher_for(store: Store, clock: FakeClock, executor: Executor) -> Dispatcher:
    return Dispatcher(store, executors=lambda *_, **__: executor, clock=clock, thread=False)


def submit(dispatcher: Dispatcher, lattice, *args) -> str:
    prepared = prepare_dispatch(lattice, args, {})
    dispatcher.submit(prepared)
    return prepared.record.dispatch_id


def run_out(dispatcher: Dispatcher) -> list[int]:
    """Step until no event is left; the number of events each round saw."""
    rounds = []
    while (seen := dispatcher.step()) and len(rounds) < 100:
        rounds.append(seen)
    return rounds


def statuses(store: Store, dispatch_id: str) -> list[str]:
    return [n.status for n in sorted(store.get_nodes(dispatch_id), key=lambda n: n.node_id)]


def result(store: Store, dispatch_id: str):
    return serialize.loads(store.get_blob(store.get_dispatch(dispatch_id).result_digest))


def test_a_diamond_runs_round_by_round_on_the_inline_executor(store, clock):
    dispatcher = dispatcher_for(store, clock, InlineExecutor())
    did = submit(dispatcher, wf.diamond, 2)
    assert set(statuses(store, did)) == {"NEW_OBJECT"}  # no loop thread took it
    assert dispatcher.active() == [did] and not dispatcher.wait(did, 0)

    first = clock.tick()
    assert dispatcher.step() == 1  # the start: parameters resolved, tasks 0 and 3 submitted
    # tasks 0 and 3 ran inside submit; their start and outcome wait in the queue
    assert statuses(store, did) == [
        "PENDING_BACKEND",
        "COMPLETED",
        "COMPLETED",
        "PENDING_BACKEND",
        "COMPLETED",
        "COMPLETED",
        "NEW_OBJECT",
    ]
    parameter = store.get_node(did, 1)
    assert parameter.start_time == parameter.end_time == first  # stamped by the fake clock

    assert dispatcher.step() == 4  # two "started", two outcomes: task 6 submitted
    assert statuses(store, did)[6] == "PENDING_BACKEND"
    last = clock.tick()
    assert dispatcher.step() == 2
    assert dispatcher.step() == 0
    record = store.get_dispatch(did)
    assert record.status == "COMPLETED" and record.end_time == last
    assert result(store, did) == 7
    assert set(statuses(store, did)) == {"COMPLETED"}
    assert dispatcher.wait(did, 0) and dispatcher.active() == []


def test_a_sublattice_runs_as_a_child_dispatch_step_by_step(store, clock):
    dispatcher = dispatcher_for(store, clock, InlineExecutor())
    did = submit(dispatcher, wf.with_sublattice, 1)
    assert run_out(dispatcher)
    assert store.get_dispatch(did).status == "COMPLETED"
    assert result(store, did) == 103
    (child,) = [c for c in store.children(did) if c.parent_dispatch_id == did]
    assert child.status == "COMPLETED" and child.end_time == clock.now
    assert dispatcher.active() == []


def test_an_executor_whose_future_raises_fails_the_dispatch_with_the_real_error(store, clock):
    executor = ManualExecutor()
    dispatcher = dispatcher_for(store, clock, executor)
    did = submit(dispatcher, wf.count_to, 2)
    dispatcher.step()
    executor.crash(0, RuntimeError("the executor lost its connection"))
    run_out(dispatcher)
    record = store.get_dispatch(did)
    assert record.status == "FAILED"
    assert "valence internal error: RuntimeError: the executor lost its connection" in record.error
    assert "Node -1" not in record.error
    assert "RUNNING" not in statuses(store, did)
    assert dispatcher.wait(did, 0)


def test_an_abort_during_running_tasks_fails_them_and_drops_their_late_outcomes(store, clock):
    executor = ManualExecutor()
    dispatcher = dispatcher_for(store, clock, executor)
    did = submit(dispatcher, wf.diamond, 2)
    dispatcher.step()
    assert sorted(executor.pending) == [0, 3]  # both tasks run
    executor.crash(0, RuntimeError("lost"))
    aborted = clock.tick()
    run_out(dispatcher)
    assert store.get_dispatch(did).status == "FAILED"
    node = store.get_node(did, 3)
    assert node.status == "FAILED" and node.end_time == aborted
    assert node.error == "valence internal error: RuntimeError: lost"
    assert statuses(store, did)[6] == "NEW_OBJECT"  # never started
    executor.finish(3)  # the late outcome of the task that could not be stopped
    assert run_out(dispatcher) == [1]
    assert store.get_node(did, 3).status == "FAILED"  # dropped, not completed after the fact
    assert store.get_dispatch(did).status == "FAILED"


def test_cancelling_a_dispatch_keeps_running_tasks_and_starts_nothing_more(store, clock):
    executor = ManualExecutor()
    dispatcher = dispatcher_for(store, clock, executor)
    did = submit(dispatcher, wf.diamond, 2)
    dispatcher.step()
    applied = dispatcher.cancel(did)
    assert not applied.is_set()
    dispatcher.step()
    assert applied.is_set()
    executor.finish(0)
    executor.finish(3)
    run_out(dispatcher)
    assert not executor.pending  # task 6 never started
    assert store.get_dispatch(did).status == "CANCELLED"
    assert statuses(store, did)[0] == statuses(store, did)[3] == "COMPLETED"  # results kept
    assert statuses(store, did)[6] == "CANCELLED"


def test_cancelling_one_running_task_drops_its_outcome(store, clock):
    executor = ManualExecutor()
    dispatcher = dispatcher_for(store, clock, executor)
    did = submit(dispatcher, wf.diamond, 2)
    dispatcher.step()
    dispatcher.cancel(did, [0])
    dispatcher.step()
    executor.finish(0)  # it finished anyway: what it returned is discarded
    executor.finish(3)
    run_out(dispatcher)
    assert statuses(store, did)[0] == "CANCELLED"
    assert statuses(store, did)[3] == "COMPLETED"
    assert store.get_dispatch(did).status == "CANCELLED"


def test_cancelling_ids_that_are_not_nodes_changes_nothing(store, clock):
    dispatcher = dispatcher_for(store, clock, InlineExecutor())
    did = submit(dispatcher, wf.diamond, 2)
    dispatcher.step()
    dispatcher.cancel(did, [-1, 7, 2**70])
    run_out(dispatcher)
    assert store.get_dispatch(did).status == "COMPLETED"
    assert result(store, did) == 7


def test_a_failing_task_fails_only_what_depends_on_it(store, clock):
    dispatcher = dispatcher_for(store, clock, InlineExecutor())
    did = submit(dispatcher, wf.failing, 1)
    run_out(dispatcher)
    record = store.get_dispatch(did)
    assert record.status == "FAILED"
    assert record.error.startswith("Node 0 (boom) failed:")
    by_name = {n.name: n.status for n in store.get_nodes(did) if n.kind == "electron"}
    assert by_name["boom"] == "FAILED"
    assert sorted(n.status for n in store.get_nodes(did) if n.name == "add") == [
        "COMPLETED",
        "NEW_OBJECT",
    ]
