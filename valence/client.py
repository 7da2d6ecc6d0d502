"""The public functions behind ``ct.dispatch``, ``ct.get_result``, ``ct.cancel``.

They run on the embedded dispatcher of this process (nothing to start).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from valence import status as st
from valence.engine.embedded import get_embedded
from valence.engine.prepare import prepare_dispatch
from valence.errors import DispatchTimeoutError
from valence.results import Result
from valence.workflow.lattice import Lattice


def dispatch(
    lattice: Lattice, dispatcher_addr: str | None = None, *, disable_run: bool = False
) -> Callable[..., str]:
    """``dispatch(workflow)(*args, **kwargs)`` records and starts a run; returns its id."""
    if not isinstance(lattice, Lattice):
        raise TypeError(
            f"ct.dispatch needs a @ct.lattice workflow, got {type(lattice).__name__}; "
            "decorate the workflow function with @ct.lattice"
        )

    def submit(*args: Any, **kwargs: Any) -> str:
        prepared = prepare_dispatch(lattice, args, kwargs)
        runtime = get_embedded()
        if disable_run:
            runtime.store.record_dispatch(
                prepared.record, prepared.nodes, prepared.edges, prepared.blobs
            )
        else:
            runtime.dispatcher.submit(prepared)
        return prepared.record.dispatch_id

    return submit


def dispatch_sync(lattice: Lattice, dispatcher_addr: str | None = None) -> Callable[..., Result]:
    """Dispatch and wait: ``dispatch_sync(workflow)(*args)`` returns the Result."""

    def run(*args: Any, **kwargs: Any) -> Result:
        return get_result(dispatch(lattice, dispatcher_addr)(*args, **kwargs), wait=True)

    return run


def get_result(
    dispatch_id: str,
    wait: bool = False,
    dispatcher_addr: str | None = None,
    status_only: bool = False,
    *,
    timeout: float | None = None,
) -> Any:
    """The Result of a dispatch; ``wait=True`` blocks until it is finished."""
    runtime = get_embedded()
    store = runtime.store
    dispatch_id = store.resolve_id(dispatch_id)
    if wait:
        _wait(runtime, dispatch_id, timeout)
    if status_only:
        return {"id": dispatch_id, "status": st.as_status(store.get_status(dispatch_id))}
    return Result(store, store.get_dispatch(dispatch_id))


def _wait(runtime: Any, dispatch_id: str, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    if runtime.dispatcher.owns(dispatch_id):
        if not runtime.dispatcher.wait(dispatch_id, timeout):
            raise _timeout(dispatch_id, timeout)
        return
    delay = 0.005  # run by another process: poll the store, backing off to 0.25 s
    while st.as_status(runtime.store.get_status(dispatch_id)) not in st.TERMINAL:
        if deadline is not None and time.monotonic() >= deadline:
            raise _timeout(dispatch_id, timeout)
        time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
        delay = min(delay * 2, 0.25)


def _timeout(dispatch_id: str, timeout: float | None) -> DispatchTimeoutError:
    return DispatchTimeoutError(
        f"dispatch {dispatch_id} did not finish within {timeout} s; it keeps running — "
        "call get_result again later or raise the timeout"
    )


def cancel(
    dispatch_id: str, task_ids: int | list[int] | None = None, dispatcher_addr: str | None = None
) -> str:
    """Stop scheduling a dispatch (or only ``task_ids``); completed results stay."""
    runtime = get_embedded()
    dispatch_id = runtime.store.resolve_id(dispatch_id)
    ids = [task_ids] if isinstance(task_ids, int) else (list(task_ids) if task_ids else None)
    status = st.as_status(runtime.store.get_status(dispatch_id))
    if status in st.TERMINAL:
        return f"Dispatch {dispatch_id} is already {status}; nothing to cancel."
    if not runtime.dispatcher.owns(dispatch_id):
        raise RuntimeError(
            f"dispatch {dispatch_id} is run by another process; cancel it from that process "
            "or run workflows on a valence server"
        )
    runtime.dispatcher.cancel(dispatch_id, ids)
    what = f"tasks {ids} of dispatch" if ids else "dispatch"
    return f"Cancellation of {what} {dispatch_id} requested."


class Redispatch:
    """``redispatch(id, ...)``: call it with new inputs to run, or ``.plan(...)`` to preview."""

    def __init__(
        self,
        dispatch_id: str,
        replace_electrons: dict[str, Any] | None,
        reuse_previous_results: bool,
        force_rerun: tuple[str, ...],
    ) -> None:
        self.dispatch_id = dispatch_id
        self.replace_electrons = dict(replace_electrons or {})
        self.reuse_previous_results = reuse_previous_results
        self.force_rerun = tuple(force_rerun)

    def plan(self, *args: Any, **kwargs: Any) -> Any:
        """The per-node decisions (reuse or run, and why) without running anything."""
        from valence.engine.redispatch import plan_redispatch

        return plan_redispatch(
            get_embedded().store,
            self.dispatch_id,
            args=args,
            kwargs=kwargs,
            replace=self.replace_electrons,
            reuse=self.reuse_previous_results,
            force_rerun=self.force_rerun,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        plan = self.plan(*args, **kwargs)
        get_embedded().dispatcher.submit(plan.prepared)
        return plan.prepared.record.dispatch_id


def redispatch(
    dispatch_id: str,
    dispatcher_addr: str | None = None,
    replace_electrons: dict[str, Any] | None = None,
    reuse_previous_results: bool = False,
    *,
    force_rerun: tuple[str, ...] | list[str] = (),
) -> Redispatch:
    """Re-run a stored dispatch by id, optionally with new inputs and replaced tasks.

    ``redispatch(id)()`` reuses the original inputs (positional and keyword);
    ``redispatch(id)(b=10)`` changes only ``b``. With ``reuse_previous_results``
    every node whose key equals a COMPLETED node's key in the parent is reused.
    """
    return Redispatch(dispatch_id, replace_electrons, reuse_previous_results, tuple(force_rerun))
