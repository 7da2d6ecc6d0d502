"""DaskExecutor on a real LocalCluster (worker processes), shared by this module."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import valence as ct
from tests.executor_contract import (
    ExecutorContract,
    add,
    chatter,
    large_output,
    make_spec,
    run,
    submit,
)
from valence import serialize
from valence.blobfiles import digest_of, open_blob_files
from valence.executors import get_executor
from valence.executors.base import BlobTarget, Executor
from valence.executors.dask import EVENT_LIMIT, DaskExecutor, run_on_dask
from valence.executors.local import LocalExecutor, _pack
from valence.executors.outputs import blob_target, read_stored
from valence.store.blobs import INLINE_LIMIT, LocalBlobFiles

WORKERS = 2


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    executor = get_executor(DaskExecutor(workers=WORKERS))
    assert isinstance(executor, DaskExecutor)
    executor.client  # start the cluster once for the module
    yield executor
    executor.shutdown()


class TestDaskExecutor(ExecutorContract):
    saturating_tasks = 2 * WORKERS

    @pytest.fixture
    def executor(self, dask_executor: DaskExecutor) -> Executor:
        return dask_executor


def test_the_cluster_listens_on_loopback_only(dask_executor: DaskExecutor) -> None:
    import psutil

    assert dask_executor.client.scheduler.address.startswith("tcp://127.0.0.1:")
    me = psutil.Process()
    listening = [
        (process.pid, conn.laddr.ip)
        for process in [me, *me.children(recursive=True)]
        for conn in process.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    assert listening and {ip for _, ip in listening} == {"127.0.0.1"}, listening


def test_one_cluster_and_one_client_serve_every_task(dask_executor: DaskExecutor) -> None:
    client = dask_executor.client
    outcomes = [run(dask_executor, add, i) for i in range(5)]
    assert all(o.ok for o in outcomes)
    assert dask_executor.client is client
    assert get_executor("dask") is not dask_executor  # the name means the default config
    assert get_executor(DaskExecutor(workers=WORKERS)) is dask_executor
    client.wait_for_workers(WORKERS, timeout=30)  # a worker killed by a test is back
    assert len(client.scheduler_info()["workers"]) == WORKERS


def test_an_existing_cluster_is_used_by_address(dask_executor: DaskExecutor) -> None:
    address = dask_executor.client.scheduler.address
    other = DaskExecutor(scheduler_address=address)
    try:
        assert run(other, add, 40, y=2).ok
        assert other.client.scheduler.address == address
    finally:
        other.shutdown()
    assert run(dask_executor, add, 1).ok  # closing a client leaves the cluster running


def test_an_unreachable_scheduler_fails_the_task_clearly() -> None:
    import dask

    executor = DaskExecutor(scheduler_address="tcp://127.0.0.1:9")
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        outcome = run(executor, add, 1)
    assert not outcome.ok and outcome.error is not None
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in outcome.error
    assert "dask scheduler" in outcome.error


def test_a_large_output_is_written_by_the_worker(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    size = 4 * INLINE_LIMIT
    spec = make_spec(dask_executor, large_output, size)
    spec.blob_target = blob_target(tmp_path / "blobs")
    outcome = dask_executor.submit(spec).result(timeout=30)
    assert outcome.ok and outcome.output_stored and outcome.output_bytes is None
    assert outcome.output_digest is not None
    assert LocalBlobFiles(tmp_path / "blobs").exists(outcome.output_digest)
    data = read_stored(tmp_path / "blobs", outcome.output_digest)
    assert pickle.loads(data) == b"v" * size


def test_without_the_store_token_the_output_travels_back(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    blob_target(tmp_path / "blobs")  # a real store directory, but not the one named below
    spec = make_spec(dask_executor, large_output, 4 * INLINE_LIMIT)
    spec.blob_target = BlobTarget(str(tmp_path / "blobs"), "another-store")
    outcome = dask_executor.submit(spec).result(timeout=30)
    assert outcome.ok and not outcome.output_stored and outcome.output_bytes is not None
    assert not LocalBlobFiles(tmp_path / "blobs").exists(outcome.output_digest or "0" * 64)


def test_small_outputs_travel_back(dask_executor: DaskExecutor, tmp_path: Path) -> None:
    spec = make_spec(dask_executor, large_output, 10)
    spec.blob_target = blob_target(tmp_path / "blobs")
    outcome = dask_executor.submit(spec).result(timeout=30)
    assert outcome.ok and not outcome.output_stored and outcome.output_bytes is not None


def test_a_workflow_mixing_executors_per_electron(dask_executor: DaskExecutor) -> None:
    on_inline = ct.electron(add, executor="inline")
    on_thread = ct.electron(add, executor="thread")
    on_local = ct.electron(add, executor=LocalExecutor(workers=1))
    on_dask = ct.electron(add, executor=dask_executor)

    @ct.lattice
    def mixed(x):
        a = on_inline(x, 1)
        b = on_thread(a, 10)
        c = on_local(b, 100)
        return on_dask(c, 1000), on_dask(a, b)

    result = ct.dispatch_sync(mixed)(0)
    assert result.status == "COMPLETED", result.error
    assert result.result == (1111, 12)
    executors = {n["node_id"]: n["executor"] for n in result.get_all_node_results()}
    tasks = [n for n in result.get_all_node_results() if n["node_name"] == "add"]
    assert [executors[n["node_id"]] for n in tasks] == ["inline", "thread", "local", "dask", "dask"]


def test_configuration_prints_and_pickles_without_a_cluster() -> None:
    executor = DaskExecutor(scheduler_address="", workers=3)
    text = "DaskExecutor(scheduler_address=None, workers=3, threads_per_worker=1, dashboard=False)"
    assert repr(executor) == text
    copy = pickle.loads(pickle.dumps(executor))
    assert copy == executor and hash(copy) == hash(executor)
    assert executor._client is None and copy._client is None
    with pytest.raises(ValueError, match="threads_per_worker"):
        DaskExecutor(threads_per_worker=0)


def test_valence_does_not_import_distributed_until_dask_is_used() -> None:
    code = (
        "import sys, valence as ct\n"
        "ct.executor.DaskExecutor()\n"
        "print('distributed' in sys.modules, 'dask' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_a_task_with_a_timeout_reports_its_start(dask_executor: DaskExecutor) -> None:
    import dataclasses

    events: list[str] = []
    spec = make_spec(dask_executor, add, 1, options={"timeout": 60})
    spec = dataclasses.replace(spec, listener=lambda kind, value: events.append(kind))
    outcome = dask_executor.submit(spec).result(timeout=120)
    assert outcome.ok
    deadline = time.monotonic() + 30  # events travel through the scheduler, not the result
    while not events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events == ["started"]


# -- a blob store by URL, seen from the cluster's worker processes ---------------------


def test_a_worker_writes_a_large_output_to_a_blob_url(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    url = f"local://{tmp_path / 'remote'}"  # fsspec's local file system: the generic path
    spec = make_spec(dask_executor, large_output, 3 * INLINE_LIMIT)
    spec.blob_target = blob_target(url)
    outcome = dask_executor.submit(spec).result(timeout=30)
    assert outcome.ok and outcome.output_stored and outcome.output_bytes is None
    assert outcome.output_digest is not None
    assert pickle.loads(read_stored(url, outcome.output_digest)) == b"v" * (3 * INLINE_LIMIT)


def test_a_memory_url_is_not_shared_with_worker_processes(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    url = f"memory://valence-{tmp_path.name}"  # each process has its own memory file system
    spec = make_spec(dask_executor, large_output, 3 * INLINE_LIMIT)
    spec.blob_target = blob_target(url)
    outcome = dask_executor.submit(spec).result(timeout=30)
    assert outcome.ok and not outcome.output_stored and outcome.output_bytes is not None
    assert not open_blob_files(url).exists(outcome.output_digest or "0" * 64)


def test_a_dispatch_on_dask_keeps_large_outputs_at_the_blob_url(
    dask_executor: DaskExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"local://{tmp_path / 'remote'}"
    monkeypatch.setenv("VALENCE_BLOB_URL", url)
    files = open_blob_files(url)  # the very instance this process's store uses
    written: list[str] = []
    store = files._store
    monkeypatch.setattr(files, "_store", lambda d, data: written.append(d) or store(d, data))
    big = ct.electron(large_output, executor=dask_executor)

    @ct.lattice
    def flow(n):
        return big(n)

    result = ct.dispatch_sync(flow)(2 * INLINE_LIMIT)
    assert result.status == ct.status.COMPLETED and result.result == b"v" * (2 * INLINE_LIMIT)
    output = digest_of(serialize.dumps(b"v" * (2 * INLINE_LIMIT)))
    assert files.exists(output) and output not in written  # the worker wrote it, only it
    assert not list(LocalBlobFiles(Path(os.environ["VALENCE_HOME"]) / "blobs").iterate())


# -- how outcomes travel back, and functions of the same name --------------------------


def test_a_small_outcome_is_an_event_and_a_large_one_the_result(
    dask_executor: DaskExecutor,
) -> None:
    client = dask_executor.client
    topic = f"valence-test-{uuid.uuid4().hex}"
    small = _pack(make_spec(dask_executor, add, 1, y=2))
    large = _pack(make_spec(dask_executor, large_output, 2 * EVENT_LIMIT))
    routed = client.submit(run_on_dask, small, "add", None, [topic, "small", False], pure=False)
    assert routed.result(timeout=30) is None  # nothing to fetch from the worker
    kept = client.submit(run_on_dask, large, "large", None, [topic, "large", False], pure=False)
    outcome = kept.result(timeout=30)
    assert outcome.ok and pickle.loads(outcome.output_bytes) == b"v" * (2 * EVENT_LIMIT)
    events = [event for _, event in client.get_events(topic)]
    assert [tuple(event[:2]) for event in events] == [("small", "outcome")]  # no start: not live
    sent = pickle.loads(events[0][2])
    assert sent.ok and serialize.loads(sent.output_bytes) == 3


def test_a_large_outcome_comes_back_whole(dask_executor: DaskExecutor) -> None:
    outcome = run(dask_executor, large_output, 2 * EVENT_LIMIT)
    assert outcome.ok and pickle.loads(outcome.output_bytes) == b"v" * (2 * EVENT_LIMIT)
    printed = run(dask_executor, chatter, "x" * 1000, 40)  # 80 KB of output, no big value
    assert printed.ok and printed.stdout == ("x" * 1000 + "\n") * 40


def test_a_lost_outcome_event_fails_the_task_instead_of_hanging(
    dask_executor: DaskExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers = dask_executor.client._event_handlers
    topic = dask_executor._topic

    def drop_outcomes(event: tuple[float, list[Any]]) -> None:
        if event[1][1] != "outcome":
            dask_executor._on_event(event)

    monkeypatch.setitem(handlers, topic, drop_outcomes)
    outcome = run(dask_executor, add, 1)
    assert not outcome.ok and outcome.error == "ExecutorError: the outcome of task 'add' was lost"


def _same_name_source(value: int) -> Callable[[], int]:
    namespace: dict[str, Any] = {}
    exec(f"def answer():\n    return {value}\n", namespace)  # new code, same name, same module
    return namespace["answer"]


def test_functions_of_the_same_name_are_never_confused(dask_executor: DaskExecutor) -> None:
    def scaled(factor: int) -> Callable[[int], int]:
        def answer(x: int) -> int:
            return x * factor

        return answer

    functions = [scaled(2), scaled(3), _same_name_source(7), _same_name_source(8)]
    for _ in range(2):  # the second round runs functions the workers have loaded already
        futures = [
            submit(dask_executor, fn, 5) if i < 2 else submit(dask_executor, fn)
            for i, fn in enumerate(functions)
        ]
        outputs = [serialize.loads(f.result(timeout=30).output_bytes) for f in futures]
        assert outputs == [10, 15, 7, 8]


@pytest.mark.slow
def test_tasks_run_after_the_workers_restart(dask_executor: DaskExecutor) -> None:
    assert run(dask_executor, add, 1, y=1).ok  # workers hold this function now
    dask_executor.client.restart()  # new worker processes: nothing loaded, nothing cached
    outcomes = [submit(dask_executor, add, i, y=1) for i in range(4)]
    assert [serialize.loads(f.result(timeout=60).output_bytes) for f in outcomes] == [1, 2, 3, 4]


def test_done_tasks_release_their_dask_futures(dask_executor: DaskExecutor) -> None:
    futures = [submit(dask_executor, add, i) for i in range(20)]
    assert all(f.result(timeout=30).ok for f in futures)
    client = dask_executor.client
    deadline = time.monotonic() + 30  # released together, a moment after they are done
    while client.futures and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.futures  # nothing of ours stays on the cluster


def _mark_worker(path: str) -> int:
    from distributed import get_worker

    with open(path, "a") as fh:
        fh.write(get_worker().address + "\n")
    return 1


@pytest.mark.slow
def test_a_finished_task_is_not_run_again_when_its_worker_dies(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    assert run(dask_executor, _mark_worker, str(marks)).ok
    worker = marks.read_text().split()[0]
    client = dask_executor.client
    killer = client.submit(os._exit, 1, workers=[worker], pure=False)  # right after it ended
    with pytest.raises(Exception, match=r"KilledWorker|died"):
        killer.result(timeout=60)
    time.sleep(2)  # time for Dask to recompute a result it still held for us
    assert marks.read_text().split() == [worker]  # ran once: nothing kept it wanted
    assert run(dask_executor, add, 1).ok  # the nanny replaced the worker
