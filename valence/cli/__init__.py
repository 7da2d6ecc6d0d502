"""The ``valence`` command line (typer + rich)."""

from __future__ import annotations

import sys


def run() -> None:
    """The console command; without the ``cli`` extra, one line says how to get it."""
    from valence.extras import missing_extra

    try:
        from valence.cli.main import run as main
    except ModuleNotFoundError as exc:
        error = missing_extra(exc, "cli", "the valence command")
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    main()
