"""``@ct.electron``: a task. Outside a lattice it simply calls its function."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from valence.errors import TracingError
from valence.workflow.deps import (
    check_run_options,
    normalize_options,
    retval_keywords,
    with_file_contents,
)
from valence.workflow.graph import SUBLATTICE_PREFIX, NodeKind
from valence.workflow.lattice import INHERITED, Lattice, bind_or_explain, remember_source
from valence.workflow.tracing import Output, Tracer, active_tracer, connect

_DEFAULTS: dict[str, Any] = {
    "executor": None,
    "deps_bash": None,
    "deps_pip": None,
    "call_before": None,
    "call_after": None,
    "retries": 0,
    "retry_delay": 1.0,
    "timeout": None,
    "version": None,
    "reusable": True,
    "files": None,
    "deps_module": None,
}


class Electron:
    """A task definition: a function plus how it should run."""

    function: Callable[..., Any]
    _takes_files = True  # files= passes files=[(from, to), ...] (leptons: no)

    def __init__(self, function: Callable[..., Any], **metadata: Any) -> None:
        if isinstance(function, Electron):
            function = function.function
        if not callable(function):
            raise TypeError(f"ct.electron needs a function, got {type(function).__name__}")
        if not isinstance(function, Lattice):
            remember_source(function)
        functools.update_wrapper(self, function)
        self.function = function
        self.metadata = {**_DEFAULTS, **metadata}
        self._signature: inspect.Signature | None = None
        self._check_signature()

    def _check_signature(self) -> None:
        """Tasks are bound to their arguments when traced: their signature must be readable."""
        try:
            self.signature  # noqa: B018
        except (ValueError, TypeError) as exc:
            name = getattr(self.function, "__name__", type(self.function).__name__)
            module = getattr(self.function, "__module__", None)
            full = f"{module}.{name}" if module else name
            raise TypeError(
                f"ct.electron cannot read the signature of {full} ({exc}): built-in and "
                "C functions have none. Wrap it in a Python function with named parameters, "
                f"e.g. @ct.electron def my_{name}(x): return {full}(x)"
            ) from None

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def electron_object(self) -> Electron:
        """Covalent compatibility: the wrapper *is* the electron."""
        return self

    @property
    def is_sublattice(self) -> bool:
        return isinstance(self.function, Lattice)

    @property
    def signature(self) -> inspect.Signature:
        if self._signature is None:
            self._signature = inspect.signature(self.function)
        return self._signature

    def __repr__(self) -> str:
        return f"<electron {self.name}{self.signature}>"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_signature"] = None
        state.pop("_simple", None)  # derived from the signature, like it
        return state

    def __valence_fingerprint__(self) -> str:
        from valence.fingerprint import code_fingerprint

        if isinstance(self.function, Lattice):  # a sublattice
            return code_fingerprint(self.function.function, version=self.metadata["version"])
        code = code_fingerprint(self.function, version=self.metadata["version"])
        return with_file_contents(code, self.metadata.get("files"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return self.function(*args, **kwargs)
        target = tracer.replacements.get(self.name, self)
        return target._trace(
            tracer, args, kwargs, replaced=self.name if target is not self else None
        )

    def _trace(
        self,
        tracer: Tracer,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        replaced: str | None,
    ) -> Output:
        metadata, injected = self._settings(tracer, replaced)
        names = None if injected else self._simple_parameters()
        if names is None or not _binds_simply(names, args, kwargs):
            names = None
            given = kwargs
            if injected:
                self._check_not_positional(args, injected)
                given = {**kwargs, **{name: _INJECTED for name in injected - set(kwargs)}}
            bound = bind_or_explain(
                self.function, self.name, args, given, "electron", self.signature
            )
        graph = tracer.graph
        if self.is_sublattice:
            node = graph.add_node(
                SUBLATTICE_PREFIX + self.name, NodeKind.SUBLATTICE, electron=self, metadata=metadata
            )
            connect(tracer, node.id, "lattice", self.name, "arg", 0)
            connect(tracer, node.id, "metadata", _metadata_json(metadata), "arg", 1)
            offset = 2
        else:
            node = graph.add_node(self.name, NodeKind.ELECTRON, electron=self, metadata=metadata)
            offset = 0
        if names is None:
            _connect_arguments(tracer, node.id, bound, offset, set(kwargs), injected)
        else:
            _connect_simply(tracer, node.id, names, args, kwargs, offset)
        return Output(tracer, node)

    def _settings(self, tracer: Tracer, replaced: str | None) -> tuple[dict[str, Any], set[str]]:
        """This task's options in ``tracer``'s lattice and the arguments hooks inject.

        Computed once per task (and name it replaces) and trace: every call's node
        shares the options dict (nothing changes a node's options once traced).
        """
        ident = (id(self), replaced)
        found = tracer.settings.get(ident)
        if found is None or found[0] is not self:
            metadata = self._inherit(tracer.lattice_metadata)
            injected = set() if self.is_sublattice else self._injected(metadata)
            if replaced is not None:
                metadata["replaced"] = replaced
            found = tracer.settings[ident] = (self, metadata, injected)
        return found[1], found[2]

    def _simple_parameters(self) -> tuple[tuple[str, ...], int] | None:
        """(names, how many are required) when every parameter is positional-or-keyword."""
        simple: tuple[tuple[str, ...], int] | bool | None = self.__dict__.get("_simple")
        if simple is None:
            params = self.signature.parameters.values()
            if all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
                names = tuple(p.name for p in params)
                defaults = [p.default is not p.empty for p in params]
                required = defaults.index(True) if True in defaults else len(names)
                simple = (names, required)
            else:
                simple = False
            self.__dict__["_simple"] = simple
        return simple if isinstance(simple, tuple) else None

    def _injected(self, metadata: dict[str, Any]) -> set[str]:
        """Arguments ``call_before`` hooks inject at run time (not graph edges)."""
        names = retval_keywords(metadata.get("call_before"))
        if metadata.get("files") and self._takes_files:
            names.add("files")  # Covalent passes files=[(from, to), ...]
        if not names:
            return names
        params = self.signature.parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        for name in sorted(names):
            param = params.get(name)
            if (param is None and not takes_any) or (
                param is not None and param.kind is inspect.Parameter.POSITIONAL_ONLY
            ):
                raise TracingError(
                    f"a call_before hook of task {self.name} injects {name!r}, which is not a "
                    f"keyword parameter of {self.name}{self.signature}; add the parameter or "
                    "change the hook's retval_keyword"
                )
        return names

    def _check_not_positional(self, args: tuple[Any, ...], injected: set[str]) -> None:
        """An injected argument passed by position would shift the others: refuse it."""
        for name in list(self.signature.parameters)[: len(args)]:
            if name in injected:
                raise TracingError(
                    f"task {self.name}: argument {name!r} is injected by a call_before hook "
                    "(retval_keyword); do not pass it"
                )

    def _inherit(self, lattice_metadata: dict[str, Any]) -> dict[str, Any]:
        """Electron settings win; unset ones come from the lattice (then config)."""
        metadata = dict(self.metadata)
        for key in INHERITED:
            if metadata.get(key) is None and lattice_metadata.get(key) is not None:
                metadata[key] = lattice_metadata[key]
        if self.is_sublattice and lattice_metadata.get("workflow_executor") is not None:
            metadata.setdefault("workflow_executor", lattice_metadata["workflow_executor"])
        return metadata


_INJECTED = object()  # binds a hook-injected argument the caller left out


def _binds_simply(
    simple: tuple[tuple[str, ...], int], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> bool:
    """Whether ``args``/``kwargs`` bind to positional-or-keyword ``names`` without error.

    Everything else (too many arguments, unknown or repeated names, a required one
    missing) takes ``inspect``'s bind, which raises the explained error.
    """
    names, required = simple
    given = len(args)
    if given > len(names):
        return False
    if not kwargs:
        return given >= required
    rest = names[given:]
    if not all(name in rest for name in kwargs):
        return False
    return all(name in kwargs for name in rest[: max(required - given, 0)])


def _connect_simply(
    tracer: Tracer,
    node_id: int,
    simple: tuple[tuple[str, ...], int],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    offset: int,
) -> None:
    """:func:`_connect_arguments` for a call :func:`_binds_simply` accepted (same edges)."""
    names = simple[0]
    for position, value in enumerate(args):
        connect(tracer, node_id, names[position], value, "arg", offset + position)
    if kwargs:
        for name in names[len(args) :]:  # in parameter order, as inspect binds them
            if name in kwargs:
                connect(tracer, node_id, name, kwargs[name], "kwarg", None)


def _connect_arguments(
    tracer: Tracer,
    node_id: int,
    bound: inspect.BoundArguments,
    offset: int,
    by_name: set[str],
    injected: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Wire every bound argument into the graph, except the hook-injected ones."""
    params = bound.signature.parameters
    position = offset
    for name, value in bound.arguments.items():
        kind = params[name].kind
        if name in injected and kind is not inspect.Parameter.VAR_KEYWORD:
            continue
        if kind is inspect.Parameter.VAR_POSITIONAL:
            for item in value:
                connect(tracer, node_id, name, item, "arg", position)
                position += 1
        elif kind is inspect.Parameter.VAR_KEYWORD:
            for key, item in value.items():
                if key not in injected:
                    connect(tracer, node_id, key, item, "kwarg", None)
        elif kind is inspect.Parameter.KEYWORD_ONLY or name in by_name:
            connect(tracer, node_id, name, value, "kwarg", None)
        else:
            connect(tracer, node_id, name, value, "arg", position)
            position += 1


def _metadata_json(metadata: dict[str, Any]) -> str:
    return json.dumps({k: repr(v) for k, v in sorted(metadata.items())}, sort_keys=True)


def electron(_func: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Decorate a task: ``@ct.electron`` or ``@ct.electron(executor="thread", ...)``.

    Options: executor, deps_bash, deps_pip, call_before, call_after, retries
    (extra attempts after a failure), retry_delay (seconds before the first
    retry, doubling after each), timeout (seconds per attempt), version (pins
    the code fingerprint), reusable (False: never reuse this task's results on
    redispatch), files (``ct.fs.FileTransfer`` list), deps_module (modules shipped
    by value). Unset options are inherited from the lattice, then the config.
    """
    _backend_is_executor(options)
    unknown = set(options) - set(_DEFAULTS) - {"backend"}
    if unknown:
        raise TypeError(
            f"ct.electron got unknown option(s) {sorted(unknown)}; known: {sorted(_DEFAULTS)}"
        )

    check_run_options(options)
    options = normalize_options(options)

    def decorate(function: Callable[..., Any]) -> Electron:
        return Electron(function, **options)

    return decorate(_func) if _func is not None else decorate


def _backend_is_executor(options: dict[str, Any]) -> None:
    """Covalent's deprecated ``backend=`` is ``executor=``."""
    if "backend" not in options:
        return
    backend = options.pop("backend")
    if backend is None:
        return
    if options.get("executor") is not None:
        raise TypeError(
            "ct.electron got both executor= and backend= (its deprecated alias); give executor="
        )
    options["executor"] = backend


def as_electron(value: Any, what: str) -> Electron:
    """Accept an electron, a lattice (run as a plain task) or a plain function."""
    if isinstance(value, Electron):
        return value
    if isinstance(value, Lattice):
        return Electron(value.function)
    if callable(value):
        return Electron(value)
    raise TracingError(f"{what} must be an electron or a function, got {type(value).__name__}")
