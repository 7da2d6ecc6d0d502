"""Run a test against the embedded dispatcher and against a real server.

A test marked ``@pytest.mark.both_modes`` runs twice: ``embedded`` (nothing
started) and ``server`` (a real uvicorn server on a free 127.0.0.1 port, in a
thread of this process, over the test's own valence home; clients find it
through ``VALENCE_SERVER`` and authenticate with ``VALENCE_TOKEN``). The
``client_mode`` fixture says which, and ``active_store`` is the store the
dispatches land in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

MODES = ("embedded", "server")


@dataclass
class Mode:
    name: str
    runtime: Any = None  # the server's runtime in server mode
    url: str | None = None

    @property
    def store(self) -> Any:
        if self.runtime is not None:
            return self.runtime.store
        from valence.engine.embedded import get_embedded

        return get_embedded().store


def parametrize(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_modes") is not None:
        metafunc.parametrize("client_mode", MODES, indirect=True)


@pytest.fixture
def server_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mode]:
    """A real server over this test's valence home, used by the public functions."""
    from valence.backends.http import close_all
    from valence.engine.runtime import Runtime
    from valence.server.serve import BackgroundServer

    runtime = Runtime.open()
    server = BackgroundServer(runtime, token="test-token")
    url = server.start()
    monkeypatch.setenv("VALENCE_SERVER", url)
    monkeypatch.setenv("VALENCE_TOKEN", "test-token")
    try:
        yield Mode("server", runtime, url)
    finally:
        close_all()
        server.stop()
        runtime.dispatcher.wait_all(60)
        runtime.store.close()
