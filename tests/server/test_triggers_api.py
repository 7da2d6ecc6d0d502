"""The triggers REST routes: register, list, stop; hostile requests store nothing."""

from __future__ import annotations

from tests import workflows as wf
from tests.server.processes import wait_until
from tests.server.rest import finish, submit
from valence import serialize
from valence.triggers import TimeTrigger

OCTET = {"Content-Type": "application/octet-stream"}


def test_register_refuses_what_is_not_a_trigger(api):
    assert api.post("/triggers", content=b"not a pickle", headers=OCTET).status_code == 422
    response = api.post("/triggers", content=serialize.dumps({"a": 1}), headers=OCTET)
    assert response.status_code == 422 and "not a BaseTrigger" in response.json()["detail"]
    orphan = TimeTrigger(time_gap=5)  # no lattice_dispatch_id
    response = api.post("/triggers", content=serialize.dumps(orphan), headers=OCTET)
    assert response.status_code == 422 and "no lattice_dispatch_id" in response.json()["detail"]
    unknown = TimeTrigger(time_gap=5, lattice_dispatch_id="0" * 36)
    response = api.post("/triggers", content=serialize.dumps(unknown), headers=OCTET)
    assert response.status_code == 404
    assert api.get("/triggers").json() == {"triggers": []}  # nothing was stored
    response = api.post("/triggers/stop", json={"dispatch_ids": "not a list"})
    assert response.status_code == 422


def test_register_list_and_stop_over_rest(api):
    dispatch_id = submit(api, wf.count_to, 2)
    finish(api, dispatch_id)
    trigger = TimeTrigger(time_gap=0.1, lattice_dispatch_id=dispatch_id)
    response = api.post("/triggers", content=serialize.dumps(trigger), headers=OCTET)
    assert response.status_code == 201, response.text

    def fired():
        rows = api.get("/triggers", params={"dispatch_id": dispatch_id}).json()["triggers"]
        return rows and rows[0]["new_dispatch_ids"]

    wait_until(fired, "a firing recorded")
    response = api.post("/triggers/stop", json={"dispatch_ids": [dispatch_id[:8]]})
    assert response.json() == {"stopped": 1}
    (row,) = api.get("/triggers").json()["triggers"]
    assert row["status"] == "STOPPED" and row["fired"] >= 1 and "spec" not in row
