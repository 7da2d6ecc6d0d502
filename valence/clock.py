"""The one wall clock: every recorded time is timezone-aware UTC (the store refuses naive ones)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, as a timezone-aware UTC ``datetime``."""
    return datetime.now(timezone.utc)
