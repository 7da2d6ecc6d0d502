"""The HTTP client: few requests per call, one stored copy of a resubmitted workflow."""

from __future__ import annotations

import pytest

import valence as ct
from tests import workflows as wf
from valence.backends import choose_backend
from valence.errors import ServerError, ServerUnavailableError


@pytest.fixture
def requests(server_mode):
    """Paths of the requests the shared HTTP client sends."""
    sent: list[str] = []
    backend = choose_backend()
    backend._http.event_hooks["request"].append(lambda request: sent.append(request.url.path))
    return sent


def test_get_result_needs_a_few_requests_not_one_per_node(requests):
    did = ct.dispatch(wf.count_to)(60)
    assert requests == ["/api/v1/dispatches"]  # the workflow and inputs: one request
    requests.clear()
    result = ct.get_result(did, wait=True, timeout=60)
    outputs = result.get_all_node_outputs()
    assert result.result == 60 and len(outputs) == len(result.nodes) > 100
    assert len(requests) <= 5, requests  # status, long poll, dispatch + nodes, result, batch


def test_a_resubmitted_workflow_is_stored_once(server_mode):
    ids = [ct.dispatch(wf.diamond)(i) for i in range(3)]
    records = [server_mode.store.get_dispatch(did) for did in ids]
    assert len({record.lattice_digest for record in records}) == 1
    assert [ct.get_result(did, wait=True).result for did in ids] == [3, 5, 7]


def test_wrong_token_and_no_server(server_mode, monkeypatch):
    monkeypatch.setenv("VALENCE_TOKEN", "wrong")
    with pytest.raises(ServerError, match="missing or wrong token"):
        ct.get_result("0000")
    monkeypatch.setenv("VALENCE_SERVER", "127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ServerUnavailableError, match="no valence server answers"):
        ct.dispatch(wf.diamond)(1)
