"""Every test gets its own valence home (a real SQLite file in a temp dir)."""

from __future__ import annotations

import sys

import pytest

from tests import modes


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_modes: run the test embedded and against a real valence server"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    modes.parametrize(metafunc)


@pytest.fixture(autouse=True)
def valence_home(tmp_path, monkeypatch):
    home = tmp_path / "valence-home"
    monkeypatch.setenv("VALENCE_HOME", str(home))
    monkeypatch.delenv("VALENCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VALENCE_BLOB_URL", raising=False)
    monkeypatch.delenv("VALENCE_SERVER", raising=False)
    monkeypatch.delenv("VALENCE_TOKEN", raising=False)
    monkeypatch.setenv("VALENCE_EXECUTOR", "thread")
    yield home
    http = sys.modules.get("valence.backends.http")
    if http is not None:
        http.close_all()
    embedded = sys.modules.get("valence.engine.embedded")
    if embedded is not None:
        embedded.reset()


@pytest.fixture
def valence_db(valence_home):
    """The database tests dispatch to: the home's SQLite file (modules may override)."""
    return None


@pytest.fixture(autouse=True)
def client_mode(request, valence_home, valence_db):
    """``embedded`` unless a ``both_modes`` test asked for ``server`` too (tests/modes.py)."""
    if getattr(request, "param", "embedded") == "server":
        return request.getfixturevalue("server_mode")
    return modes.Mode("embedded")


@pytest.fixture
def active_store(client_mode):
    """The store dispatches land in, in either mode."""
    return client_mode.store


server_mode = modes.server_mode
