"""Turn (lattice, inputs) into the records of a new dispatch, writing nothing.

Everything that can be wrong with the user's input (arguments that do not
bind, values that cannot be pickled) is found here, before the store is
touched. The result is written in one transaction by the caller.
"""

from __future__ import annotations

import inspect
import platform
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from valence import serialize
from valence import status as st
from valence.clock import utcnow
from valence.errors import SerializationError, UnknownExecutorError
from valence.fingerprint import Unhashable, user_imports
from valence.fs.digest import tracking as files_read
from valence.gcpause import gc_paused
from valence.store.copy import RowCopy
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord
from valence.workflow.graph import NodeKind, TransportGraph
from valence.workflow.keys import NodeKey, compute_keys
from valence.workflow.lattice import Lattice, remember_source

if TYPE_CHECKING:
    from valence.engine.reuse import Scope


@dataclass(frozen=True)
class Prepared:
    """A dispatch ready to be recorded and run: its rows, the blobs they need, its graph.

    Node records are mutable rows; the dispatcher updates them as nodes run.
    """

    record: DispatchRecord
    nodes: list[NodeRecord]
    edges: list[EdgeRecord]
    blobs: dict[str, bytes]
    graph: TransportGraph
    lattice: Lattice
    fn_blobs: dict[int, str] = field(default_factory=dict)  # node id -> function digest
    done: dict[int, str] = field(default_factory=dict)  # node id -> output digest (reused)
    replacements: dict[str, Any] = field(default_factory=dict)
    previous_id: str | None = None  # redispatch with reuse: the dispatch redispatched
    force_rerun: frozenset[str] = frozenset()
    reuse_scope: Scope | None = None  # where early cutoff (and sublattices) look
    copy: RowCopy | None = None  # reused rows of ``previous_id`` the store copies as they are


@dataclass(frozen=True)
class AllReused:
    """A redispatch in which every node is reused: recorded COMPLETED, nothing runs.

    The store copies ``source_id``'s node and edge rows with ``reason``.
    """

    record: DispatchRecord
    source_id: str
    reason: dict[str, Any]


def new_dispatch_id() -> str:
    return str(uuid.uuid4())


@gc_paused()
def prepare_dispatch(
    lattice: Lattice,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    replacements: dict[str, Any] | None = None,
    dispatch_id: str | None = None,
    root_dispatch_id: str | None = None,
    sublattice_of: tuple[str, int] | None = None,
    redispatched_from: str | None = None,
    lattice_digest: str | None = None,
) -> Prepared:
    """Bind, trace, fingerprint and serialize; raise before anything is written.

    ``sublattice_of`` is (dispatch id, node id) of the sublattice node this dispatch runs.
    """
    if not isinstance(lattice, Lattice):
        raise TypeError(
            f"ct.dispatch needs a @ct.lattice workflow, got {type(lattice).__name__}; "
            "decorate the workflow function with @ct.lattice"
        )
    lattice.bind_inputs(args, kwargs)
    blobs: dict[str, bytes] = {}
    inputs_digest = _put(blobs, _dump_inputs(lattice, args, kwargs))
    if lattice_digest is None:
        lattice_digest = _put(blobs, _dump(lattice, f"lattice {lattice.name}"))
    graph = lattice.build_graph(*args, replacements=replacements, **kwargs)
    _check_executor_names(lattice, graph)
    with files_read() as read, user_imports() as imported:  # keys that read files, imports
        keys = compute_keys(graph, replacements)
        _lattice_reads(lattice, imported)
    dispatch_id = dispatch_id or new_dispatch_id()
    nodes, fn_blobs = _node_records(dispatch_id, graph, keys, blobs)
    edges = [
        EdgeRecord(dispatch_id, e.parent, e.child, e.name, e.param_type, e.arg_index)
        for e in graph.edges
    ]
    graph_info = {"output_digest": _put(blobs, _dump(graph.output, "the lattice's return value"))}
    metadata: dict[str, Any] = {"lattice": _json_metadata(lattice.metadata)}
    if imported:  # keys read these from sys.path: a redispatch must key again
        metadata["user_imports"] = sorted(imported)
    if replacements:
        metadata["replacements_digest"] = _put(blobs, _dump(replacements, "replace_electrons"))
        metadata["replaced"] = sorted(replacements)
    if read:
        metadata["reads_files"] = True  # redispatch must recompute keys (see redispatch.py)
    record = DispatchRecord(
        dispatch_id=dispatch_id,
        name=lattice.name,
        status=st.NEW_OBJECT,
        root_dispatch_id=root_dispatch_id or dispatch_id,
        created_at=utcnow(),
        lattice_digest=lattice_digest,
        lattice_source=_source(lattice.function),
        inputs_digest=inputs_digest,
        graph=graph_info,
        parent_dispatch_id=sublattice_of[0] if sublattice_of else None,
        parent_node_id=sublattice_of[1] if sublattice_of else None,
        redispatched_from=redispatched_from,
        python_version=platform.python_version(),
        environment=environment(),
        metadata=metadata,
    )
    return Prepared(
        record, nodes, edges, blobs, graph, lattice, fn_blobs, replacements=dict(replacements or {})
    )


def _lattice_reads(lattice: Lattice, imported: set[str]) -> None:
    """Add the user modules the lattice body imports (they shape the graph a re-trace builds)."""
    try:
        lattice.__valence_fingerprint__()
    except Exception as exc:  # unknown (kept in the record): a redispatch must trace again
        reason = exc.reason if isinstance(exc, Unhashable) else f"{type(exc).__name__}: {exc}"
        imported.add(f"(lattice {lattice.name} not fingerprinted: {reason})")


def _check_executor_names(lattice: Lattice, graph: TransportGraph) -> None:
    """An executor named by a task or the lattice must be registered here."""
    names = {lattice.metadata.get("executor"), lattice.metadata.get("workflow_executor")}
    names.update(node.metadata.get("executor") for node in graph.nodes if node.electron is not None)
    wanted = sorted(n for n in names if isinstance(n, str))
    if not wanted:
        return
    from valence.executors import is_registered, registered_names

    unknown = [name for name in wanted if not is_registered(name)]
    if unknown:
        known = registered_names()
        raise UnknownExecutorError(
            f"executor {unknown[0]!r} is not registered (registered: {', '.join(known)}); "
            "check the spelling, install the plugin that provides it, or pass an Executor instance"
        )


def _node_records(
    dispatch_id: str, graph: TransportGraph, keys: list[NodeKey], blobs: dict[str, bytes]
) -> tuple[list[NodeRecord], dict[int, str]]:
    records: list[NodeRecord] = []
    fn_blobs: dict[int, str] = {}
    fn_cache: dict[int, tuple[str, str]] = {}
    shared: dict[Any, dict[str, Any]] = {}
    for node, key in zip(graph.nodes, keys, strict=False):
        record = NodeRecord(
            dispatch_id,
            node.id,
            node.name,
            node.kind._value_,
            st.NEW_OBJECT,
            key.key,
            key.reason,
            metadata=_shared_metadata(node, key, shared),
        )
        if node.kind is NodeKind.PARAMETER:
            record.value_digest = _put(blobs, _dump_argument(node))
        elif node.electron is not None:
            fn_digest, src_digest = _function_blobs(node, fn_cache, blobs)
            record.function_digest, record.source_digest = fn_digest, src_digest
            fn_blobs[node.id] = fn_digest
        records.append(record)
    return records, fn_blobs


def _function_blobs(
    node: Any, cache: dict[int, tuple[str, str]], blobs: dict[str, bytes]
) -> tuple[str, str]:
    electron = node.electron
    found = cache.get(id(electron))
    if found is None:
        target = electron if node.kind is NodeKind.SUBLATTICE else electron.function
        fn_digest = _put(blobs, _dump(target, f"task {electron.name}"))
        source = _source(
            electron.function.function if electron.is_sublattice else electron.function
        )
        found = (fn_digest, _put(blobs, source.encode()))
        cache[id(electron)] = found
    return found


def _shared_metadata(node: Any, key: NodeKey, shared: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """Equal metadata as one dict object, so the store encodes it once per dispatch."""
    if node.electron is None:
        ident: Any = ("helper", node.op)
    else:
        ident = (id(node.electron), node.metadata.get("replaced"), key.code)
    found = shared.get(ident)
    if found is None:
        found = shared[ident] = _node_metadata(node, key)
    return found


def _node_metadata(node: Any, key: NodeKey) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if node.op is not None:
        meta["op"] = node.op
    if node.electron is not None:
        meta.update(_json_metadata(node.metadata))
        meta.update(_signature_info(node.electron))
        if key.code:
            meta["code"] = key.code
    return meta


_PER_FUNCTION: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _cached(function: Any, what: str, compute: Callable[[], Any]) -> Any:
    """Per-function memo that lets the function be garbage-collected."""
    try:
        entry = _PER_FUNCTION.setdefault(function, {})
    except TypeError:  # not weak-referenceable (a builtin): compute every time
        return compute()
    if what not in entry:
        entry[what] = compute()
    return entry[what]


def _signature_info(electron: Any) -> dict[str, Any]:
    """The task's signature as text and as (name, kind, has default) rows."""
    function = electron.function.function if electron.is_sublattice else electron.function

    def compute() -> dict[str, Any]:
        sig = inspect.signature(function)
        params = [[p.name, p.kind.name, p.default is not p.empty] for p in sig.parameters.values()]
        return {"signature": str(sig), "params": params}

    info: dict[str, Any] = _cached(function, "signature", compute)
    return info


def _json_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe view of decorator options (objects shown by repr)."""
    out: dict[str, Any] = {}
    for name, value in metadata.items():
        if value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = repr(value)
    return out


def _dump_inputs(lattice: Lattice, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    try:
        return serialize.dumps({"args": tuple(args), "kwargs": dict(kwargs)})
    except SerializationError:
        bound = lattice.bind_inputs(args, kwargs)
        for name, value in bound.arguments.items():
            _dump(value, f"argument {name!r} of lattice {lattice.name}")
        raise


def _dump(value: Any, what: str) -> bytes:
    try:
        return serialize.dumps(value)
    except SerializationError as exc:
        raise SerializationError(f"{what} cannot be serialized: {exc}") from exc


def _dump_argument(node: Any) -> bytes:
    """A parameter node's value pickled; the error names the argument."""
    try:
        return serialize.dumps(node.value)
    except SerializationError:
        return _dump(node.value, f"argument {node.bare_name!r}")


def _put(blobs: dict[str, bytes], data: bytes) -> str:
    digest = serialize.digest(data)
    blobs[digest] = data
    return digest


def _source(function: Any) -> str:
    """The function's source text ("" when it has none), kept on the function once read."""
    remember_source(function)
    return getattr(function, "__valence_source__", None) or ""


@lru_cache(maxsize=1)
def _environment() -> tuple[tuple[str, str], ...]:
    from importlib import metadata

    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = _name_and_version(dist)
        if name and version is not None:  # without a version it is not an installed package
            versions[name.lower()] = version
    return tuple(sorted(versions.items()))


def _name_and_version(dist: Any) -> tuple[str | None, str | None]:
    """A distribution's Name and Version headers, read without parsing its whole metadata.

    ``dist.metadata`` runs the e-mail parser over every file (long descriptions
    included): ~0.25 s for a hundred distributions, most of a fresh process's dispatch.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line:  # the headers end at the first empty line
            break
        key, colon, value = line.partition(":")
        if colon and key in ("Name", "Version"):
            found.setdefault(key, value.strip())
    return found.get("Name"), found.get("Version")


def environment() -> dict[str, str]:
    """Installed distributions and their versions (computed once per process)."""
    return dict(_environment())
