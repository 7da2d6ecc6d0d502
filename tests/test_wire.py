"""The wire contract is derived from the store's records and round-trips them through JSON."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from valence.store.records import DispatchRecord, NodeRecord, TriggerRecord
from valence.wire import (
    NODE_COLUMNS,
    SUMMARY_FIELDS,
    DispatchOut,
    DispatchSummary,
    NodeDetail,
    NodeOut,
    TriggerOut,
    WireFormatError,
    dispatch_out,
    dispatch_summary,
    node_out,
    nodes_from_table,
    nodes_table,
    pack_blobs,
    unpack_blobs,
)

texts = hs.text(max_size=20)
maybe_texts = hs.none() | texts
moments = hs.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1), timezones=hs.just(timezone.utc)
)
json_dicts = hs.dictionaries(texts, hs.none() | hs.integers(-(2**53), 2**53) | texts, max_size=3)

dispatches = hs.builds(
    DispatchRecord,
    dispatch_id=texts,
    name=texts,
    status=texts,
    root_dispatch_id=texts,
    created_at=moments,
    lattice_digest=maybe_texts,
    lattice_source=texts,
    graph=json_dicts,
    parent_node_id=hs.none() | hs.integers(0, 2**31 - 1),
    start_time=hs.none() | moments,
    error=maybe_texts,
    environment=json_dicts,
    metadata=json_dicts,
    owner=maybe_texts,
)
nodes = hs.builds(
    NodeRecord,
    dispatch_id=texts,
    node_id=hs.integers(0, 2**31 - 1),
    name=texts,
    kind=texts,
    status=texts,
    key=maybe_texts,
    metadata=json_dicts,
    end_time=hs.none() | moments,
    stdout=texts,
    stderr=texts,
    attempts=hs.integers(0, 100),
    reused_from_node=hs.none() | hs.integers(0, 2**31 - 1),
    reason=hs.none() | json_dicts,
)


def names(model: Any) -> list[str]:
    return list(model.model_fields)


def test_record_models_have_every_field_of_their_record_and_nothing_else() -> None:
    assert set(names(NodeOut)) == {f.name for f in fields(NodeRecord)}
    assert set(names(NodeDetail)) == set(names(NodeOut)) | {"output"}
    assert set(names(DispatchOut)) == {f.name for f in fields(DispatchRecord)} | {
        "progress",
        "nodes",
    }
    assert set(names(DispatchSummary)) == {*SUMMARY_FIELDS, "progress"}
    assert set(names(TriggerOut)) == {f.name for f in fields(TriggerRecord)} - {"spec"}


@given(dispatches, hs.lists(nodes, max_size=3), hs.booleans())
def test_a_dispatch_and_its_nodes_survive_the_wire(
    record: DispatchRecord, node_records: list[NodeRecord], streams: bool
) -> None:
    sent = dispatch_out(record, {"COMPLETED": 1}, node_records, streams=streams)
    received = DispatchOut.model_validate_json(sent.model_dump_json())
    assert received.record() == record
    got = [node.record() for node in received.nodes]  # type: ignore[attr-defined]
    if not streams:  # streams are left out: null, read per node
        assert all(n.stdout is None and n.stderr is None for n in got)
        got = [
            NodeRecord(**{**vars(n), "stdout": o.stdout, "stderr": o.stderr})
            for n, o in zip(got, node_records, strict=True)
        ]
    assert got == node_records


@given(nodes)
def test_a_node_survives_the_wire(record: NodeRecord) -> None:
    assert NodeOut.model_validate_json(node_out(record).model_dump_json()).record() == record


@given(dispatches)
def test_a_summary_keeps_the_listed_fields_and_the_first_error_line(
    record: DispatchRecord,
) -> None:
    sent = dispatch_summary(record, {"RUNNING": 2})
    back = DispatchSummary.model_validate_json(sent.model_dump_json())
    got = back.record()
    first_line = record.error.splitlines()[0] if record.error else None
    for name in SUMMARY_FIELDS:
        expected = first_line if name == "error" else getattr(record, name)
        assert getattr(got, name) == expected
    assert back.progress == {"RUNNING": 2}  # type: ignore[attr-defined]


def test_a_trigger_travels_without_its_pickle() -> None:
    record = TriggerRecord(
        7, "d1", "DirTrigger", b"pickle", "ACTIVE", None, datetime.now(timezone.utc)
    )
    out = TriggerOut.of(record)
    assert "spec" not in out.model_dump()
    assert TriggerOut.model_validate_json(out.model_dump_json()).record(spec=b"pickle") == record


@given(hs.lists(nodes, max_size=5))
def test_nodes_survive_the_wire_as_one_table(records: list[NodeRecord]) -> None:
    sent = json.dumps(nodes_table(records))
    assert nodes_from_table(json.loads(sent)) == records


def test_a_node_table_of_another_shape_is_one_clear_error() -> None:
    good = nodes_table([NodeRecord("d", 0, "task", "electron", "COMPLETED")])
    foreign = {**good, "columns": good["columns"][:-1]}
    short_row = {**good, "rows": [good["rows"][0][:-1]]}
    bad_time = {**good, "rows": [[*good["rows"][0]]]}
    bad_time["rows"][0][NODE_COLUMNS.index("start_time")] = "yesterday"
    for table, message in [
        (foreign, "other columns"),
        ({**good, "rows": "x"}, "no list of rows"),
        (short_row, "not 24 values"),
        (bad_time, "time in the server's node table is invalid"),
        ([], "other columns"),
    ]:
        with pytest.raises(WireFormatError, match=message):
            nodes_from_table(table)


blob_maps = hs.dictionaries(hs.text("0123456789abcdef", min_size=64, max_size=64), hs.binary())


@given(blob_maps, hs.lists(texts, max_size=3), hs.lists(texts, max_size=3))
def test_a_blob_batch_survives_the_wire_as_framed_bytes(
    found: dict[str, bytes], missing: list[str], omitted: list[str]
) -> None:
    assert unpack_blobs(pack_blobs(found, missing, omitted)) == (found, missing, omitted)


@given(blob_maps.filter(bool), hs.data())
def test_a_truncated_or_padded_blob_batch_is_one_clear_error(
    found: dict[str, bytes], data: hs.DataObject
) -> None:
    packed = pack_blobs(found, [], [])
    cut = data.draw(hs.integers(0, len(packed) - 1))
    with pytest.raises(WireFormatError, match=r"truncated|no header"):
        unpack_blobs(packed[:cut])
    with pytest.raises(WireFormatError, match="truncated or damaged"):
        unpack_blobs(packed + b"\0")
