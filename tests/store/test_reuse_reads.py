"""What a redispatch reads of a previous dispatch: its outputs' integrity, its nodes and edges.

The reused-output integrity check hashes inline rows in the database; still,
``blob_problems`` and ``output_problems`` must name exactly the blobs a read
would refuse: for any mix of intact, damaged (same size or not) and missing
blobs, inline rows and files, node outputs and a dispatch's result, they agree
with reading every blob one by one. The planning read of a dispatch's nodes gives
:meth:`Store.get_nodes`'s records but for the fields it leaves out, with equal
metadata shared. On SQLite and, when ``VALENCE_TEST_POSTGRES_URL`` is set,
PostgreSQL (each hashes and reads in its own way).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import astuple, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from tests.contracts import full_node, make_dispatch, make_nodes
from tests.pg import POSTGRES_URL, SKIP_REASON, fresh_schema
from valence.blobfiles import INLINE_LIMIT, digest_of
from valence.errors import BlobCorruptError, BlobMissingError, DispatchNotFoundError
from valence.store import Store
from valence.store.planning import NOT_READ
from valence.store.records import EdgeRecord
from valence.store.tables import blobs

FATES = ("intact", "damaged", "shorter", "missing")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with ExitStack() as stack:
        if request.param == "postgres":
            if not POSTGRES_URL:
                pytest.skip(SKIP_REASON)
            url = stack.enter_context(fresh_schema()).render_as_string(hide_password=False)
        else:
            url = f"sqlite:///{tmp_path / 'v.db'}"
        yield stack.enter_context(Store.open(url, tmp_path / "blobs"))


def spoil(store: Store, digest: str, fate: str) -> None:
    """Damage (same size, or shorter) or lose the blob ``digest`` behind the store's back."""
    if fate == "intact":
        return
    path = store._files.path(digest)  # type: ignore[attr-defined]
    with store._engine.begin() as conn:
        (location, data) = conn.execute(
            blobs.select()
            .with_only_columns(blobs.c.location, blobs.c.data)
            .where(blobs.c.digest == digest)
        ).one()
        if fate == "missing":
            if location == "file":
                path.unlink()
            else:
                conn.execute(delete(blobs).where(blobs.c.digest == digest))
            return
        if location == "file":
            data = path.read_bytes()
        bad = bytes(b ^ 0xFF for b in data) if fate == "damaged" else data[:-1]
        if location == "file":
            path.write_bytes(bad)
        else:
            conn.execute(update(blobs).where(blobs.c.digest == digest).values(data=bad))


def read_problems(store: Store, digests: list[str]) -> dict[str, str]:
    """The reference: read each blob and see whether the read refuses it."""
    found = {}
    for digest in digests:
        try:
            store.get_blob(digest)
        except BlobCorruptError:
            found[digest] = "damaged"
        except BlobMissingError:
            found[digest] = "missing"
    return found


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cases=st.lists(st.tuples(st.sampled_from(FATES), st.booleans()), min_size=1, max_size=6),
    result_fate=st.sampled_from(FATES),
)
def test_problems_are_exactly_what_a_read_refuses(
    store: Store, cases: list[tuple[str, bool]], result_fate: str
) -> None:
    dispatch_id = f"d-{os.urandom(4).hex()}"
    values = [os.urandom(3 * INLINE_LIMIT if big else 40) for _, big in cases]
    result = os.urandom(50)
    nodes = [
        replace(node, output_digest=digest_of(value))
        for node, value in zip(make_nodes(dispatch_id, len(values)), values, strict=True)
    ]
    nodes.append(replace(make_nodes(dispatch_id, len(values) + 1)[-1], output_digest=None))
    stored = {digest_of(v): v for v in [*values, result]}
    dispatch = make_dispatch(dispatch_id, result_digest=digest_of(result))
    store.record_dispatch(dispatch, nodes, [], stored)
    for (fate, _), value in zip(cases, values, strict=True):
        spoil(store, digest_of(value), fate)
    spoil(store, digest_of(result), result_fate)
    expected = read_problems(store, list(stored))
    assert store.blob_problems(stored) == expected
    assert store.output_problems(dispatch_id) == expected
    for value in stored.values():  # repaired for the next example
        store.put_blob(value)
    assert store.output_problems(dispatch_id) == {}


def test_a_digest_never_stored_is_missing_and_bad_digests_raise(store: Store) -> None:
    unknown = digest_of(b"never stored")
    assert store.blob_problems([unknown, "", unknown]) == {unknown: "missing"}
    with pytest.raises(ValueError, match="not a blob digest"):
        store.blob_problems(["../etc/passwd"])


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    metadata=st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                lambda inner: st.lists(inner, max_size=3),
                max_leaves=5,
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    ),
    count=st.integers(1, 12),
)
def test_the_planning_read_is_get_nodes_without_reason_or_times(
    store: Store, metadata: list[dict[str, Any]], count: int
) -> None:
    dispatch_id = f"d-{os.urandom(4).hex()}"
    nodes = [
        replace(full_node(dispatch_id, i), metadata=metadata[i % len(metadata)])
        for i in range(count)
    ]
    nodes[0] = replace(nodes[0], key=None, output_digest=None, start_time=None, reason=None)
    edges = [
        EdgeRecord(dispatch_id, i - 1, i, f"x{i}", "arg", i % 2 or None) for i in range(1, count)
    ]
    store.record_dispatch(make_dispatch(dispatch_id), nodes, edges)
    full = store.get_nodes(dispatch_id)
    lean = store.get_nodes_for_planning(dispatch_id)
    unread = dict.fromkeys(NOT_READ)
    assert lean == [replace(node, **unread) for node in full]
    shared = {json.dumps(n.metadata, sort_keys=True): id(n.metadata) for n in lean}
    assert all(id(n.metadata) == shared[json.dumps(n.metadata, sort_keys=True)] for n in lean)
    assert store.get_edge_rows(dispatch_id) == [
        astuple(e)[1:] for e in store.get_edges(dispatch_id)
    ]


def test_the_planning_read_of_an_unknown_dispatch_raises(store: Store) -> None:
    with pytest.raises(DispatchNotFoundError):
        store.get_nodes_for_planning("no-such-dispatch")
    store.record_dispatch(make_dispatch("empty"), [], [])
    assert store.get_nodes_for_planning("empty") == []
