"""``@ct.lattice``: a workflow whose body is traced into a transport graph."""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from valence.workflow.deps import HOOK_OPTIONS, normalize_options
from valence.workflow.graph import TransportGraph
from valence.workflow.tracing import Tracer, active_tracer, not_tracing, to_template, tracing

INHERITED = ("executor", *HOOK_OPTIONS)
"""Options a task inherits when it does not set them (electron -> lattice -> config)."""


class Lattice:
    """A workflow definition. Calling it runs the function eagerly."""

    def __init__(self, function: Callable[..., Any], **metadata: Any) -> None:
        remember_source(function)
        functools.update_wrapper(self, function)
        self.function = function
        self.metadata = metadata
        self.transport_graph: TransportGraph | None = None

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.function)

    def __repr__(self) -> str:
        return f"<lattice {self.name}{self.signature}>"

    def inherit(self, defaults: Mapping[str, Any]) -> Lattice:
        """A copy whose unset options come from ``defaults`` (a sublattice's caller).

        The sublattice's own ``@ct.lattice(...)`` options win; the rest come from
        the sublattice node, i.e. its ``ct.electron(...)`` options, then the
        enclosing lattice's. ``self`` is never modified.
        """
        if self.metadata.get("triggers"):
            from valence.errors import UnsupportedOptionError

            raise UnsupportedOptionError(
                f"lattice {self.name} has triggers= but runs as a sublattice; triggers apply "
                "to a dispatched lattice only: put them on the outer lattice"
            )
        metadata = dict(self.metadata)
        for key in INHERITED:
            if metadata.get(key) is None and defaults.get(key) is not None:
                metadata[key] = defaults[key]
        if self.metadata.get("workflow_executor") is None:
            metadata["workflow_executor"] = defaults.get("workflow_executor") or metadata.get(
                "executor"
            )
        return Lattice(self.function, **metadata)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the graph of its last trace: a lattice blob stays its definition."""
        state = dict(self.__dict__)
        state["transport_graph"] = None
        return state

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if active_tracer() is not None:
            return self.function(*args, **kwargs)  # inlined into the enclosing lattice
        with not_tracing():
            return self.function(*args, **kwargs)

    def __valence_fingerprint__(self) -> str:
        from valence.fingerprint import code_fingerprint

        return code_fingerprint(self.function)

    def bind_inputs(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> inspect.BoundArguments:
        """Check arguments against the signature; TypeError naming the parameters."""
        return bind_or_explain(self.function, self.name, args, kwargs, "lattice")

    def build_graph(
        self, *args: Any, replacements: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> TransportGraph:
        """Trace the body with these inputs into a new transport graph."""
        self.bind_inputs(args, kwargs)
        tracer = Tracer(lattice_metadata=dict(self.metadata), replacements=dict(replacements or {}))
        with tracing(tracer):
            returned = self.function(*args, **kwargs)
        tracer.graph.output = to_template(returned)
        self.transport_graph = tracer.graph
        return tracer.graph


def remember_source(function: Any) -> None:
    """Keep the function's source on it, so it travels with the function by value.

    Functions loaded by value (in a worker, on a server, in a redispatch) have
    no file to read their source from; the store and tracebacks want it.
    """
    if getattr(function, "__valence_source__", None) is not None:
        return
    # no source file (REPL, builtin) or no attribute dict: recorded as "" at dispatch
    with contextlib.suppress(OSError, TypeError, AttributeError):
        function.__valence_source__ = inspect.getsource(function)


def bind_or_explain(
    function: Callable[..., Any],
    name: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    what: str,
    sig: inspect.Signature | None = None,
    *,
    partial: bool = False,
) -> inspect.BoundArguments:
    """``signature.bind`` (or ``bind_partial``) with a message showing the signature."""
    sig = sig or inspect.signature(function)
    try:
        return sig.bind_partial(*args, **kwargs) if partial else sig.bind(*args, **kwargs)
    except TypeError as exc:
        hint = _did_you_mean(sig, kwargs)
        raise TypeError(
            f"{what} {name}{sig}: {exc}.{hint} Pass arguments that match its parameters."
        ) from None


def _did_you_mean(sig: inspect.Signature, kwargs: Mapping[str, Any]) -> str:
    names = list(sig.parameters)
    for key in kwargs:
        if key not in sig.parameters:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
            if close:
                return f" Did you mean {close[0]!r} instead of {key!r}?"
    return ""


def _triggers(triggers: Any) -> list[Any] | None:
    """``triggers=``: None, one trigger or a list of them (checked, as a list)."""
    if triggers is None:
        return None
    from valence.triggers import _as_list

    return _as_list(triggers)


def lattice(
    _func: Callable[..., Any] | None = None,
    *,
    executor: Any = None,
    workflow_executor: Any = None,
    deps_bash: Any = None,
    deps_pip: Any = None,
    call_before: Any = None,
    call_after: Any = None,
    triggers: Any = None,
) -> Any:
    """Decorate a workflow function: ``@ct.lattice`` or ``@ct.lattice(executor=...)``.

    ``executor``, ``deps_*`` and ``call_*`` are defaults for every task of the
    workflow (and of its sublattices) that does not set its own.
    """
    metadata = normalize_options(
        {
            "executor": executor,
            "workflow_executor": workflow_executor if workflow_executor is not None else executor,
            "deps_bash": deps_bash,
            "deps_pip": deps_pip,
            "call_before": call_before,
            "call_after": call_after,
            "triggers": _triggers(triggers),
        }
    )

    def decorate(function: Callable[..., Any]) -> Lattice:
        if isinstance(function, Lattice):
            function = function.function
        return Lattice(function, **metadata)

    return decorate(_func) if _func is not None else decorate
