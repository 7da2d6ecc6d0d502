"""``TransportableObject``: a value with its pickle, as Covalent's API exposes it."""

from __future__ import annotations

import base64
import json
import platform
from typing import Any

import cloudpickle

from valence import serialize

_MISSING = object()


class TransportableObject:
    """A serialized value plus its ``str()``; ``get_deserialized()`` gives it back."""

    def __init__(self, obj: Any) -> None:
        self._data = serialize.dumps(obj)
        self._value = obj
        self._string: str | None = None

    _origin: str | None = None  # what produced the value, named when it cannot be loaded

    @classmethod
    def from_bytes(cls, data: bytes, origin: str | None = None) -> TransportableObject:
        """Wrap already-serialized bytes; nothing is unpickled until asked.

        ``origin`` (e.g. "the output of node 3 (add) of dispatch ...") is named
        in the error if the bytes cannot be unpickled here.
        """
        new = cls.__new__(cls)
        new._data, new._value, new._string, new._origin = data, _MISSING, None, origin
        return new

    @classmethod
    def make_transportable(cls, obj: Any) -> TransportableObject:
        return obj if isinstance(obj, TransportableObject) else cls(obj)

    def get_deserialized(self) -> Any:
        if self._value is _MISSING:
            data, origin = self._data, self._origin
            self._value = (
                serialize.loads(data) if origin is None else serialize.load_named(data, origin)
            )
        return self._value

    @property
    def object_string(self) -> str:
        if self._string is None:
            try:
                self._string = str(self.get_deserialized())
            except Exception as exc:  # shown, not raised: a preview must not break reading
                self._string = f"<cannot show value: {type(exc).__name__}: {exc}>"
        return self._string

    @property
    def python_version(self) -> str:
        return platform.python_version()

    @property
    def header(self) -> dict[str, Any]:
        return {
            "py_version": self.python_version,
            "cloudpickle_version": cloudpickle.__version__,
            "attrs": {"doc": "", "name": ""},
        }

    @property
    def attrs(self) -> dict[str, Any]:
        return self.header["attrs"]

    @property
    def digest(self) -> str:
        return serialize.digest(self._data)

    def serialize(self) -> bytes:
        return self._data

    def get_serialized(self) -> str:
        """The pickle as base64 text (Covalent's ``_object``)."""
        return base64.b64encode(self._data).decode()

    @property
    def json(self) -> str:
        """The value as JSON text, or "" when it is not JSON-serializable (Covalent's rule)."""
        try:
            return json.dumps(self.get_deserialized())
        except (TypeError, ValueError):
            return ""

    @staticmethod
    def deserialize(
        data: bytes, *, header_only: bool = False, string_only: bool = False
    ) -> TransportableObject:
        """Wrap ``serialize()`` output; nothing is unpickled until a value is asked for,
        so ``header_only``/``string_only`` reads cost no unpickling either."""
        return TransportableObject.from_bytes(data)

    @staticmethod
    def deserialize_list(collection: list[Any]) -> list[Any]:
        """Values of a (nested) list of TransportableObjects, lists and dicts."""
        return [_deserialize_item(item) for item in collection]

    @staticmethod
    def deserialize_dict(collection: dict[Any, Any]) -> dict[Any, Any]:
        """Values of a (nested) dict of TransportableObjects, lists and dicts."""
        return {key: _deserialize_item(item) for key, item in collection.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "TransportableObject",
            "attributes": {
                "_object": base64.b64encode(self._data).decode(),
                "_object_string": self.object_string,
                "_header": self.header,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransportableObject:
        return cls.from_bytes(base64.b64decode(data["attributes"]["_object"]))

    def serialize_to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def deserialize_from_json(cls, text: str) -> TransportableObject:
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransportableObject) and self._data == other._data

    def __hash__(self) -> int:
        return hash(self._data)

    def __repr__(self) -> str:
        return f"TransportableObject({self.object_string})"

    def _repr_html_(self) -> str:
        """The value's own notebook HTML (a DataFrame's table, ...), else its text, labelled."""
        import html

        try:
            value = self.get_deserialized()
            inner = value._repr_html_() if hasattr(value, "_repr_html_") else None
        except Exception:
            value, inner = None, None
        if not isinstance(inner, str):
            from valence.text import shorten

            text = shorten(self.object_string, 5000)  # a huge value must not flood the page
            inner = f"<pre style='margin:0'>{html.escape(text)}</pre>"
        kind = html.escape(type(value).__name__)
        return f"<div><small>TransportableObject of {kind}</small>{inner}</div>"


def _deserialize_item(item: Any) -> Any:
    if isinstance(item, TransportableObject):
        return item.get_deserialized()
    if isinstance(item, list):
        return TransportableObject.deserialize_list(item)
    if isinstance(item, dict):
        return TransportableObject.deserialize_dict(item)
    raise TypeError(
        f"cannot deserialize a {type(item).__name__}: expected TransportableObjects in "
        "(nested) lists and dicts"
    )
