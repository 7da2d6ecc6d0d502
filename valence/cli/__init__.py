"""The ``valence`` command line (typer + rich)."""
