"""Reading every node of a large result: batched reads, same values, same errors."""

from __future__ import annotations

import pytest
from sqlalchemy import event

import valence as ct
from tests import workflows as wf
from valence.engine.embedded import get_embedded
from valence.errors import BlobMissingError


@ct.electron
def big(i):
    return bytes([i % 256]) * 20_000  # kept as a file, not inline


@ct.lattice
def fan(n):
    return wf.total([wf.square(i) for i in range(n)])


@ct.lattice
def big_fan(n):
    return [big(i) for i in range(n)]


def _statements() -> list[str]:
    seen: list[str] = []
    engine = get_embedded().store._engine
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_all_node_results_equal_one_by_one_reads_in_few_queries(tmp_path, monkeypatch):
    monkeypatch.setenv("VALENCE_TEST_LOG", str(tmp_path / "ran.log"))
    result = ct.dispatch_sync(fan)(300)
    assert result.status == "COMPLETED"
    fresh = ct.get_result(result.dispatch_id)
    seen = _statements()
    every = fresh.get_all_node_results()
    assert len(every) == len(fresh.nodes) > 600
    assert len(seen) < 20  # batches of a few hundred, not a query per node
    single = ct.get_result(result.dispatch_id)
    for node in every:
        one = single.get_node_result(node["node_id"])
        assert (node["output"] is None) == (one["output"] is None)
        if one["output"] is not None:
            assert node["output"].get_deserialized() == one["output"].get_deserialized()
    outputs = ct.get_result(result.dispatch_id).get_all_node_outputs()
    assert [o.get_deserialized() for k, o in outputs.items() if k.startswith("square")] == [
        i * i for i in range(300)
    ]


def test_a_missing_output_is_still_one_clear_error():
    result = ct.dispatch_sync(big_fan)(3)
    assert result.status == "COMPLETED"
    store = get_embedded().store
    gone = result.nodes[[n.name for n in result.nodes].index("big")].output_digest
    path = store.blob_dir / gone[:2] / gone[2:]
    path.unlink()
    with pytest.raises(BlobMissingError, match=gone):
        ct.get_result(result.dispatch_id).get_all_node_results()
    lazy = ct.get_result(result.dispatch_id, intermediate_outputs=False)
    assert all(n["output"] is None for n in lazy.get_all_node_results())  # nothing read
