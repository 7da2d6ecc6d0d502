"""Dispatch ids as users type them: checked and normalised before any lookup.

Dispatch ids are lowercase UUID4 strings; a unique prefix of one names it too.
The store matches prefixes through :func:`normalise_prefix`, so SQLite and
PostgreSQL (whose ``LIKE`` differ in case) agree; both backends, and so the
server's routes, read a user's id through :func:`dispatch_prefix`, so the HTTP
client never puts anything but an id into a URL path.
"""

from __future__ import annotations

import re

from valence.errors import DispatchNotFoundError

_ID_TEXT = re.compile(r"[0-9a-f-]{1,36}")


def normalise_prefix(value: object) -> str:
    """``value`` stripped and lowercased; TypeError unless a str, ValueError if empty."""
    if not isinstance(value, str):
        shown = repr(value)[:60]
        raise TypeError(
            f"a dispatch id is a str (a UUID such as the one ct.dispatch returned, or a "
            f"unique prefix of it), got {type(value).__name__} {shown}"
        )
    text = value.strip().lower()
    if not text:
        raise ValueError("an empty prefix matches every dispatch; give a few characters")
    return text


def dispatch_prefix(value: object) -> str:
    """:func:`normalise_prefix`, and DispatchNotFoundError unless it can start a UUID."""
    text = normalise_prefix(value)
    if not _ID_TEXT.fullmatch(text):
        raise DispatchNotFoundError(
            f"no dispatch with id {str(value)[:80]!r}: dispatch ids are UUIDs (hex digits "
            "and '-', 36 characters at most); list dispatches with `valence list`"
        )
    return text
