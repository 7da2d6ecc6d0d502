"""``DaskExecutor``: runs tasks on a Dask distributed cluster (``executor="dask"``).

With no ``scheduler_address`` the executor starts one ``LocalCluster`` (worker
processes; scheduler, workers and nannies on 127.0.0.1; no dashboard unless
``dashboard=True``, and then on 127.0.0.1 too) on first use and reuses it; with
an address it connects to that cluster (``dask scheduler`` / ``dask worker``).
Either way one ``Client`` serves every task. ``distributed`` is imported only
here, when the executor is first used.

A task travels as bytes (``local._pack``) to :func:`run_on_dask` on a worker,
which runs it like every executor (``worker.run_serialized``: deps, hooks,
output capture). Tasks submitted together (a fan-out) go to the scheduler
together, as one ``client.map``. A small :class:`Outcome` comes back as a Dask
event on a topic of this executor (worker, scheduler, client: the messages Dask
sends anyway), so the client fetches nothing from the worker; a larger one
(over :data:`EVENT_LIMIT`: much printed output, or a large value the worker
could not store) is the task's result, fetched as usual. A task's start is
reported once it has run for :data:`START_DELAY` (a shorter task needs only
its Outcome, which carries its start time). A worker that can see the
store's blob directory writes a large output there itself and returns only its
digest (``executors.outputs``). A task with ``timeout=`` runs in a child process of
the worker that is killed at the limit (``executors.isolate``).

Like ``LocalExecutor``'s, the workers of that cluster do not re-run the
caller's ``__main__`` script (unguarded Covalent-style scripts keep working).

Retries belong to valence (``retries=``, every attempt recorded), so the
cluster valence starts does not re-run tasks whose worker died
(``distributed.scheduler.allowed-failures = 0``): such a task fails at once
with ``WorkerDiedError``, and so does a task that was queued on that worker
behind it. On your own cluster Dask's setting applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import threading
import uuid
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from valence.executors.base import Outcome, TaskSpec
from valence.executors.local import _Configured, _pack, _resolved, _skip_main_in_workers
from valence.executors.pool import failed, worker_died
from valence.extras import needs_extra

__all__ = ["DaskExecutor", "run_on_dask"]

SCATTER_LIMIT = 1 << 20  # task payloads above this many bytes go straight to a worker
EVENT_LIMIT = 32 * 1024  # an Outcome up to this many bytes (pickled) returns as an event
START_DELAY = 0.1  # seconds a task runs before its start is reported (the Outcome has it)
SUBMIT_INTERVAL = 0.001  # seconds the client may hold a submission to batch it with others
DASK_WORKER_PROCESS = "Dask Worker process"  # how Dask's nannies name their worker processes
PRELOAD = "valence.executors.worker"  # what a worker needs to run valence tasks
# Retries are valence's (recorded): a task whose worker died fails at once. A task
# queued behind it on that worker (Dask hands a worker slightly more tasks than
# threads) fails with it; ``retries=`` re-runs such tasks.
# Its workers ignore SIGINT (a Ctrl-C or a notebook's Interrupt reaches the whole
# process group; see ``worker.dask_setup``): only the caller's wait is interrupted.
CLUSTER_CONFIG = {"distributed.scheduler.allowed-failures": 0, "valence.ignore-sigint": True}


def run_on_dask(
    payload: bytes,
    name: str,
    timeout: float | None = None,
    route: list[Any] | None = None,
) -> Outcome | None:
    """Worker side: run one serialized task (in a killable child if it has a timeout).

    ``route`` is ``[topic, token, live]``: the Outcome goes back to the client
    as a Dask event of that topic when it is small (this returns None), so the
    client need not fetch it from the worker; a larger one is the task's result.
    With ``live``, the task's start (once it has run for :data:`START_DELAY`)
    and its output while it runs are events too (not from a timeout's child).
    """
    channel = _Channel(route) if route else None
    listener = channel.listen if channel is not None and channel.live else None
    try:
        if timeout is None:
            from valence.executors.worker import run_serialized

            outcome = run_serialized(payload, name, listener)
        else:
            from valence.executors.isolate import run_isolated

            if channel is not None and channel.live:  # a child starts slowly: reported now
                channel.start = datetime.now(timezone.utc).timestamp()
                channel.send_start()
            outcome = run_isolated(payload, name, timeout)
    finally:
        if channel is not None:
            channel.end()
    return channel.deliver(outcome) if channel is not None else outcome


class _Channel:
    """One task's events to the client, from the Dask worker running it.

    A task's start is held back for :data:`START_DELAY` and sent only if the
    task still runs then (or prints first): a short task goes from queued to
    done with one event, its Outcome (which carries its start time).
    """

    def __init__(self, route: list[Any]) -> None:
        from distributed import get_worker

        self.worker = get_worker()  # here, on the task's thread; log_event works from any
        self.topic, self.token, self.live = route
        self.lock = threading.Lock()
        self.start: float | None = None  # a start not sent yet
        self.ended = False

    def listen(self, kind: str, value: Any) -> None:
        """``worker.run_task``'s listener: the start (held back) and live output."""
        if kind == "started":
            with self.lock:
                self.start = value.timestamp()
            self.worker.loop.add_callback(self._send_start_later)
            return
        self.send_start()  # output implies a start: sent before it
        self.worker.log_event(self.topic, [self.token, kind, value])

    def _send_start_later(self) -> None:
        self.worker.loop.call_later(START_DELAY, self.send_start)

    def send_start(self) -> None:
        with self.lock:
            start, self.start = self.start, None
            if start is None or self.ended:
                return
        self.worker.log_event(self.topic, [self.token, "started", start])

    def end(self) -> None:
        with self.lock:
            self.ended = True

    def deliver(self, outcome: Outcome) -> Outcome | None:
        """Send a small Outcome as an event (returning None); return a larger one."""
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > EVENT_LIMIT:
            return outcome
        self.worker.log_event(self.topic, [self.token, "outcome", data])
        return None


@dataclass
class _Submission:
    """A task handed to ``submit`` and not yet sent to the scheduler."""

    outer: _DaskFuture
    data: Any  # the payload bytes, or a Dask future of them when scattered
    name: str
    timeout: float | None
    start: datetime
    token: str  # routes the task's events (its outcome, start, live output) back to it
    listener: Any = None  # TaskSpec.listener


class _DaskFuture(Future):  # type: ignore[type-arg]
    """The engine's future for one Dask task; cancelling it cancels the Dask future."""

    def __init__(self) -> None:
        super().__init__()
        self.dask_future: Any = None
        self.collector: Any = None  # the asyncio task that will resolve it

    def cancel(self) -> bool:
        if self.done():
            return False
        dask_future = self.dask_future
        if dask_future is not None:
            dask_future.cancel()
        return super().cancel()

    def resolve(self, outcome: Outcome) -> None:
        self.dask_future = self.collector = None
        with contextlib.suppress(InvalidStateError):  # cancelled by its owner meanwhile
            self.set_result(outcome)


class DaskExecutor(_Configured):
    """Runs tasks on Dask distributed: a LocalCluster by default, or ``scheduler_address``.

    ``workers`` and ``threads_per_worker`` size the LocalCluster (Dask's
    defaults: one worker process per CPU); they are ignored with an address.
    """

    name = "dask"
    in_process = False
    enforces_timeout = True
    writes_blobs = True
    reports_start = True

    def __init__(
        self,
        scheduler_address: str | None = None,
        workers: int | None = None,
        threads_per_worker: int | None = None,
        dashboard: bool = False,
    ) -> None:
        from valence.executors.local import _configured

        configured = _configured("dask")  # unset arguments: the config's executors.dask.*
        scheduler_address = scheduler_address or configured.get("scheduler_address") or None
        workers = workers if workers is not None else configured.get("workers") or None
        if threads_per_worker is None:
            threads_per_worker = configured.get("threads_per_worker") or 1
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be a positive integer or None, not {workers!r}")
        if threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be positive, not {threads_per_worker!r}")
        self.scheduler_address = scheduler_address or None  # Covalent's default is ""
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.dashboard = dashboard
        self._lock = threading.Lock()
        self._client: Any = None
        self._cluster: Any = None
        self._pending: set[_DaskFuture] = set()
        self._arrivals: list[_Submission] = []  # not yet sent to the scheduler
        self._topic = f"valence-live-{uuid.uuid4().hex}"
        self._routes: dict[str, _Submission] = {}  # token -> its task, until it is resolved

    def _config(self) -> dict[str, Any]:
        return {
            "scheduler_address": self.scheduler_address,
            "workers": self.workers,
            "threads_per_worker": self.threads_per_worker,
            "dashboard": self.dashboard,
        }

    # ---- the client -------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (started on first use)."""
        with self._lock:
            if self._client is None:
                client, self._cluster = self._connect()
                self._client = self._listen(client)
            return self._client

    def _connect(self) -> tuple[Any, Any]:
        with needs_extra("dask", "DaskExecutor"):
            import dask
            import distributed

        if self.scheduler_address is not None:
            try:
                client = distributed.Client(self.scheduler_address, set_as_default=False)
            except OSError as exc:
                raise ConnectionError(
                    f"cannot reach the Dask scheduler at {self.scheduler_address} ({exc}); "
                    "start it with `dask scheduler` (and workers with `dask worker <address>`) "
                    "or fix scheduler_address"
                ) from exc
            return _tuned(client), None
        _skip_main_in_workers(DASK_WORKER_PROCESS)
        with dask.config.set(CLUSTER_CONFIG):
            cluster = distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=self.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                protocol="tcp",
                dashboard_address="127.0.0.1:0" if self.dashboard else None,
                # the scheduler's HTTP routes (health, metrics) listen even without a
                # dashboard, by default on port 8787: a free loopback port instead
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                preload=[PRELOAD],  # workers import valence when they start, not at a task
            )
        try:
            client = distributed.Client(cluster, set_as_default=False, direct_to_workers=True)
        except BaseException:
            cluster.close()
            raise
        return _tuned(client), cluster

    def _listen(self, client: Any) -> Any:
        client.subscribe_topic(self._topic, self._on_event)
        return client

    def _on_event(self, event: tuple[float, Any]) -> None:
        """On the client's loop: a task's Outcome, or its start or output for its listener."""
        token, kind, value = event[1]
        s = self._routes.get(token)
        if s is None:
            return  # resolved already (cancelled, or the executor was shut down)
        if kind == "outcome":
            try:
                outcome = pickle.loads(value)
            except Exception as exc:
                outcome = failed(
                    f"ExecutorError: cannot load the outcome of task {s.name!r}: "
                    f"{type(exc).__name__}: {exc}",
                    s.start,
                )
            self._finish(s, outcome)
            return
        if s.listener is not None:
            if kind == "started":
                value = datetime.fromtimestamp(value, timezone.utc)
            s.listener(kind, value)

    # ---- the seam ---------------------------------------------------------------
    def submit(self, task: TaskSpec) -> Future[Outcome]:
        start = datetime.now(timezone.utc)
        try:
            payload = _pack(task)
        except Exception as exc:
            error = f"SerializationError: task {task.name!r} cannot be sent to Dask: {exc}"
            return _resolved(failed(error, start))
        try:
            client = self.client
            data = client.scatter(payload, hash=False) if len(payload) > SCATTER_LIMIT else payload
        except Exception as exc:
            error = f"ExecutorError: cannot submit task {task.name!r} to Dask: {exc}"
            return _resolved(failed(error, start))
        outer = _DaskFuture()
        timeout = task.metadata.get("timeout")
        s = _Submission(outer, data, task.name, timeout, start, uuid.uuid4().hex, task.listener)
        with self._lock:
            self._pending.add(outer)
            self._routes[s.token] = s
            self._arrivals.append(s)
            wake = len(self._arrivals) == 1  # else a drain is already on its way
        if wake:
            client.loop.add_callback(self._drain, client)
        return outer

    def _drain(self, client: Any) -> None:
        """On the client's loop: submit every task that arrived since the last drain.

        A burst of ready tasks becomes one ``client.map`` (one graph update for
        the scheduler) and costs one loop wake-up; a lone task goes at once.
        """
        with self._lock:
            arrivals, self._arrivals = self._arrivals, []
            batch = [s for s in arrivals if not s.outer.cancelled()]
            for s in arrivals:
                if s.outer.cancelled():
                    self._pending.discard(s.outer)
                    self._routes.pop(s.token, None)
        if not batch:
            return
        try:
            futures = client.map(
                run_on_dask,
                [s.data for s in batch],
                [s.name for s in batch],
                [s.timeout for s in batch],
                [[self._topic, s.token, s.listener is not None] for s in batch],
                key=[f"{s.name}-{uuid.uuid4().hex}" for s in batch],
                pure=False,
            )
        except Exception as exc:
            for s in batch:
                error = f"ExecutorError: cannot submit task {s.name!r} to Dask: {exc}"
                self._finish(s, failed(error, s.start))
            return
        for s, dask_future in zip(batch, futures, strict=True):
            s.outer.dask_future = dask_future  # the future keeps its collector alive:
            s.outer.collector = asyncio.ensure_future(self._collect(client, s, dask_future))

    async def _collect(self, client: Any, s: _Submission, dask_future: Any) -> None:
        """On the client's loop: wait for the task; fetch its Outcome unless an event brought it.

        A small Outcome arrives as an event before Dask reports the task done
        (both travel in order on the worker's and the scheduler's streams), so
        only a failure around the task or a large Outcome needs a fetch.
        """
        try:
            state = getattr(dask_future, "_state", None)  # Dask's own wait, without a fetch
            if state is not None:
                await state.wait()
            if s.outer.done():
                return
            outcome = await client.gather(dask_future, asynchronous=True)
            if outcome is None and not s.outer.done():
                outcome = failed(f"ExecutorError: the outcome of task {s.name!r} was lost", s.start)
        except BaseException as exc:  # every end, even cancellation, resolves the future
            outcome = _describe(exc, s.name, s.start)
        if outcome is not None:
            self._finish(s, outcome)

    def _finish(self, s: _Submission, outcome: Outcome) -> None:
        with self._lock:
            self._pending.discard(s.outer)
            self._routes.pop(s.token, None)
        s.outer.resolve(outcome)

    def shutdown(self, wait: bool = True) -> None:
        """Close the client and the cluster valence started; fail tasks still pending."""
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
            pending, self._pending = self._pending, set()
            self._routes.clear()
        for future in pending:
            future.resolve(failed("ExecutorError: the Dask executor was shut down first"))
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _tuned(client: Any) -> Any:
    """Let the client send a submission at once instead of batching it for 10 ms.

    ``distributed.Client`` batches its messages to the scheduler in 10 ms
    windows, which caps a chain of dependent tasks submitted one at a time (as
    the engine does) at ~100 tasks/s regardless of the cluster. 1 ms keeps the
    batching for bursts of submissions.
    """
    comm = getattr(client, "scheduler_comm", None)
    if comm is not None and hasattr(comm, "interval"):
        comm.interval = SUBMIT_INTERVAL
    return client


def _describe(exc: BaseException, name: str, start: datetime) -> Outcome:
    """A failed Outcome for something that went wrong around (not inside) the task."""
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return failed(worker_died(name, f"Dask reported {type(exc).__name__}: {exc}"), start)
    if isinstance(exc, asyncio.CancelledError):
        return failed(f"ExecutorError: Dask cancelled task {name!r}", start)
    return failed(
        f"ExecutorError: Dask could not run task {name!r}: {type(exc).__name__}: {exc} "
        "(every Dask worker needs valence and the task's packages installed)",
        start,
    )
