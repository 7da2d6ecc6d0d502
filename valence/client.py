"""The public functions behind ``ct.dispatch``, ``ct.get_result``, ``ct.cancel``, ...

Each one picks a backend (:func:`valence.backends.choose_backend`): the valence
server at ``dispatcher_addr``, at ``VALENCE_SERVER``, or the one ``valence start``
recorded in the valence home; otherwise the embedded dispatcher of this process
(nothing to start). Both behave the same: same results, same exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from valence.backends import RedispatchRequest, choose_backend
from valence.backends.local import timeout_error
from valence.engine.redispatch import Plan
from valence.engine.reuse import check_reuse_from
from valence.results import Result
from valence.workflow.lattice import Lattice


def dispatch(
    lattice: Lattice,
    dispatcher_addr: str | None = None,
    *,
    disable_run: bool = False,
    reuse_previous_results: bool = False,
) -> Callable[..., str]:
    """``dispatch(workflow)(*args, **kwargs)`` records and starts a run; returns its id.

    With ``reuse_previous_results`` every node whose key equals that of a
    COMPLETED node of any dispatch in the store is reused (and early cutoff
    applies), so editing one task and dispatching again runs only what changed.
    """
    if not isinstance(lattice, Lattice):
        raise TypeError(
            f"ct.dispatch needs a @ct.lattice workflow, got {type(lattice).__name__}; "
            "decorate the workflow function with @ct.lattice"
        )

    def submit(*args: Any, **kwargs: Any) -> str:
        backend = choose_backend(dispatcher_addr)
        return backend.submit(
            lattice, args, kwargs, disable_run=disable_run, reuse=reuse_previous_results
        )

    return submit


def dispatch_sync(lattice: Lattice, dispatcher_addr: str | None = None) -> Callable[..., Result]:
    """Dispatch and wait: ``dispatch_sync(workflow)(*args)`` returns the Result."""

    def run(*args: Any, **kwargs: Any) -> Result:
        dispatch_id = dispatch(lattice, dispatcher_addr)(*args, **kwargs)
        return get_result(dispatch_id, wait=True, dispatcher_addr=dispatcher_addr)

    return run


def get_result(
    dispatch_id: str,
    wait: bool = False,
    dispatcher_addr: str | None = None,
    status_only: bool = False,
    *,
    timeout: float | None = None,
) -> Any:
    """The Result of a dispatch (id or unique prefix); ``wait=True`` blocks until it is done."""
    backend = choose_backend(dispatcher_addr)
    dispatch_id = backend.resolve_id(dispatch_id)
    if wait and not backend.wait(dispatch_id, timeout):
        raise timeout_error(dispatch_id, timeout)
    if status_only:
        return {"id": dispatch_id, "status": backend.status(dispatch_id)}
    return backend.result(dispatch_id)


def cancel(
    dispatch_id: str, task_ids: int | list[int] | None = None, dispatcher_addr: str | None = None
) -> str:
    """Stop scheduling a dispatch (or only ``task_ids``); completed results stay."""
    backend = choose_backend(dispatcher_addr)
    ids = [task_ids] if isinstance(task_ids, int) else (list(task_ids) if task_ids else None)
    return backend.cancel(backend.resolve_id(dispatch_id), ids)


class Redispatch:
    """``redispatch(id, ...)``: call it with new inputs to run, or ``.plan(...)`` to preview."""

    def __init__(
        self,
        dispatch_id: str,
        replace_electrons: dict[str, Any] | None,
        reuse_previous_results: bool,
        force_rerun: tuple[str, ...],
        dispatcher_addr: str | None = None,
        reuse_from: str | tuple[str, ...] | None = None,
    ) -> None:
        self.dispatch_id = dispatch_id
        self.replace_electrons = dict(replace_electrons or {})
        self.reuse_previous_results = reuse_previous_results
        self.force_rerun = tuple(force_rerun)
        self.dispatcher_addr = dispatcher_addr
        self.reuse_from = check_reuse_from(reuse_from)

    def _request(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RedispatchRequest:
        return RedispatchRequest(
            args,
            kwargs,
            self.replace_electrons,
            self.reuse_previous_results,
            self.force_rerun,
            self.reuse_from,
        )

    def plan(self, *args: Any, **kwargs: Any) -> Plan:
        """The per-node decisions (reuse or run, and why) without running anything."""
        backend = choose_backend(self.dispatcher_addr)
        return backend.plan(backend.resolve_id(self.dispatch_id), self._request(args, kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        backend = choose_backend(self.dispatcher_addr)
        dispatch_id = backend.resolve_id(self.dispatch_id)
        return backend.redispatch(dispatch_id, self._request(args, kwargs))


def redispatch(
    dispatch_id: str,
    dispatcher_addr: str | None = None,
    replace_electrons: dict[str, Any] | None = None,
    reuse_previous_results: bool = False,
    *,
    force_rerun: tuple[str, ...] | list[str] = (),
    reuse_from: str | list[str] | tuple[str, ...] | None = None,
) -> Redispatch:
    """Re-run a stored dispatch by id, optionally with new inputs and replaced tasks.

    ``redispatch(id)()`` reuses the original inputs (positional and keyword);
    ``redispatch(id)(b=10)`` changes only ``b``. With ``reuse_previous_results``
    every node whose key equals a COMPLETED node's key in the parent is reused.
    ``reuse_from="any"`` (or a list of dispatch ids) turns reuse on and also
    looks keys up in every dispatch of the store (or in the listed ones).
    """
    return Redispatch(
        dispatch_id,
        replace_electrons,
        reuse_previous_results,
        tuple(force_rerun),
        dispatcher_addr,
        reuse_from,
    )


__all__ = ["cancel", "dispatch", "dispatch_sync", "get_result", "redispatch"]
