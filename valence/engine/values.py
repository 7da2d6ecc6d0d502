"""Loading the values a dispatch's nodes consume: in memory, or read from the store.

Outputs of nodes that ran here are held in the dispatch's state (as values, or
as :class:`Lazy` bytes not yet unpickled); outputs of reused or resumed nodes
are read from the store when first needed. Which values stay in memory is the
state's policy (``state.hold``, ``state.loaded``, ``state.consumed``).
"""

from __future__ import annotations

from typing import Any

from valence import serialize
from valence.engine import state as transitions
from valence.engine.run import Lazy, Run
from valence.errors import SerializationError
from valence.store import Store
from valence.workflow.graph import Node, NodeKind
from valence.workflow.tracing import from_template, template_refs


def inputs(store: Store, run: Run, node: Node) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments of ``node``, each input consumed once."""
    positional: list[tuple[int, Any]] = []
    kwargs: dict[str, Any] = {}
    edges = [e for e in run.state.incoming[node.id] if e.param_type != "wait"]
    prefetch(store, run, [e.parent for e in edges])
    for edge in edges:
        value = load(store, run, edge.parent)
        transitions.consumed(run.state, edge.parent)
        if edge.param_type == "arg" or node.kind is NodeKind.COLLECTION:
            positional.append((edge.arg_index or 0, value))
        else:
            kwargs[edge.name] = value
    positional.sort(key=lambda pair: pair[0])
    return [v for _, v in positional], kwargs


def lattice_output(store: Store, run: Run) -> Any:
    """The lattice's return value, built from its nodes' outputs."""
    output = run.state.graph.output
    prefetch(store, run, template_refs(output))
    return from_template(output, lambda node_id: load(store, run, node_id))


def prefetch(store: Store, run: Run, node_ids: list[int]) -> None:
    """Outputs not in memory (reused or resumed nodes), read in one query."""
    held, digests = run.state.values, run.state.digests
    wanted = {i: digests[i] for i in node_ids if i not in held}
    if wanted:
        blobs = store.get_blobs(wanted.values())
        transitions.hold(run.state, {i: Lazy(blobs[digest]) for i, digest in wanted.items()})


def load(store: Store, run: Run, node_id: int) -> Any:
    """The output of ``node_id`` as a value."""
    held = run.state.values.get(node_id, _MISSING)
    if held is not _MISSING and not isinstance(held, Lazy):
        return held
    data = held.data if isinstance(held, Lazy) else store.get_blob(run.state.digests[node_id])
    value = unpickle(run, node_id, data)
    transitions.loaded(run.state, node_id, value)
    return value


def unpickle(run: Run, node_id: int, data: bytes) -> Any:
    """A stored output, unpickled; an error names the node that produced it.

    Whatever the value's own code raises (even SystemExit) fails only its consumers.
    """
    name = run.state.graph.nodes[node_id].name
    origin = f"the output of node {node_id} ({name})"
    try:
        return serialize.load_named(data, origin)
    except Exception:
        raise
    except BaseException as exc:
        raise SerializationError(f"cannot load {origin}: {type(exc).__name__}: {exc}") from exc


def function_bytes(store: Store, run: Run, digest: str) -> bytes:
    """A task's pickled function: from the dispatch being prepared, else from the store."""
    data = run.prepared.blobs.get(digest)
    return data if data is not None else store.get_blob(digest)


_MISSING = object()
