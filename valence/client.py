"""The public functions behind ``ct.dispatch``, ``ct.get_result``, ``ct.cancel``, ...

Each one picks a backend (:func:`valence.backends.choose_backend`): the valence
server at ``dispatcher_addr``, at ``VALENCE_SERVER``, or the one ``valence start``
recorded in the valence home; otherwise the embedded dispatcher of this process
(nothing to start). Both behave the same: same results, same exceptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from valence.backends import Backend, RedispatchRequest, choose_backend, task_id_list
from valence.errors import UnsupportedOptionError
from valence.workflow.lattice import Lattice

if TYPE_CHECKING:
    from valence.engine.redispatch import Plan
    from valence.results import Result

# The store and the engine (SQLAlchemy) are imported by the first call that needs them,
# so that ``dispatch`` can start the process pool's forkserver first (executors.prestart).


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
        from valence.executors.prestart import prestart_for

        prestart_for(lattice, dispatcher_addr, disable_run=disable_run)
        backend = choose_backend(dispatcher_addr)
        if not lattice.metadata.get("triggers"):
            return backend.submit(
                lattice, args, kwargs, disable_run=disable_run, reuse=reuse_previous_results
            )
        return _submit_with_triggers(backend, lattice, args, kwargs)

    return submit


def _submit_with_triggers(
    backend: Backend, lattice: Lattice, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """As Covalent: record the dispatch without running it, then register its triggers.

    The first firing runs it; later ones redispatch it with reuse.
    """
    triggers = lattice.metadata["triggers"]
    plain = Lattice(lattice.function, **{**lattice.metadata, "triggers": None})
    dispatch_id = backend.submit(plain, args, kwargs, disable_run=True)
    for trigger in triggers:
        trigger.lattice_dispatch_id = dispatch_id
        if trigger.triggers_server_addr:
            trigger.register()
        else:
            backend.register_trigger(trigger)
    return dispatch_id


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
    progress: bool | None = None,
    workflow_output: bool = True,
    intermediate_outputs: bool = True,
    sublattice_results: bool = True,
    results_dir: str | None = None,
) -> Any:
    """The Result of a dispatch (id or unique prefix); ``wait=True`` blocks until it is done.

    While it waits, a progress bar shows tasks done/total in a notebook or a
    terminal (``progress=False`` or ``VALENCE_PROGRESS=0``: none). An interrupt
    (Ctrl-C, a notebook's Interrupt) stops only the waiting: the dispatch runs on.
    ``workflow_output``, ``intermediate_outputs`` and ``sublattice_results`` (Covalent's)
    set False leave the result, the node outputs or the sublattice results unread (None).
    ``results_dir`` is Covalent's local results cache; valence has none, so only None is
    accepted.
    """
    from valence.progress import wait_with_progress

    timeout = _wait_timeout(timeout)
    if results_dir is not None:
        raise UnsupportedOptionError(
            f"get_result(results_dir={results_dir!r}): valence keeps results in its store, "
            "not in a results directory; drop the argument"
        )
    backend = choose_backend(dispatcher_addr)
    dispatch_id = backend.resolve_id(dispatch_id)
    if wait and not wait_with_progress(backend, dispatch_id, timeout, progress):
        from valence.backends.local import timeout_error

        raise timeout_error(dispatch_id, timeout)
    if status_only:
        return {"id": dispatch_id, "status": backend.status(dispatch_id)}
    return backend.result(dispatch_id).only_loading(
        workflow_output=workflow_output,
        intermediate_outputs=intermediate_outputs,
        sublattice_results=sublattice_results,
    )


def _wait_timeout(timeout: Any) -> float | None:
    """``timeout`` checked: None or a number of seconds >= 0 (infinity: None)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout is a number of seconds or None, got {timeout!r:.60}")
    if not timeout >= 0:  # also catches nan
        raise ValueError(f"timeout must be a number of seconds >= 0 (or None), got {timeout!r}")
    return None if math.isinf(timeout) else float(timeout)


def cancel(
    dispatch_id: str, task_ids: int | list[int] | None = None, dispatcher_addr: str | None = None
) -> str:
    """Stop scheduling a dispatch (or only ``task_ids``); completed results stay."""
    ids = task_id_list(task_ids)
    backend = choose_backend(dispatcher_addr)
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
        from valence.engine.reuse import check_reuse_from

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
        from valence.redefined import warn_if_redefined

        backend = choose_backend(self.dispatcher_addr)
        dispatch_id = backend.resolve_id(self.dispatch_id)
        new_id = backend.redispatch(dispatch_id, self._request(args, kwargs))
        warn_if_redefined(backend, dispatch_id, self.replace_electrons)
        return new_id


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
        _replacements(replace_electrons),
        reuse_previous_results,
        _task_names(force_rerun),
        dispatcher_addr,
        reuse_from,
    )


def _replacements(replace_electrons: Any) -> dict[str, Any] | None:
    """``replace_electrons`` checked: a dict from task name to a new electron or function."""
    if replace_electrons is None:
        return None
    example = "e.g. replace_electrons={'add': new_add}"
    if not isinstance(replace_electrons, dict):
        raise TypeError(
            "replace_electrons maps task names to new electrons or functions, "
            f"{example}; got {type(replace_electrons).__name__} {replace_electrons!r:.80}"
        )
    for name, new in replace_electrons.items():
        if not isinstance(name, str) or not callable(new):
            raise TypeError(
                "replace_electrons maps task names (str) to new electrons or functions, "
                f"{example}; got {name!r:.60}: {new!r:.60}"
            )
    return replace_electrons


def _task_names(force_rerun: Any) -> tuple[str, ...]:
    """``force_rerun`` checked: a list or tuple of task names."""
    if isinstance(force_rerun, str) or not isinstance(force_rerun, (list, tuple, set, frozenset)):
        raise TypeError(
            f"force_rerun takes a list of task names, got {type(force_rerun).__name__} "
            f"{force_rerun!r:.80}; write force_rerun=[{force_rerun!r:.40}] for one task"
        )
    for name in force_rerun:
        if not isinstance(name, str):
            raise TypeError(f"force_rerun holds task names (str), got {name!r:.60}")
    return tuple(force_rerun)


__all__ = ["cancel", "dispatch", "dispatch_sync", "get_result", "redispatch"]
