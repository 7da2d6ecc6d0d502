"""The REST API's reuse from the whole store: submit with reuse, redispatch with reuse_from."""

from __future__ import annotations

from tests import workflows as wf
from tests.server.rest import finish, pickled, submit


def test_submit_with_reuse_and_redispatch_reuse_from_in_json(api):
    first = submit(api, wf.plain_howto, 1, 2)
    finish(api, first)
    options = pickled(lattice=wf.plain_howto, args=(1, 2), kwargs={})
    response = api.post("/dispatches", params={"reuse_previous_results": True}, **options)
    assert response.status_code == 201, response.text
    again = response.json()["dispatch_id"]
    finish(api, again)
    node = api.get(f"/dispatches/{again}/nodes/4").json()
    assert node["reused_from_dispatch"] == first and node["reason"]["code"] == "reused_store"

    other = submit(api, wf.plain_howto, 5, 6)
    finish(api, other)
    body = {"args": [1, 2], "reuse_from": "any"}
    plan = api.post(f"/dispatches/{other}/redispatch/plan", json=body).json()
    codes = {d["name"]: (d["code"], d["reused_from"]) for d in plan["decisions"]}
    assert codes["plain_task_2"][0] == "reused_store"
    assert codes["plain_task_2"][1][0] in (first, again)
    listed = {"args": [1, 2], "reuse_from": [first]}
    plan = api.post(f"/dispatches/{other}/redispatch/plan", json=listed).json()
    assert {d["reused_from"][0] for d in plan["decisions"]} == {first}


def test_bad_reuse_from_is_422(api):
    did = submit(api, wf.plain_howto, 1, 2)
    finish(api, did)
    for body in ({"reuse_from": []}, {"reuse_from": 3}):
        response = api.post(f"/dispatches/{did}/redispatch/plan", json=body)
        assert response.status_code == 422, body
    missing = api.post(f"/dispatches/{did}/redispatch", json={"reuse_from": ["nope"]})
    assert missing.status_code == 404 and "no dispatch with id 'nope'" in missing.text
    pickled_bad = api.post(f"/dispatches/{did}/redispatch", **pickled(reuse_from=["a", 1]))
    assert pickled_bad.status_code == 422 and "reuse_from must be" in pickled_bad.text
    assert len(api.get("/dispatches").json()["items"]) == 1
