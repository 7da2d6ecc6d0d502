"""Text shortened for display: one rule for node names, previews and table cells."""

from __future__ import annotations


def shorten(text: str, limit: int, ellipsis: str = "...") -> str:
    """``text`` if at most ``limit`` characters long, else cut to ``limit`` with ``ellipsis``."""
    return text if len(text) <= limit else text[: limit - len(ellipsis)] + ellipsis
