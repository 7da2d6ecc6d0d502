"""Contract tests shared by several implementations of one seam.

``StoreContract``: every test takes the ``store`` fixture. A subclass provides a
``store_url`` fixture naming an empty database; the contract then opens stores
on it with a private blob directory (``open_store`` opens more on the same place,
as another dispatcher would).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from valence.errors import (
    BlobCorruptError,
    BlobMissingError,
    DispatchNotFoundError,
    SchemaVersionError,
    StoreError,
)
from valence.store import INLINE_LIMIT, NodeNotFoundError, Store, migrate
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
IST = timezone(timedelta(hours=5, minutes=30))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_dispatch(dispatch_id: str | None = None, **fields: object) -> DispatchRecord:
    dispatch_id = dispatch_id or str(uuid.uuid4())
    defaults: dict[str, object] = {
        "name": "pipeline",
        "status": "NEW_OBJECT",
        "root_dispatch_id": dispatch_id,
        "created_at": T0,
    }
    return DispatchRecord(dispatch_id=dispatch_id, **{**defaults, **fields})  # type: ignore[arg-type]


def make_nodes(dispatch_id: str, count: int, **fields: object) -> list[NodeRecord]:
    return [
        NodeRecord(dispatch_id, i, f"task_{i}", "electron", "NEW_OBJECT", **fields)  # type: ignore[arg-type]
        for i in range(count)
    ]


def chain_edges(dispatch_id: str, count: int) -> list[EdgeRecord]:
    return [EdgeRecord(dispatch_id, i - 1, i, "x", "arg", 0) for i in range(1, count)]


def full_dispatch(dispatch_id: str) -> DispatchRecord:
    """A dispatch with every field set to something other than its default."""
    return DispatchRecord(
        dispatch_id=dispatch_id,
        name="train",
        status="RUNNING",
        root_dispatch_id="root-" + dispatch_id,
        created_at=T0.astimezone(IST),
        lattice_digest=digest(b"lattice"),
        lattice_source="def train(x):\n    return fit(x)\n",
        inputs_digest=digest(b"inputs"),
        graph={"lattice_metadata": {"executor": "local"}, "nodes": [1, 2.5, None, "é"]},
        parent_dispatch_id="parent",
        parent_node_id=7,
        redispatched_from="older",
        start_time=T0 + timedelta(seconds=1),
        end_time=T0 + timedelta(hours=1),
        result_digest=digest(b"result"),
        error="ValueError: bad\n",
        python_version="3.11.7",
        environment={"numpy": "2.0.0"},
        metadata={"workflow_executor": "local", "deps": ["a", {"b": True}]},
        owner="host:123",
    )


def full_node(dispatch_id: str, node_id: int) -> NodeRecord:
    """A node with every field set to something other than its default."""
    return NodeRecord(
        dispatch_id=dispatch_id,
        node_id=node_id,
        name=f":sublattice:step_{node_id}",
        kind="sublattice",
        status="COMPLETED",
        key=digest(f"key{node_id}".encode()),
        not_reusable="never",
        function_digest=digest(b"fn"),
        source_digest=digest(b"src"),
        value_digest=digest(b"value"),
        metadata={"executor": "dask", "retries": 2, "nested": {"deps": []}},
        executor="dask",
        start_time=T0.astimezone(IST),
        end_time=T0 + timedelta(microseconds=5),
        output_digest=digest(b"out"),
        stdout="out ✓\n",
        stderr="warn\n",
        error="RuntimeError: x",
        traceback="Traceback (most recent call last):\n...",
        attempts=3,
        sub_dispatch_id="child",
        reused_from_dispatch="older",
        reused_from_node=node_id,
        reason={"reused": False, "why": "new_args", "old": "a", "new": "b"},
    )


class StoreContract:
    """Behaviour every ``Store`` backend must have."""

    @pytest.fixture
    def store_url(self) -> str:  # pragma: no cover - provided by subclasses
        raise NotImplementedError("subclasses provide a store_url fixture")

    @pytest.fixture
    def blob_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "home" / "blobs"

    @pytest.fixture
    def open_store(self, store_url: str, blob_dir: Path) -> Iterator[Callable[[], Store]]:
        opened: list[Store] = []

        def open_() -> Store:
            opened.append(Store.open(store_url, blob_dir))
            return opened[-1]

        yield open_
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, open_store: Callable[[], Store]) -> Store:
        return open_store()

    # -- records ---------------------------------------------------------------------

    def test_round_trip_of_every_field(self, store: Store) -> None:
        dispatch = full_dispatch("d-full")
        nodes = [full_node("d-full", 1), full_node("d-full", 0)]
        edges = [
            EdgeRecord("d-full", 0, 1, "x", "kwarg"),
            EdgeRecord("d-full", 0, 1, "wait", "wait"),
            EdgeRecord("d-full", 1, 0, "args", "arg", 3),
        ]
        store.record_dispatch(dispatch, nodes, edges)
        got = store.get_dispatch("d-full")
        assert got == dispatch
        assert got.created_at.tzinfo is timezone.utc
        assert got.created_at == T0
        assert store.get_nodes("d-full") == sorted(nodes, key=lambda n: n.node_id)
        assert store.get_node("d-full", 1) == nodes[0]
        assert store.get_node("d-full", 1).start_time.tzinfo is timezone.utc  # type: ignore[union-attr]
        assert store.get_edges("d-full") == edges
        assert store.get_status("d-full") == "RUNNING"

    def test_nodes_can_be_read_without_their_streams(self, store: Store) -> None:
        nodes = make_nodes("d-streams", 2, stdout="out " * 1000, stderr="err")
        store.record_dispatch(make_dispatch("d-streams"), nodes, [])
        light = store.get_nodes("d-streams", streams=False)
        assert [(n.stdout, n.stderr) for n in light] == [(None, None)] * 2
        assert [replace(n, stdout="", stderr="") for n in light] == [
            replace(n, stdout="", stderr="") for n in nodes
        ]
        assert store.get_node("d-streams", 1).stdout == "out " * 1000

    def test_round_trip_of_defaults_and_nones(self, store: Store) -> None:
        dispatch = make_dispatch("d-min")
        nodes = make_nodes("d-min", 2)
        store.record_dispatch(dispatch, nodes, [])
        assert store.get_dispatch("d-min") == dispatch
        assert store.get_nodes("d-min") == nodes
        assert store.get_edges("d-min") == []
        assert store.get_nodes("d-min")[0].reason is None

    def test_empty_dispatch(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("empty"), [], [])
        assert store.get_nodes("empty") == []
        assert store.get_edges("empty") == []

    def test_naive_datetime_is_refused_and_nothing_written(self, store: Store) -> None:
        naive = datetime(2026, 1, 1)
        with pytest.raises(ValueError, match="naive datetime"):
            store.record_dispatch(make_dispatch("d", created_at=naive), [], [])
        with pytest.raises(ValueError, match="naive datetime"):
            store.record_dispatch(make_dispatch("d"), make_nodes("d", 1, start_time=naive), [])
        assert store.list_dispatches() == []
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 1), [])
        with pytest.raises(ValueError, match="naive datetime"):
            store.record_transitions(nodes=[("d", 0, {"status": "X", "start_time": naive})])
        assert store.get_node("d", 0).status == "NEW_OBJECT"

    def test_duplicate_dispatch_is_refused(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("dup", name="first"), make_nodes("dup", 1), [])
        blob = b"not stored"
        with pytest.raises(StoreError, match="already recorded"):
            store.record_dispatch(
                make_dispatch("dup", name="second"), make_nodes("dup", 2), [], {digest(blob): blob}
            )
        assert store.get_dispatch("dup").name == "first"
        assert len(store.get_nodes("dup")) == 1
        assert not store.has_blob(digest(blob))

    def test_records_of_another_dispatch_are_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="of dispatch 'other'"):
            store.record_dispatch(make_dispatch("d"), make_nodes("other", 1), [])
        with pytest.raises(ValueError, match="of dispatch 'other'"):
            store.record_dispatch(make_dispatch("d"), [], chain_edges("other", 2))
        assert store.list_dispatches() == []

    def test_record_dispatch_writes_its_blobs(self, store: Store) -> None:
        small, large = b"small", os.urandom(INLINE_LIMIT * 2)
        blobs = {digest(small): small, digest(large): large}
        dispatch = make_dispatch("d", inputs_digest=digest(small), lattice_digest=digest(large))
        store.record_dispatch(dispatch, [], [], blobs)
        assert store.get_blob(digest(small)) == small
        assert store.get_blob(digest(large)) == large

    def test_blob_with_wrong_digest_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="has sha256"):
            store.record_dispatch(make_dispatch("d"), [], [], {digest(b"a"): b"b"})
        assert store.list_dispatches() == []
        assert not store.has_blob(digest(b"a"))

    # -- unknown ids -----------------------------------------------------------------

    def test_unknown_dispatch(self, store: Store) -> None:
        for read in (store.get_dispatch, store.get_status, store.get_nodes, store.get_edges):
            with pytest.raises(DispatchNotFoundError) as info:
                read("nope")
            message = str(info.value)
            assert message.startswith("no dispatch with id 'nope' in ")
            assert message.endswith("; list dispatches with `valence list`")
            assert isinstance(info.value, KeyError)
        with pytest.raises(DispatchNotFoundError):
            store.get_node("nope", 0)
        with pytest.raises(DispatchNotFoundError):
            store.delete_dispatch("nope")
        with pytest.raises(DispatchNotFoundError):
            store.claim_dispatch("nope", "me", expected_owner=None)

    def test_unknown_node(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 3), [])
        with pytest.raises(NodeNotFoundError, match=r"has no node 5 \(its node ids are 0..2\)"):
            store.get_node("d", 5)
        with pytest.raises(KeyError):
            store.get_node("d", 5)

    # -- transitions -----------------------------------------------------------------

    def test_transitions(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 4), [])
        out = b"output"
        store.record_transitions(
            nodes=[
                ("d", 0, {"status": "RUNNING", "start_time": T0.astimezone(IST)}),
                ("d", 1, {"status": "RUNNING"}),
                ("d", 2, {"status": "RUNNING", "start_time": T0}),
                ("d", 0, {"status": "COMPLETED", "output_digest": digest(out), "attempts": 1}),
                ("d", 3, {"reason": {"why": "new_task"}, "stdout": "hello"}),
            ],
            dispatches=[("d", {"status": "RUNNING", "start_time": T0, "owner": "me"})],
            blobs={digest(out): out},
        )
        n0, n1, n2, n3 = store.get_nodes("d")
        assert (n0.status, n0.start_time, n0.output_digest, n0.attempts) == (
            "COMPLETED",
            T0,
            digest(out),
            1,
        )
        assert (n1.status, n1.start_time) == ("RUNNING", None)
        assert (n2.status, n2.start_time) == ("RUNNING", T0)
        assert (n3.status, n3.reason, n3.stdout) == ("NEW_OBJECT", {"why": "new_task"}, "hello")
        dispatch = store.get_dispatch("d")
        assert (dispatch.status, dispatch.start_time, dispatch.owner) == ("RUNNING", T0, "me")
        assert store.get_blob(digest(out)) == out

    def test_transitions_apply_in_order_across_field_sets(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 2), [])
        store.record_transitions(
            nodes=[
                ("d", 1, {"status": "RUNNING"}),
                ("d", 0, {"status": "RUNNING", "start_time": T0}),
                ("d", 0, {"status": "COMPLETED"}),
            ]
        )
        assert [n.status for n in store.get_nodes("d")] == ["COMPLETED", "RUNNING"]

    def test_transitions_can_clear_fields(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), [full_node("d", 0)], [])
        store.record_transitions(nodes=[("d", 0, {"reason": None, "error": None})])
        node = store.get_node("d", 0)
        assert (node.reason, node.error) == (None, None)

    def test_unknown_fields_are_refused_and_nothing_written(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 2), [])
        blob = b"blob"
        with pytest.raises(ValueError, match=r"cannot change field\(s\) \['name'\]"):
            store.record_transitions(
                nodes=[("d", 0, {"status": "RUNNING"}), ("d", 1, {"name": "x"})],
                blobs={digest(blob): blob},
            )
        with pytest.raises(ValueError, match=r"\['created_at'\]"):
            store.record_transitions(
                nodes=[("d", 0, {"status": "RUNNING"})],
                dispatches=[("d", {"created_at": T0})],
            )
        assert [n.status for n in store.get_nodes("d")] == ["NEW_OBJECT", "NEW_OBJECT"]
        assert not store.has_blob(digest(blob))

    def test_transition_of_unknown_target_is_refused_and_nothing_written(
        self, store: Store
    ) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 2), [])
        with pytest.raises(StoreError, match=r"1 transition\(s\) name no recorded"):
            store.record_transitions(
                nodes=[("d", 0, {"status": "RUNNING"}), ("d", 9, {"status": "RUNNING"})]
            )
        with pytest.raises(StoreError, match="'ghost'"):
            store.record_transitions(
                nodes=[("d", 0, {"status": "RUNNING"})],
                dispatches=[("ghost", {"status": "RUNNING"})],
            )
        assert store.get_node("d", 0).status == "NEW_OBJECT"

    def test_empty_transitions_are_a_no_op(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 2), [])
        before = (store.get_dispatch("d"), store.get_nodes("d"), store.unreferenced_blobs())
        store.record_transitions()
        store.record_transitions(nodes=[("ghost", 0, {})], dispatches=[("d", {})])
        after = (store.get_dispatch("d"), store.get_nodes("d"), store.unreferenced_blobs())
        assert after == before
        assert [d.dispatch_id for d in store.list_dispatches()] == ["d"]

    # -- blobs -----------------------------------------------------------------------

    @pytest.mark.parametrize("size", [0, 1, INLINE_LIMIT, INLINE_LIMIT + 1, 3 * INLINE_LIMIT])
    def test_blob_round_trip_at_the_inline_threshold(
        self, store: Store, blob_dir: Path, size: int
    ) -> None:
        data = os.urandom(size)
        key = store.put_blob(data)
        assert key == digest(data)
        assert store.has_blob(key)
        assert store.get_blob(key) == data
        path = blob_dir / key[:2] / key[2:]
        assert path.exists() == (size > INLINE_LIMIT)
        if size > INLINE_LIMIT:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(blob_dir.stat().st_mode) == 0o700

    def test_put_twice_is_a_no_op(self, store: Store, blob_dir: Path) -> None:
        data = os.urandom(INLINE_LIMIT + 10)
        key = store.put_blob(data)
        path = blob_dir / key[:2] / key[2:]
        before = path.stat()
        assert store.put_blob(data) == key
        after = path.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert store.put_blob(b"tiny") == store.put_blob(b"tiny")
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left

    @pytest.mark.parametrize("size", [100, INLINE_LIMIT * 4])
    def test_concurrent_put_of_one_blob(self, store: Store, size: int) -> None:
        data = os.urandom(size)
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def put() -> None:
            try:
                barrier.wait()
                for _ in range(5):
                    store.put_blob(data)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=put) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.get_blob(digest(data)) == data

    def test_missing_blob(self, store: Store, blob_dir: Path) -> None:
        absent = digest(b"absent")
        with pytest.raises(BlobMissingError, match=absent):
            store.get_blob(absent)
        assert not store.has_blob(absent)
        data = os.urandom(INLINE_LIMIT + 1)
        key = store.put_blob(data)
        (blob_dir / key[:2] / key[2:]).unlink()
        with pytest.raises(BlobMissingError, match=f"{key}.*file .* is missing"):
            store.get_blob(key)
        store.put_blob(data)  # a put restores a lost file...
        assert store.get_blob(key) == data
        (blob_dir / key[:2] / key[2:]).write_bytes(data[:10])
        with pytest.raises(BlobCorruptError, match="damaged"):
            store.get_blob(key)
        store.put_blob(data)  # ...and a damaged one
        assert store.get_blob(key) == data

    def test_get_blobs_reads_inline_and_file_blobs_together(self, store: Store) -> None:
        values = [b"small", os.urandom(INLINE_LIMIT + 1)] + [b"v%d" % i for i in range(600)]
        keys = [store.put_blob(v) for v in values]
        assert store.get_blobs(keys + keys[:1]) == dict(zip(keys, values, strict=True))
        with pytest.raises(BlobMissingError, match=digest(b"absent")):
            store.get_blobs([keys[0], digest(b"absent")])

    def test_malformed_digest(self, store: Store) -> None:
        for bad in ("", "../../etc/passwd", "A" * 64, digest(b"x")[:-1]):
            with pytest.raises(ValueError, match="not a blob digest"):
                store.get_blob(bad)

    # One store serves every example (put is idempotent), and each backend subclass
    # runs the same inherited method: both are fine here, hence the suppressions.
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
    )
    @given(
        data=st.one_of(
            st.binary(max_size=64),
            st.integers(INLINE_LIMIT - 32, INLINE_LIMIT + 32).flatmap(
                lambda n: st.binary(min_size=n, max_size=n)
            ),
        )
    )
    def test_any_bytes_round_trip(self, store: Store, data: bytes) -> None:
        key = store.put_blob(data)
        assert store.get_blob(key) == data
        assert store.has_blob(key)

    # -- queries ---------------------------------------------------------------------

    def test_resolve_id(self, store: Store) -> None:
        for dispatch_id in ("abc123", "abd456", "abd789", "x_y", "x%z"):
            store.record_dispatch(make_dispatch(dispatch_id), [], [])
        assert store.resolve_id("abc") == "abc123"
        assert store.resolve_id("abc123") == "abc123"
        assert store.resolve_id("x_") == "x_y"
        assert store.resolve_id("x%") == "x%z"
        with pytest.raises(StoreError, match="ambiguous: it matches abd456, abd789") as info:
            store.resolve_id("abd")
        assert not isinstance(info.value, DispatchNotFoundError)
        with pytest.raises(DispatchNotFoundError, match="no dispatch with id 'zzz'"):
            store.resolve_id("zzz")
        with pytest.raises(ValueError):
            store.resolve_id("")

    def test_resolve_id_matches_any_case(self, store: Store) -> None:
        dispatch_id = "3f2a9c4e-0b1d-4e5f-8a7b-6c5d4e3f2a1b"
        store.record_dispatch(make_dispatch(dispatch_id), [], [])
        for typed in ("3F2A", "3f2a", " 3F2A9C4E-0B1D ", dispatch_id.upper()):
            assert store.resolve_id(typed) == dispatch_id
        with pytest.raises(TypeError, match="a dispatch id is a str"):
            store.resolve_id(12345)  # type: ignore[arg-type]

    def test_list_dispatches(self, store: Store) -> None:
        for i in range(6):
            store.record_dispatch(
                make_dispatch(
                    f"d{i}",
                    name="even" if i % 2 == 0 else "odd",
                    status="COMPLETED" if i < 3 else "RUNNING",
                    created_at=T0 + timedelta(minutes=i),
                ),
                [],
                [],
            )
        ids = lambda records: [r.dispatch_id for r in records]  # noqa: E731
        assert ids(store.list_dispatches()) == ["d5", "d4", "d3", "d2", "d1", "d0"]
        assert ids(store.list_dispatches(status="RUNNING")) == ["d5", "d4", "d3"]
        assert ids(store.list_dispatches(name="even")) == ["d4", "d2", "d0"]
        assert ids(store.list_dispatches(name="even", status="COMPLETED")) == ["d2", "d0"]
        since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=4)
        assert ids(store.list_dispatches(since=since)) == ["d5", "d4", "d3", "d2", "d1"]
        assert ids(store.list_dispatches(until=until)) == ["d3", "d2", "d1", "d0"]
        assert ids(store.list_dispatches(since=since.astimezone(IST), until=until)) == [
            "d3",
            "d2",
            "d1",
        ]
        assert ids(store.list_dispatches(limit=2)) == ["d5", "d4"]
        assert ids(store.list_dispatches(limit=2, offset=2)) == ["d3", "d2"]
        assert ids(store.list_dispatches(limit=10, offset=5)) == ["d0"]
        assert store.list_dispatches(status="FAILED") == []
        with pytest.raises(ValueError):
            store.list_dispatches(limit=-1)
        with pytest.raises(ValueError, match="naive datetime"):
            store.list_dispatches(since=datetime(2026, 1, 1))

    def test_node_counts(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("a"), make_nodes("a", 3), [])
        store.record_dispatch(make_dispatch("b"), make_nodes("b", 1), [])
        store.record_transitions(nodes=[("a", 0, {"status": "COMPLETED"})])
        counts = store.node_counts(["a", "b", "ghost"])
        assert counts == {
            "a": {"NEW_OBJECT": 2, "COMPLETED": 1},
            "b": {"NEW_OBJECT": 1},
            "ghost": {},
        }
        assert store.node_counts([]) == {}
        helpers = [NodeRecord("c", 1, ":parameter:1", "parameter", "COMPLETED")]
        store.record_dispatch(make_dispatch("c"), make_nodes("c", 1) + helpers, [])
        assert store.node_counts(["c"]) == {"c": {"NEW_OBJECT": 1, "COMPLETED": 1}}
        assert store.node_counts(["c"], tasks_only=True) == {"c": {"NEW_OBJECT": 1}}

    def test_children_and_unfinished(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("root", status="COMPLETED"), [], [])
        later = T0 + timedelta(seconds=1)
        store.record_dispatch(
            make_dispatch("re", redispatched_from="root", created_at=later), [], []
        )
        store.record_dispatch(
            make_dispatch("sub", parent_dispatch_id="root", parent_node_id=1, status="FAILED"),
            [],
            [],
        )
        store.record_dispatch(make_dispatch("other", status="CANCELLED"), [], [])
        assert [d.dispatch_id for d in store.children("root")] == ["sub", "re"]
        assert store.children("re") == []
        assert [d.dispatch_id for d in store.unfinished()] == ["re"]

    # -- ownership and deletion ------------------------------------------------------

    def test_claim_dispatch_is_compare_and_set(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), [], [])
        assert store.claim_dispatch("d", "a", expected_owner=None)
        assert not store.claim_dispatch("d", "b", expected_owner=None)
        assert not store.claim_dispatch("d", "b", expected_owner="c")
        assert store.get_dispatch("d").owner == "a"
        assert store.claim_dispatch("d", "b", expected_owner="a")
        assert store.get_dispatch("d").owner == "b"
        assert store.claim_dispatch("d", None, expected_owner="b")
        assert store.get_dispatch("d").owner is None

    def test_concurrent_claims_have_one_winner(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d", owner="dead"), [], [])
        barrier = threading.Barrier(6)
        wins: list[str] = []

        def claim(owner: str) -> None:
            barrier.wait()
            if store.claim_dispatch("d", owner, expected_owner="dead"):
                wins.append(owner)

        threads = [threading.Thread(target=claim, args=(f"o{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1
        assert store.get_dispatch("d").owner == wins[0]

    def test_delete_and_collect_blobs(self, store: Store, blob_dir: Path) -> None:
        shared, own, loose = b"shared", os.urandom(INLINE_LIMIT + 1), b"loose"
        blobs = {digest(b): b for b in (shared, own, loose)}
        store.record_dispatch(
            make_dispatch("a", inputs_digest=digest(shared)),
            make_nodes("a", 2, output_digest=digest(own)),
            chain_edges("a", 2),
            blobs,
        )
        store.record_dispatch(
            make_dispatch("b"), make_nodes("b", 1, value_digest=digest(shared)), []
        )
        assert store.unreferenced_blobs() == [digest(loose)]
        store.delete_dispatch("a")
        with pytest.raises(DispatchNotFoundError):
            store.get_dispatch("a")
        with pytest.raises(DispatchNotFoundError):
            store.get_edges("a")
        assert store.unreferenced_blobs() == sorted([digest(loose), digest(own)])
        assert store.delete_blobs([digest(shared)]) == 0  # still referenced by b
        assert store.delete_blobs(store.unreferenced_blobs()) == 2
        assert store.unreferenced_blobs() == []
        assert not (blob_dir / digest(own)[:2] / digest(own)[2:]).exists()
        assert store.get_blob(digest(shared)) == shared
        assert store.delete_blobs([]) == 0

    def test_digests_inside_json_keep_their_blobs(self, store: Store) -> None:
        kept = [b"graph", b"dispatch metadata", b"node metadata"]
        loose = b"loose"
        store.record_dispatch(
            make_dispatch(
                "d",
                graph={"output_digest": digest(kept[0])},
                metadata={"replacements": [{"digest": digest(kept[1])}]},
            ),
            make_nodes("d", 1, metadata={digest(kept[2]): "by key"}),
            [],
            {digest(b): b for b in (*kept, loose)},
        )
        assert store.unreferenced_blobs() == [digest(loose)]
        assert store.delete_blobs(digest(b) for b in (*kept, loose)) == 1
        assert all(store.get_blob(digest(b)) == b for b in kept)

    # -- schema and processes --------------------------------------------------------

    def test_schema_is_at_head(self, store: Store) -> None:
        assert store.schema_revision() == migrate.HEAD_REVISION == migrate.script_head()

    def test_migrations_match_the_tables(self, store: Store) -> None:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from valence.store.tables import metadata

        with store._engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []

    def test_newer_schema_is_refused_untouched(
        self, store: Store, open_store: Callable[[], Store]
    ) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 1), [])
        with store._engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
        with pytest.raises(SchemaVersionError) as info:
            open_store()
        message = str(info.value)
        assert "has schema revision ffff_from_the_future, newer than this valence" in message
        assert f"understands ({migrate.HEAD_REVISION}); upgrade valence or point " in message
        assert store.schema_revision() == "ffff_from_the_future"
        assert store.get_nodes("d") == make_nodes("d", 1)

    def test_second_open_shares_the_data(
        self, store: Store, open_store: Callable[[], Store]
    ) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 2), [])
        other = open_store()
        assert other.get_nodes("d") == make_nodes("d", 2)
        other.record_transitions(nodes=[("d", 1, {"status": "COMPLETED"})])
        assert store.get_node("d", 1).status == "COMPLETED"

    def test_another_process_reads_and_writes(
        self, store: Store, store_url: str, blob_dir: Path
    ) -> None:
        big = os.urandom(INLINE_LIMIT + 1)
        store.record_dispatch(
            make_dispatch("mine", result_digest=digest(big)),
            make_nodes("mine", 3),
            chain_edges("mine", 3),
            {digest(big): big},
        )
        script = textwrap.dedent(
            """
            import json, sys
            from pathlib import Path
            from valence.store import Store
            from valence.store.records import DispatchRecord
            from datetime import datetime, timezone

            store = Store.open(sys.argv[1], Path(sys.argv[2]))
            d = store.get_dispatch("mine")
            blob = store.get_blob(d.result_digest)
            now = datetime.now(timezone.utc)
            theirs = DispatchRecord("theirs", "child", "NEW_OBJECT", "theirs", now)
            store.record_dispatch(theirs, [], [])
            print(json.dumps({"name": d.name, "nodes": len(store.get_nodes("mine")),
                              "edges": len(store.get_edges("mine")), "blob": len(blob),
                              "alembic_loaded": "alembic" in sys.modules}))
            store.close()
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script, store_url, str(blob_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {
            "name": "pipeline",
            "nodes": 3,
            "edges": 2,
            "blob": len(big),
            "alembic_loaded": False,  # opening a current database skips Alembic
        }
        assert store.get_dispatch("theirs").name == "child"

    @pytest.mark.slow
    def test_processes_opening_a_new_database_at_once(
        self, store_url: str, blob_dir: Path, open_store: Callable[[], Store]
    ) -> None:
        script = textwrap.dedent(
            """
            import sys
            from datetime import datetime, timezone
            from pathlib import Path
            from valence.store import Store
            from valence.store.records import DispatchRecord

            store = Store.open(sys.argv[1], Path(sys.argv[2]))
            me = sys.argv[3]
            store.record_dispatch(
                DispatchRecord(me, "p", "NEW_OBJECT", me, datetime.now(timezone.utc)), [], []
            )
            store.close()
            """
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, store_url, str(blob_dir), f"p{i}"],
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        store = open_store()
        assert sorted(d.dispatch_id for d in store.list_dispatches()) == ["p0", "p1", "p2"]
        assert store.schema_revision() == migrate.HEAD_REVISION

    def test_readers_while_writing(self, store: Store) -> None:
        store.record_dispatch(make_dispatch("d"), make_nodes("d", 50), [])
        stop = threading.Event()
        errors: list[BaseException] = []

        def read() -> None:
            try:
                while not stop.is_set():
                    assert len(store.get_nodes("d")) == 50
                    store.node_counts(["d"])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        readers = [threading.Thread(target=read) for _ in range(4)]
        for reader in readers:
            reader.start()
        try:
            for i in range(50):
                store.record_transitions(nodes=[("d", i, {"status": "COMPLETED"})])
        finally:
            stop.set()
            for reader in readers:
                reader.join()
        assert errors == []
        assert store.node_counts(["d"]) == {"d": {"COMPLETED": 50}}
