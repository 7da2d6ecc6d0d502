"""The web UI: HTML pages at ``/`` that read the REST API with a little JavaScript.

Pages are Jinja templates (no data inside: the browser fetches it from
``/api/v1``); static files, including the vendored graph layout libraries
(``static/vendor/README``), are served from ``/static``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from valence.server.ui.pages import STATIC_DIR, router


def mount_ui(app: FastAPI) -> None:
    """Serve the UI's pages at ``/`` and its static files at ``/static`` on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
