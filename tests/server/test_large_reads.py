"""Large reads over HTTP: nodes as one table, blob batches as framed bytes, lazy results."""

from __future__ import annotations

import json

import pytest

from tests import workflows as wf
from tests.server.rest import TOKEN, finish, submit
from valence import serialize
from valence.backends.http import HttpBackend
from valence.errors import BlobMissingError, ServerError
from valence.server.routes import blobs
from valence.wire import BLOB_BATCH_MAX, BLOBS_MEDIA_TYPE, nodes_from_table, unpack_blobs


@pytest.fixture
def fan(api):
    did = submit(api, wf.count_to, 40)
    finish(api, did)
    return did


@pytest.fixture
def client(server):
    backend = HttpBackend(server.url, TOKEN)
    yield backend
    backend.close()


def test_the_node_table_holds_the_same_records_the_store_does(api, fan, runtime):
    for streams in (True, False):
        response = api.get(
            f"/dispatches/{fan}/nodes", params={"layout": "table", "streams": streams}
        )
        assert nodes_from_table(response.json()) == runtime.store.get_nodes(fan, streams=streams)
    records = api.get(f"/dispatches/{fan}/nodes", params={"streams": False}).json()
    assert all(r["stdout"] is None for r in records) and len(records) > 80
    wrong = api.get(f"/dispatches/{fan}/nodes", params={"layout": "columns"})
    assert wrong.status_code == 422 and "layout" in wrong.json()["detail"]


def test_a_framed_blob_batch_holds_what_json_holds(api, fan, runtime):
    digests = [n.output_digest for n in runtime.store.get_nodes(fan) if n.output_digest]
    asked = {"digests": [*digests, "0" * 64]}
    framed = api.post("/blobs/batch", json=asked, headers={"Accept": BLOBS_MEDIA_TYPE})
    assert framed.headers["content-type"] == BLOBS_MEDIA_TYPE
    found, missing, omitted = unpack_blobs(framed.content)
    plain = api.post("/blobs/batch", json=asked).json()
    assert found == runtime.store.get_blobs(digests) and missing == plain["missing"] == ["0" * 64]
    assert sorted(found) == sorted(plain["blobs"]) and omitted == plain["omitted"] == []


def test_a_bounded_response_leaves_blobs_out_and_the_client_asks_again(
    api, fan, runtime, client, monkeypatch
):
    digests = list(
        dict.fromkeys(n.output_digest for n in runtime.store.get_nodes(fan) if n.output_digest)
    )
    monkeypatch.setattr(blobs, "BATCH_BYTES", 100)  # a few blobs per response
    monkeypatch.setattr(blobs, "READ_CHUNK", 7)
    plain = api.post("/blobs/batch", json={"digests": digests}).json()
    assert plain["blobs"] and plain["omitted"] and not plain["missing"]
    assert len(plain["blobs"]) + len(plain["omitted"]) == len(digests)
    assert client.get_blobs(digests) == runtime.store.get_blobs(digests)


def test_hostile_batch_requests_get_one_clear_error(api):
    too_many = {"digests": ["0"] * (BLOB_BATCH_MAX + 1)}
    for body, expected in [
        (json.dumps(too_many), f"at most {BLOB_BATCH_MAX} items"),
        ('{"digests": ["' + "0" * 64, "JSON"),  # truncated
        ('{"digests": ["nope"]}', "not a blob digest"),
        ('{"digests": "0"}', "valid list"),
    ]:
        response = api.post(
            "/blobs/batch",
            content=body,
            headers={"Content-Type": "application/json", "Accept": BLOBS_MEDIA_TYPE},
        )
        assert response.status_code == 422, response.text
        assert expected in response.json()["detail"], response.text


def test_get_result_reads_nodes_and_values_only_when_asked(api, fan, client):
    sent: list[str] = []
    client._http.event_hooks["request"] = [lambda r: sent.append(r.url.path)]
    result = client.result(fan)
    assert result.result == 40
    assert not any(path.endswith("/nodes") or "batch" in path for path in sent), sent
    sent.clear()
    outputs = result.get_all_node_outputs()  # one table, one batch
    assert len(sent) == 2 and len(outputs) == len(result.nodes) > 80
    assert result.get_all_node_outputs() == outputs and len(sent) == 2  # read once, kept
    again = client.result(fan)
    sent.clear()
    looped = [again.get_node_result(i)["output"] for i in range(len(again.nodes))]
    values = [(v and v.get_deserialized()) for v in looped]
    assert values == [(v and v.get_deserialized()) for v in outputs.values()]
    reads = [path for path in sent if not path.endswith(("/stdout", "/stderr"))]
    assert len(reads) <= 3, reads  # the table, one output alone, then a batch ahead


def test_a_value_gone_from_the_server_is_one_clear_error(api, fan, runtime, client):
    result = client.result(fan)
    assert result.nodes  # the records first
    digest = next(n.output_digest for n in result.nodes if n.output_digest)
    with runtime.store._engine.begin() as conn:  # as a purge by another process would
        conn.exec_driver_sql("DELETE FROM blobs WHERE digest = ?", (digest,))
    with pytest.raises(BlobMissingError, match=digest):
        result.get_all_node_outputs()


def test_a_damaged_batch_from_the_server_is_one_clear_error(client, monkeypatch, fan):
    monkeypatch.setattr(blobs, "pack_blobs", lambda *a: serialize.dumps("not framed"))
    digest = client.get_dispatch(fan).result_digest
    with pytest.raises(ServerError, match="blob batch"):
        client.get_blobs([digest])
