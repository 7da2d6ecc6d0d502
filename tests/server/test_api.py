"""The REST API over a real uvicorn server: contract, errors, auth, limits."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests import workflows as wf
from tests.server.rest import finish, pickled, submit
from valence import serialize


def test_openapi_documents_every_resource(api):
    spec = api.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/api/v1/dispatches",
        "/api/v1/dispatches/{dispatch_id}",
        "/api/v1/dispatches/{dispatch_id}/wait",
        "/api/v1/dispatches/{dispatch_id}/result",
        "/api/v1/dispatches/{dispatch_id}/cancel",
        "/api/v1/dispatches/{dispatch_id}/nodes/{node_id}",
        "/api/v1/dispatches/{dispatch_id}/nodes/{node_id}/stdout",
        "/api/v1/dispatches/{dispatch_id}/redispatch",
        "/api/v1/dispatches/{dispatch_id}/redispatch/plan",
        "/api/v1/blobs/{digest}",
        "/api/v1/purge",
    ):
        assert path in paths
    assert "delete" in spec["paths"]["/api/v1/dispatches/{dispatch_id}"]


def test_every_route_but_health_needs_the_token(server):
    assert httpx.get(server.url + "/api/v1/health").json()["status"] == "ok"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = httpx.get(server.url + "/api/v1/dispatches", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "AuthenticationError"
        assert "Bearer" in response.json()["detail"]
    response = httpx.post(server.url + "/api/v1/dispatches", **pickled(lattice=wf.plain_howto))
    assert response.status_code == 401  # refused before the pickle is ever loaded


def test_submit_read_and_download(api):
    did = submit(api, wf.plain_howto, 1, 2)
    assert finish(api, did) == {"dispatch_id": did, "status": "COMPLETED", "done": True}
    detail = api.get(f"/dispatches/{did[:8]}", params={"nodes": True}).json()
    assert detail["dispatch_id"] == did and detail["progress"] == {"COMPLETED": 3}  # tasks only
    assert [n["name"] for n in detail["nodes"]][:3] == [
        "plain_task_0",
        ":parameter:1",
        "plain_task_1",
    ]
    node = api.get(f"/dispatches/{did}/nodes/4").json()
    assert node["output"]["preview"] == "16"
    blob = api.get(node["output"]["url"].removeprefix("/api/v1"))
    assert serialize.loads(blob.content) == 16
    assert serialize.loads(api.get(f"/dispatches/{did}/nodes/4/output").content) == 16
    result = api.get(f"/dispatches/{did}/result").json()
    assert result["status"] == "COMPLETED" and result["result"]["preview"] == "16"
    digests = [detail["nodes"][0]["output_digest"], "0" * 64]
    batch = api.post("/blobs/batch", json={"digests": digests}).json()
    assert serialize.loads(base64.b64decode(batch["blobs"][digests[0]])) == 2
    assert batch["missing"] == ["0" * 64]


def test_task_output_streams_and_errors(api):
    did = submit(api, wf.failing, 1)
    finish(api, did)
    error = api.get(f"/dispatches/{did}/nodes/0/error").json()
    assert error["error"] == "ValueError: boom 1" and "Traceback" in error["traceback"]
    result = api.get(f"/dispatches/{did}/result").json()
    assert result["result"] is None and "boom 1" in result["error"]
    not_run = api.get(f"/dispatches/{did}/nodes/5/output")
    assert not_run.status_code == 404 and "NEW_OBJECT" in not_run.json()["detail"]


def test_stdout_and_stderr_endpoints(api):
    import valence as ct

    @ct.lattice
    def speak(word):
        return wf.shout(word)

    did = submit(api, speak, "hi")
    finish(api, did)
    assert api.get(f"/dispatches/{did}/nodes/0/stdout").text == "stdout:hi\n"
    assert api.get(f"/dispatches/{did}/nodes/0/stderr").text == "stderr:hi\n"


def test_list_filters_and_pages(api):
    ids = [submit(api, wf.diamond, i) for i in range(3)]
    failed = submit(api, wf.failing, 1)
    for did in [*ids, failed]:
        finish(api, did)
    page = api.get("/dispatches", params={"limit": 2}).json()
    assert [d["dispatch_id"] for d in page["items"]] == [failed, ids[2]]
    assert page["next_offset"] == 2
    rest = api.get("/dispatches", params={"limit": 2, "offset": 2}).json()
    assert [d["dispatch_id"] for d in rest["items"]] == [ids[1], ids[0]]
    assert rest["next_offset"] == 2 + 2
    by_status = api.get("/dispatches", params={"status": "FAILED"}).json()["items"]
    assert [d["dispatch_id"] for d in by_status] == [failed]
    assert by_status[0]["error"].startswith("Node 0 (boom) failed")
    by_name = api.get("/dispatches", params={"name": "diamond"}).json()["items"]
    assert len(by_name) == 3 and by_name[0]["progress"] == {"COMPLETED": 3}
    created = by_name[1]["created_at"]
    newer = api.get("/dispatches", params={"since": created, "name": "diamond"}).json()["items"]
    assert [d["dispatch_id"] for d in newer] == [ids[2], ids[1]]
    older = api.get("/dispatches", params={"until": created}).json()["items"]
    assert [d["dispatch_id"] for d in older] == [ids[0]]


def test_redispatch_in_json_and_its_plan(api):
    did = submit(api, wf.plain_howto, 1, 2)
    finish(api, did)
    body = {"kwargs": {"b": 3}, "reuse_previous_results": True}
    plan = api.post(f"/dispatches/{did}/redispatch/plan", json=body).json()
    assert (plan["reused"], plan["parent_id"]) == (2, did)
    actions = {d["name"]: d["action"] for d in plan["decisions"]}
    assert actions["plain_task_0"] == "reuse" and actions["plain_task_1"] == "run"
    response = api.post(f"/dispatches/{did}/redispatch", json=body)
    assert response.status_code == 201
    new = response.json()["dispatch_id"]
    finish(api, new)
    assert api.get(f"/dispatches/{new}/result").json()["result"]["preview"] == str(36)
    reused = api.get(f"/dispatches/{new}/nodes/0").json()
    assert reused["reused_from_dispatch"] == did
    assert reused["reason"] == {
        "decision": "reuse",
        "code": "reused",
        "text": f"same key as node 0 of {did[:8]}",
    }


def test_cancel_and_delete(api, tmp_path):
    gate = tmp_path / "gate"
    did = submit(api, wf.with_sublattice, 1)
    finish(api, did)
    import valence as ct

    @ct.lattice
    def gated(path):
        return wf.gated(path, 1)

    running = submit(api, gated, str(gate))
    refused = api.delete(f"/dispatches/{running}")
    assert refused.status_code == 409 and "cancel it" in refused.json()["detail"]
    assert api.get(f"/dispatches/{running}/wait", params={"timeout": 0.01}).json()["done"] is False
    cancelled = api.post(f"/dispatches/{running}/cancel", json={"task_ids": None})
    assert "Cancellation of dispatch" in cancelled.json()["message"]
    gate.touch()
    assert finish(api, running)["status"] == "CANCELLED"
    child = api.get(f"/dispatches/{did}/nodes/3").json()["sub_dispatch_id"]
    assert api.delete(f"/dispatches/{child}").status_code == 422
    report = api.delete(f"/dispatches/{did}").json()
    assert report["deleted"] == [did, child] and report["blobs_deleted"] > 0
    assert api.get(f"/dispatches/{did}").status_code == 404
    assert api.get(f"/dispatches/{child}").json()["error"] == "DispatchNotFoundError"


BAD_REQUESTS = [
    ("post", "/dispatches", {"content": b""}, 400),
    ("post", "/dispatches", {"content": b"not a pickle"}, 422),
    ("post", "/dispatches", {"content": serialize.dumps([1, 2])}, 422),
    ("post", "/dispatches", {"content": serialize.dumps({"args": ()})}, 422),
    ("post", "/dispatches", {"content": serialize.dumps({"lattice": wf.plain_howto, "x": 1})}, 422),
    ("post", "/dispatches", {"content": serialize.dumps({"lattice": 3})}, 422),
    (
        "post",
        "/dispatches",
        {"content": serialize.dumps({"lattice": wf.plain_howto, "args": 1})},
        422,
    ),
    (
        "post",
        "/dispatches",
        {"content": serialize.dumps({"lattice": wf.plain_howto, "args": (1,)})},
        422,
    ),
    ("post", "/dispatches", {"json": {"lattice": "howto"}}, 415),
    ("get", "/dispatches?limit=0", {}, 422),
    ("get", "/dispatches?limit=abc", {}, 422),
    ("get", "/dispatches?status=DONE", {}, 422),
    ("get", "/dispatches?since=yesterday", {}, 422),
    ("get", "/dispatches/00000000-0000-4000-8000-000000000000", {}, 404),
    ("get", "/dispatches/{did}/nodes/x", {}, 422),
    ("get", "/dispatches/{did}/nodes/99", {}, 404),
    ("get", "/dispatches/{did}/wait?timeout=-1", {}, 422),
    ("get", "/blobs/xyz", {}, 422),
    ("get", "/blobs/" + "0" * 64, {}, 404),
    ("post", "/blobs/batch", {"json": {"digests": ["nope"]}}, 422),
    (
        "post",
        "/blobs/batch",
        {"content": b"{", "headers": {"Content-Type": "application/json"}},
        422,
    ),
    ("post", "/dispatches/{did}/cancel", {"json": {"task_ids": "all"}}, 422),
    ("post", "/dispatches/{did}/redispatch", {"json": {"kwargs": {"bb": 1}}}, 422),
    ("post", "/dispatches/{did}/redispatch", {"json": {"args": [1, 2, 3]}}, 422),
    ("post", "/dispatches/{did}/redispatch", {"json": {"nope": 1}}, 422),
    ("post", "/dispatches/{did}/redispatch", {"json": [1]}, 422),
    ("post", "/dispatches/{did}/redispatch", {"content": serialize.dumps({"force_rerun": 1})}, 422),
    (
        "post",
        "/dispatches/{did}/redispatch",
        {"content": serialize.dumps({"force_rerun": ["zz"]})},
        422,
    ),
    (
        "post",
        "/dispatches/{did}/redispatch",
        {"content": serialize.dumps({"replace_electrons": {"zz": 1}})},
        422,
    ),
    ("post", "/dispatches/{did}/redispatch/plan", {"content": b"\x80garbage"}, 422),
    ("post", "/purge?older_than=soon", {}, 422),
    ("put", "/dispatches", {}, 405),
    ("get", "/nowhere", {}, 404),
]


def test_malformed_requests_get_a_clear_4xx_and_write_nothing(api, runtime):
    did = submit(api, wf.plain_howto, 1, 2)
    finish(api, did)
    before = len(runtime.store.list_dispatches())
    for method, path, options, status in BAD_REQUESTS:
        response = api.request(method, path.format(did=did), **options)
        assert response.status_code == status, (method, path, response.text)
        body = response.json()
        assert body["detail"] and body["error"], body
    assert len(runtime.store.list_dispatches()) == before
    wrong = api.post(f"/dispatches/{did}/redispatch", json={"kwargs": {"bb": 1}}).json()
    assert wrong["error"] == "TypeError" and "Did you mean 'b'" in wrong["detail"]


def test_ambiguous_prefix_is_a_400(api, runtime):
    ids = [submit(api, wf.diamond, i) for i in range(20)]
    firsts = {}
    for did in ids:
        firsts.setdefault(did[0], []).append(did)
    prefix = next(p for p, found in firsts.items() if len(found) > 1)
    response = api.get(f"/dispatches/{prefix}")
    assert response.status_code == 400 and "ambiguous" in response.json()["detail"]


def test_request_body_limit(api):
    big = b"x" * 1_000_001
    response = api.post("/dispatches", content=big)
    assert response.status_code == 413 and "VALENCE_MAX_REQUEST_BYTES" in response.json()["detail"]

    def chunks():
        for _ in range(20):
            yield b"y" * 100_000

    streamed = api.post("/dispatches", content=chunks())
    assert streamed.status_code == 413


@pytest.mark.parametrize("disable_run", [True, False])
def test_disable_run(api, disable_run):
    response = api.post(
        "/dispatches", params={"disable_run": disable_run}, **pickled(lattice=wf.diamond, args=(1,))
    )
    did = response.json()["dispatch_id"]
    status = api.get(f"/dispatches/{did}/status").json()["status"]
    assert (status == "NEW_OBJECT") is disable_run or status in ("RUNNING", "COMPLETED")


def test_workers_size_the_local_pools():
    from valence.engine.runtime import executor_resolver
    from valence.executors.local import LocalExecutor, ThreadExecutor

    resolve = executor_resolver(3)
    assert resolve(None, default="thread") == ThreadExecutor(workers=3)
    assert resolve("local") == LocalExecutor(workers=3)
    assert resolve("inline").name == "inline"
    assert executor_resolver(None) is None
