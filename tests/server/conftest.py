"""A real server (uvicorn, 127.0.0.1, free port, in a thread) and a raw HTTP client for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.rest import TOKEN


@pytest.fixture
def runtime(valence_home) -> Iterator[Any]:
    from valence.engine.runtime import Runtime

    rt = Runtime.open()
    yield rt
    rt.dispatcher.wait_all(60)
    rt.store.close()


@pytest.fixture
def server(runtime) -> Iterator[Any]:
    from valence.server.serve import BackgroundServer

    with BackgroundServer(runtime, token=TOKEN, max_body=1_000_000) as running:
        yield running


@pytest.fixture
def api(server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=60) as client:
        yield client
