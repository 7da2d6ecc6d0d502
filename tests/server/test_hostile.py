"""Hostile and malformed requests against a real server: a clear 4xx, never a 5xx, no change."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest

import valence as ct
from tests import workflows as wf
from tests.server.rest import TOKEN, finish, submit
from valence.backends.http import HttpBackend
from valence.errors import DispatchNotFoundError


@ct.lattice
def gated_pair(gate):
    return wf.identity(wf.gated(gate, 1))


BAD_CANCEL_BODIES = [
    {"task_ids": [9999]},
    {"task_ids": [-1]},
    {"task_ids": [2**63]},
    {"task_ids": [10**40]},
    {"task_ids": ["abc"]},
    {"task_ids": ["1"]},
    {"task_ids": [None]},
    {"task_ids": [True]},
    {"task_ids": [1.5]},
    {"task_ids": "abc"},
    {"task_ids": 1},
    {"nodes": [1]},
]


def test_cancel_with_ids_that_are_not_nodes_is_refused_and_changes_nothing(api, tmp_path):
    gate = tmp_path / "gate"
    did = submit(api, gated_pair, str(gate))
    while api.get(f"/dispatches/{did}/nodes/0").json()["status"] != "RUNNING":
        pass
    for body in BAD_CANCEL_BODIES:
        response = api.post(f"/dispatches/{did}/cancel", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] in ("ValueError", "ValidationError"), response.text
    response = api.post(f"/dispatches/{did}/cancel", json={"task_ids": [9999]})
    assert "has no node(s) 9999: its node ids are 0..3; nothing was cancelled" in response.text
    gate.touch()
    assert finish(api, did)["status"] == "COMPLETED"
    nodes = api.get(f"/dispatches/{did}/nodes").json()
    assert [n["status"] for n in nodes] == ["COMPLETED"] * 4


@pytest.fixture
def finished(api):
    did = submit(api, wf.plain_howto, 1, 2)
    finish(api, did)
    return did


def out_of_range_requests(did: str) -> list[tuple[str, str, dict]]:
    huge = str(2**63)
    return [
        ("GET", "/dispatches", {"offset": huge}),
        ("GET", "/dispatches", {"offset": str(10**30)}),
        ("GET", "/dispatches", {"offset": "-1"}),
        ("GET", "/dispatches", {"limit": huge}),
        ("GET", "/dispatches", {"limit": "0"}),
        ("GET", "/dispatches", {"since": "99999-01-01T00:00:00"}),
        ("GET", "/dispatches", {"status": "DONE"}),
        ("GET", "/dispatches", {"name": "a\x00b"}),
        ("GET", "/dispatches", {"name": "n" * 1001}),
        ("GET", "/dispatches", {"since": "0001-01-01T00:00:00+01:00"}),
        ("GET", "/dispatches", {"until": "9999-12-31T23:59:59-01:00"}),
        ("GET", f"/dispatches/{did}/nodes/{huge}", {}),
        ("GET", f"/dispatches/{did}/nodes/-1", {}),
        ("GET", f"/dispatches/{did}/nodes/{huge}/stdout", {}),
        ("GET", f"/dispatches/{did}/nodes/{huge}/source", {}),
        ("GET", f"/dispatches/{did}/nodes/{huge}/arguments", {}),
        ("GET", f"/dispatches/{did}/nodes/1e3", {}),
        ("GET", f"/dispatches/{did}/wait", {"timeout": "inf"}),
        ("GET", f"/dispatches/{did}/wait", {"timeout": "nan"}),
        ("GET", f"/dispatches/{did}/wait", {"timeout": "1e400"}),
        ("POST", "/purge", {"older_than": "inf"}),
        ("POST", "/purge", {"older_than": "-inf"}),
        ("POST", "/purge", {"older_than": "nan"}),
        ("POST", "/purge", {"older_than": "99999999999d"}),
        ("POST", "/purge", {"older_than": "1e308w"}),
        ("POST", "/purge", {"older_than": "365001d"}),
        ("POST", "/purge", {"older_than": "-1s"}),
        ("POST", "/purge", {"older_than": ""}),
    ]


def test_out_of_range_parameters_get_a_4xx(api, finished):
    for method, path, params in out_of_range_requests(finished):
        response = api.request(method, path, params=params)
        assert 400 <= response.status_code < 500, (method, path, params, response.text)
        assert response.json()["detail"], response.text
    assert api.get("/dispatches").json()["items"][0]["dispatch_id"] == finished  # nothing purged
    older = api.post("/purge", params={"older_than": "99999999999d"}).json()
    assert "between 0 and 1000 years" in older["detail"]


def test_the_token_is_checked_before_the_body_is_read(server):
    url = server.url + "/api/v1"
    requests = [
        ("POST", "/dispatches", {"content": b"\x80not a pickle"}),
        (
            "POST",
            "/blobs/batch",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
        ),
        (
            "POST",
            "/dispatches/abc/cancel",
            {"content": b"[", "headers": {"content-type": "application/json"}},
        ),
        ("POST", "/dispatches", {"content": b"x" * 2_000_000}),  # over the server's body limit
        ("GET", "/openapi.json", {}),
        ("GET", "/docs", {}),
        ("GET", "/nonexistent", {}),
    ]
    for method, path, options in requests:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            sent = {**options, "headers": {**options.get("headers", {}), **headers}}
            response = httpx.request(method, url + path, **sent)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"] == "AuthenticationError"
    scheme_any_case = httpx.get(url + "/openapi.json", headers={"Authorization": f"bearer {TOKEN}"})
    assert scheme_any_case.status_code == 200 and "paths" in scheme_any_case.json()


def test_only_loopback_host_names_are_answered(server):
    port = server.url.rsplit(":", 1)[1]
    for path in ("/", "/docs", "/api/v1/health", "/api/v1/dispatches", "/static/common.js"):
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", ""):
            response = httpx.get(server.url + path, headers={"Host": host})
            assert response.status_code == 400, (path, host, response.text)
            assert response.json()["error"] == "HostNotAllowed"
        for host in (
            f"localhost:{port}",
            f"127.0.0.1:{port}",
            "LOCALHOST",
            f"[::1]:{port}",
            "ui.localhost",
            "127.0.0.2",
        ):
            response = httpx.get(server.url + "/api/v1/health", headers={"Host": host})
            assert response.status_code == 200, (host, response.text)


def test_a_reverse_proxy_name_can_be_allowed(runtime, monkeypatch):
    from valence.server.serve import BackgroundServer

    monkeypatch.setenv("VALENCE_ALLOWED_HOSTS", "valence.internal, Other.Example")
    with BackgroundServer(runtime, token=TOKEN) as running:
        for host in ("valence.internal:443", "other.example", "localhost"):
            response = httpx.get(running.url + "/api/v1/health", headers={"Host": host})
            assert response.status_code == 200, (host, response.text)
        refused = httpx.get(running.url + "/api/v1/health", headers={"Host": "evil.example"})
        assert refused.status_code == 400 and "VALENCE_ALLOWED_HOSTS" in refused.text


def test_the_docs_page_runs_only_our_own_scripts(server):
    page = httpx.get(server.url + "/docs")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") or s == "data:," for s in sources), sources
    assert "/static/vendor/swagger-ui-bundle.js" in page.text
    bundle = httpx.get(server.url + "/static/vendor/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000


def test_error_bodies_do_not_show_server_paths(api, finished, valence_home):
    responses = [
        api.get("/dispatches/0123abcd"),
        api.get("/dispatches/not-an-id"),
        api.get(f"/blobs/{'0' * 64}"),
        api.get(f"/dispatches/{finished}/nodes/99"),
        api.post(f"/dispatches/{finished}/redispatch", json={"args": [1, 2, 3]}),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500, response.text
        assert str(valence_home) not in response.text
        assert "valence-home" not in response.text
        assert ".db" not in response.text
    assert "the server's store" in responses[0].json()["detail"]


def test_the_client_keeps_an_id_in_its_path_segment(server, finished):
    client = HttpBackend(server.url, TOKEN)
    try:
        assert client.resolve_id(finished[:8].upper()) == finished
        for hostile in (f"{finished[:8]}?x=1", f"{finished[:8]}/nodes", f"{finished[:8]}#"):
            with pytest.raises(DispatchNotFoundError):
                client.resolve_id(hostile)
            with pytest.raises(DispatchNotFoundError):
                client.status(hostile)
    finally:
        client.close()
    raw = httpx.get(
        f"{server.url}/api/v1/dispatches/{quote(finished[:8] + '?x=1', safe='')}/status",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert raw.status_code == 404 and raw.json()["error"] == "DispatchNotFoundError"


def test_get_result_over_http_does_not_download_task_output(api, server, monkeypatch):
    @ct.electron
    def loud(n):
        print("y" * n)
        return 50

    @ct.lattice
    def flow(n):
        return loud(n)

    did = submit(api, flow, 200_000)
    finish(api, did)
    sent: list[int] = []
    client = HttpBackend(server.url, TOKEN)
    client._http.event_hooks["response"] = [lambda r: sent.append(len(r.read()))]
    try:
        result = client.result(did)
        assert result.result == 50
        assert sum(sent) < 20_000, sent  # the dispatch, its nodes and the result value
        assert result.get_node_result(0)["stdout"] == "y" * 200_000 + "\n"
        assert sum(sent) > 200_000
        again = client.result(did)
        sent.clear()
        every = again.get_all_node_results()  # one request for streams, one for outputs
        assert len(sent) == 2 and every[0]["stdout"] == "y" * 200_000 + "\n"
    finally:
        client.close()
