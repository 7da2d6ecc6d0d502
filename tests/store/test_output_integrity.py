"""The reused-output integrity check, whose hashing of inline rows runs in the database.

``blob_problems`` and ``output_problems`` must name exactly the blobs a read
would refuse: for any mix of intact, damaged (same size or not) and missing
blobs, inline rows and files, node outputs and a dispatch's result, they agree
with reading every blob one by one. On SQLite and, when ``VALENCE_TEST_POSTGRES_URL``
is set, PostgreSQL (each hashes in its own way).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from tests.contracts import make_dispatch, make_nodes
from tests.pg import POSTGRES_URL, SKIP_REASON, fresh_schema
from valence.blobfiles import INLINE_LIMIT, digest_of
from valence.errors import BlobCorruptError, BlobMissingError
from valence.store import Store
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
