"""Every test gets its own valence home (a real SQLite file in a temp dir)."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def valence_home(tmp_path, monkeypatch):
    home = tmp_path / "valence-home"
    monkeypatch.setenv("VALENCE_HOME", str(home))
    monkeypatch.delenv("VALENCE_DATABASE_URL", raising=False)
    monkeypatch.setenv("VALENCE_EXECUTOR", "thread")
    yield home
    embedded = sys.modules.get("valence.engine.embedded")
    if embedded is not None:
        embedded.reset()
