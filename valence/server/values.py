"""Values in responses: a preview string and a download URL, never raw bytes in JSON."""

from __future__ import annotations

from valence.store import Store
from valence.text import shorten
from valence.transportable import TransportableObject
from valence.wire import ValueOut

PREVIEW_CHARS = 1000
API = "/api/v1"


def value_out(store: Store, digest: str | None) -> ValueOut | None:
    """The stored value ``digest`` as a preview (``str()``, shortened) and its blob URL."""
    if digest is None:
        return None
    text = TransportableObject.from_bytes(store.get_blob(digest)).object_string
    return ValueOut(
        digest=digest, preview=shorten(text, PREVIEW_CHARS), url=f"{API}/blobs/{digest}"
    )
