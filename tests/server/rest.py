"""Raw REST helpers for the API tests: pickled payloads, submit, wait."""

from __future__ import annotations

from typing import Any

import httpx

from valence import serialize

TOKEN = "api-test-token"


def pickled(**payload: Any) -> dict[str, Any]:
    """Request options carrying a pickled payload, as the Python client sends it."""
    return {
        "content": serialize.dumps(payload),
        "headers": {"Content-Type": "application/octet-stream"},
    }


def submit(api: httpx.Client, lattice: Any, *args: Any, **kwargs: Any) -> str:
    response = api.post("/dispatches", **pickled(lattice=lattice, args=args, kwargs=kwargs))
    assert response.status_code == 201, response.text
    return response.json()["dispatch_id"]


def finish(api: httpx.Client, dispatch_id: str) -> dict[str, Any]:
    while not (found := api.get(f"/dispatches/{dispatch_id}/wait").json())["done"]:
        pass
    return found
