"""The executor seam: ``submit(TaskSpec) -> Future[Outcome]``.

An executor runs one task's function somewhere (a thread, a process, a Dask
worker) and reports an :class:`Outcome`. Task errors never raise out of the
future: they come back as ``Outcome(ok=False, ...)`` with the traceback.
Executors are chosen per electron by name or instance; names resolve through
the ``valence.executors`` entry-point group on first use.

Deps and hooks run inside ``worker.run_task``, so every executor that calls it
runs them. Retries are applied around ``submit`` by ``executors.policy``; an
executor that can stop a running task (``enforces_timeout``) enforces
``metadata["timeout"]`` itself, otherwise the policy fails the task at the
deadline. An executor whose workers may reach the store's blob location
(``writes_blobs``) gets ``TaskSpec.blob_target``: the worker then writes a large
output there itself and reports only its digest (``Outcome.output_stored``).
An executor that ``reports_start`` calls ``TaskSpec.listener`` when a worker
starts the task and with its output while it runs (until then the task is
queued); ``worker.run_task`` does both for any executor that passes it a listener.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from valence.clock import utcnow


@dataclass(frozen=True)
class BlobTarget:
    """Where a worker may write a large output: the store's blob location.

    ``location`` is a directory or an fsspec URL (:mod:`valence.blobfiles`);
    ``token`` the content of its ``.valence-store-id`` file. A worker writes
    there only if it reads the same token, which proves it sees the very files
    the store uses (the same disk, a shared mount, the same bucket).
    """

    location: str
    token: str


@dataclass
class TaskSpec:
    """Everything a worker needs to run one node's function."""

    dispatch_id: str
    node_id: int
    name: str
    fn: Callable[..., Any] | None  # the function itself (in-process executors)
    fn_bytes: bytes | None  # the function pickled by value (out-of-process executors)
    fn_digest: str  # sha256 of fn_bytes: workers cache loaded functions by it
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # retries, timeout, deps, hooks
    blob_target: BlobTarget | None = None  # set for executors that ``writes_blobs``
    # Called where the task runs, never pickled: ("started", datetime) when a worker
    # starts it, ("stdout" | "stderr", text) with what it printed since the last call.
    listener: Callable[[str, Any], None] | None = field(default=None, compare=False, repr=False)


@dataclass
class Outcome:
    """What happened when a task ran."""

    ok: bool
    start_time: datetime
    end_time: datetime
    output: Any = None  # the value itself, when it did not cross a process boundary
    output_bytes: bytes | None = None  # serialized output; always set when ok
    output_digest: str | None = None  # sha256 of output_bytes
    error: str | None = None  # "ExceptionType: message"
    traceback: str | None = None
    stdout: str = ""
    stderr: str = ""
    attempts: int = 1
    has_output: bool = False  # True when ``output`` holds the live value
    output_stored: bool = False  # the worker wrote output_digest's blob; output_bytes is None
    attempt_errors: list[str] = field(default_factory=list)  # one line per failed attempt


def failed(error: str, start: datetime | None = None, traceback: str | None = None) -> Outcome:
    """A failed Outcome ending now (starting now too unless ``start`` is given)."""
    end = utcnow()
    return Outcome(
        ok=False, start_time=start or end, end_time=end, error=error, traceback=traceback
    )


class Executor(ABC):
    """Runs tasks; one instance may serve many dispatches concurrently."""

    name: ClassVar[str] = "base"
    in_process: ClassVar[bool] = False  # True: TaskSpec.fn is enough, no bytes needed
    enforces_timeout: ClassVar[bool] = False  # True: stops a task at metadata["timeout"]
    writes_blobs: ClassVar[bool] = False  # True: may receive TaskSpec.blob_target
    reports_start: ClassVar[bool] = False  # True: calls TaskSpec.listener (start, live output)

    @abstractmethod
    def submit(self, task: TaskSpec) -> Future[Outcome]:
        """Start ``task``; the future resolves to its Outcome and never raises."""

    def cancel(self, future: Future[Outcome]) -> bool:
        """Try to stop a submitted task; True if it will not run to completion.

        ``future`` is one this executor's ``submit`` returned, or a retrying
        future of ``executors.policy`` whose own ``cancel`` does the right thing;
        the default calls ``future.cancel()``.
        """
        return future.cancel()

    def cancel_pending(self, future: Future[Outcome]) -> bool:
        """Cancel a submitted task only if it has not started; a running one runs on.

        Cancelling a whole dispatch uses this: tasks already running finish and
        their results are kept. The default cancels nothing (every submitted task
        finishes); executors that can tell a queued task from a running one
        override it.
        """
        return False

    def shutdown(self, wait: bool = True) -> None:  # noqa: B027 - optional hook
        """Release pools and connections."""
