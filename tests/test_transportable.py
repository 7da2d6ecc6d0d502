"""TransportableObject's Covalent methods and the status helpers Covalent users call."""

from __future__ import annotations

import base64
import json

import cloudpickle
import pytest
from hypothesis import given
from hypothesis import strategies as st

import valence as ct
from valence.transportable import TransportableObject

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.floats(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(values)
def test_serialize_deserialize_and_json_round_trips(value):
    to = TransportableObject(value)
    again = TransportableObject.deserialize(to.serialize())
    assert again.get_deserialized() == value and again == to
    assert TransportableObject.deserialize(to.serialize(), header_only=True) == to
    assert cloudpickle.loads(base64.b64decode(to.get_serialized())) == value
    assert json.loads(to.json) == value
    assert TransportableObject.from_dict(json.loads(json.dumps(to.to_dict()))) == to
    assert TransportableObject.deserialize_from_json(to.serialize_to_json()) == to


def test_json_is_empty_for_values_json_cannot_hold():
    assert TransportableObject({1, 2}).json == ""
    assert TransportableObject({1, 2}).object_string == "{1, 2}"


def test_deserialize_list_and_dict_recurse():
    t = TransportableObject
    nested = [t(1), [t("a"), {"k": t(2.5)}]]
    assert t.deserialize_list(nested) == [1, ["a", {"k": 2.5}]]
    assert t.deserialize_dict({"x": t([1]), "y": [t(None)]}) == {"x": [1], "y": [None]}
    with pytest.raises(TypeError, match="TransportableObjects"):
        t.deserialize_list([1])


def test_node_outputs_offer_the_methods():
    @ct.electron
    def pair():
        return {"a": 1}

    @ct.lattice
    def flow():
        return pair()

    result = ct.dispatch_sync(flow)()
    output = result.get_node_result(0)["output"]
    assert output.json == '{"a": 1}'
    assert TransportableObject.deserialize(output.serialize()).get_deserialized() == {"a": 1}


def test_status_helpers():
    assert ct.status.is_terminal(ct.status.COMPLETED)
    assert ct.status.is_terminal("CANCELLED")
    assert not ct.status.is_terminal(ct.status.RUNNING)
    assert ct.status.COMPLETED.STATUS == "COMPLETED"
    assert str(ct.status.FAILED) == "FAILED" and ct.status.FAILED == "FAILED"
    assert "FAILED" in ct.status.TERMINAL_STATUSES
