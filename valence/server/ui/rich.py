"""Rich views of task outputs for the node panel: tables, arrays, images.

A DataFrame becomes a table of its first rows, a numpy array its shape, dtype
and a preview, a matplotlib figure, a PIL image, anything with ``_repr_png_``
or PNG/JPEG/GIF bytes an image (a data URI the page shows as ``<img>``).
Everything else has no rich view; the panel shows the plain preview. Types are
recognised by name, so nothing heavy is imported to look at a value.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from valence.server.ui_schemas import RichOut
from valence.text import shorten

TABLE_ROWS = 20
CELL_CHARS = 200
ARRAY_CHARS = 3000
IMAGE_BYTES = 8 * 1024 * 1024
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _is_a(value: Any, package: str, name: str) -> bool:
    """Whether ``value``'s class (or a base) is ``name`` from ``package`` (pandas 3 says
    ``pandas.DataFrame``, pandas 2 ``pandas.core.frame.DataFrame``)."""
    return any(
        k.__qualname__ == name and k.__module__.split(".")[0] == package
        for k in type(value).__mro__
    )


def _cell(value: Any) -> str:
    return shorten(str(value), CELL_CHARS, "…")


def _table(frame: Any) -> RichOut:
    if _is_a(frame, "pandas", "Series"):
        frame = frame.to_frame()
    head = frame.head(TABLE_ROWS)
    return RichOut(
        kind="table",
        shape=list(frame.shape),
        columns=[_cell(c) for c in head.columns],
        index=[_cell(i) for i in head.index],
        rows=[[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)],
    )


def _array(array: Any) -> RichOut:
    import numpy as np

    text = np.array2string(array, threshold=200, edgeitems=3, max_line_width=100)
    preview = shorten(text, ARRAY_CHARS, "…")
    return RichOut(kind="array", shape=list(array.shape), dtype=str(array.dtype), preview=preview)


def _image(data: bytes, mime: str) -> RichOut:
    if len(data) > IMAGE_BYTES:
        return RichOut(kind="none", note=f"an image of {len(data)} bytes: too big to show")
    encoded = base64.b64encode(data).decode("ascii")
    return RichOut(kind="image", mime=mime, image=f"data:{mime};base64,{encoded}")


def _png_of(value: Any) -> bytes | None:
    name = _type_name(value)
    if _is_a(value, "matplotlib", "Figure"):
        buffer = io.BytesIO()
        value.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
        return buffer.getvalue()
    if name.startswith("PIL.") and hasattr(value, "save"):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    render = getattr(type(value), "_repr_png_", None)
    if callable(render):
        data = render(value)
        return data if isinstance(data, bytes) else None
    return None


def rich_value(value: Any) -> RichOut:
    """The richest view the panel can show of ``value``."""
    if _is_a(value, "pandas", "DataFrame") or _is_a(value, "pandas", "Series"):
        return _table(value)
    if _is_a(value, "numpy", "ndarray"):
        return _array(value)
    if isinstance(value, (bytes, bytearray)):
        for magic, mime in _MAGIC.items():
            if bytes(value[: len(magic)]) == magic:
                return _image(bytes(value), mime)
        return RichOut(kind="none")
    png = _png_of(value)
    return _image(png, "image/png") if png is not None else RichOut(kind="none")
