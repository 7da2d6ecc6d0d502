"""Decoding the pickled payloads of submit and redispatch (and redispatch's JSON form).

A payload is ``serialize.dumps`` of a dict; unpickling it runs code, which is why
only clients holding the server's token may send one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pydantic import ValidationError

from valence import serialize
from valence.backends import RedispatchRequest
from valence.engine.reuse import check_reuse_from
from valence.errors import CodeUnavailableError, SerializationError
from valence.server.errors import RequestError, validation_message
from valence.wire import RedispatchIn

SUBMIT_FIELDS: dict[str, tuple[type, ...]] = {
    "lattice": (bytes, object),  # serialize.dumps(lattice) (cached by digest), or the Lattice
    "args": (tuple, list),
    "kwargs": (dict,),
}
REDISPATCH_FIELDS: dict[str, tuple[type, ...]] = {
    "args": (tuple, list),
    "kwargs": (dict,),
    "replace_electrons": (dict,),
    "reuse_previous_results": (bool,),
    "force_rerun": (tuple, list),
    "reuse_from": (str, tuple, list, type(None)),
}


def is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def load_pickled(
    body: bytes, fields: dict[str, tuple[type, ...]], required: set[str], what: str
) -> dict[str, Any]:
    """The payload dict, checked: known keys, required keys, value types."""
    if not body:
        raise RequestError(400, f"empty request body: {what} needs a pickled payload")
    try:
        data = serialize.loads(body)
    except CodeUnavailableError as exc:
        raise RequestError(422, str(exc), "CodeUnavailableError") from exc
    except SerializationError as exc:
        raise RequestError(
            422, f"request body is not a pickled {what} payload: {exc}", "SerializationError"
        ) from exc
    if not isinstance(data, dict):
        raise RequestError(422, f"{what} payload must be a dict, got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in fields)
    missing = sorted(required - set(data))
    if unknown or missing:
        raise RequestError(
            422,
            f"{what} payload has unknown keys {unknown} / lacks keys {missing}; "
            f"allowed: {sorted(fields)}",
        )
    for key, value in data.items():
        if not isinstance(value, fields[key]):
            wanted = " or ".join(t.__name__ for t in fields[key])
            raise RequestError(
                422, f"{what} payload key {key!r} must be {wanted}, got {type(value).__name__}"
            )
    return data


def submit_payload(body: bytes, content_type: str | None) -> dict[str, Any]:
    if is_json(content_type):
        raise RequestError(
            415,
            "a dispatch carries the workflow's code: send it pickled "
            "(Content-Type: application/octet-stream), as the Python client does",
            "UnsupportedMediaType",
        )
    return load_pickled(body, SUBMIT_FIELDS, {"lattice"}, "dispatch")


def redispatch_request(body: bytes, content_type: str | None) -> RedispatchRequest:
    """A RedispatchRequest from a JSON body (plain values) or a pickled one (anything)."""
    if is_json(content_type) or not body:
        try:
            parsed = RedispatchIn.model_validate_json(body or b"{}")
        except ValidationError as exc:
            raise RequestError(422, validation_message(exc), "ValidationError") from exc
        return RedispatchRequest(
            tuple(parsed.args),
            dict(parsed.kwargs),
            {},
            parsed.reuse_previous_results,
            tuple(parsed.force_rerun),
            _reuse_from(parsed.reuse_from),
        )
    data = load_pickled(body, REDISPATCH_FIELDS, set(), "redispatch")
    for name in data.get("force_rerun", ()):
        if not isinstance(name, str):
            raise RequestError(422, f"force_rerun holds task names (str), got {name!r}")
    return RedispatchRequest(
        tuple(data.get("args", ())),
        dict(data.get("kwargs", {})),
        dict(data.get("replace_electrons", {})),
        bool(data.get("reuse_previous_results", False)),
        tuple(data.get("force_rerun", ())),
        _reuse_from(data.get("reuse_from")),
    )


def _reuse_from(value: Any) -> str | tuple[str, ...] | None:
    try:
        return check_reuse_from(value)
    except ValueError as exc:
        raise RequestError(422, str(exc), "ValueError") from exc


class LatticeCache:
    """Unpickled workflows by the digest of their bytes (a bounded LRU).

    Submitting the same workflow again reuses the same objects, so per-function
    caches (fingerprints, signatures) hit instead of growing with every request.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, data: bytes) -> tuple[Any, str]:
        """The workflow pickled in ``data``, and its digest."""
        digest = serialize.digest(data)
        with self._lock:
            found = self._items.get(digest)
            if found is not None:
                self._items.move_to_end(digest)
                return found, digest
        try:
            lattice = serialize.loads(data)
        except CodeUnavailableError as exc:
            raise RequestError(422, str(exc), "CodeUnavailableError") from exc
        except SerializationError as exc:
            raise RequestError(
                422, f"the workflow cannot be unpickled: {exc}", "SerializationError"
            ) from exc
        with self._lock:
            self._items[digest] = lattice
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return lattice, digest
