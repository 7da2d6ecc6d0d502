"""HTML pages: dispatch list, dispatch (graph + summary + node panel), compare, API reference."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from valence import status as st
from valence._version import __version__

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATUSES = sorted({str(v) for v in vars(st).values() if isinstance(v, st.Status)})
# Pages hold no data and run only our own scripts; values are inserted as text by JS.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    version=__version__, static=lambda path: f"/static/{path}?v={__version__}"
)
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _page(request: Request, template: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, headers=HEADERS)


@router.get("/")
def dispatches_page(request: Request) -> HTMLResponse:
    return _page(request, "list.html", statuses=STATUSES)


@router.get("/docs")
def api_docs_page(request: Request) -> HTMLResponse:
    """The REST API reference (Swagger UI, vendored; the schema is fetched with the token)."""
    return _page(request, "docs.html")


@router.get("/dispatches/{dispatch_id}")
def dispatch_page(request: Request, dispatch_id: str) -> HTMLResponse:
    return _page(request, "dispatch.html", dispatch_id=dispatch_id)


@router.get("/dispatches/{dispatch_id}/compare")
def compare_page(request: Request, dispatch_id: str) -> HTMLResponse:
    return _page(request, "compare.html", dispatch_id=dispatch_id)
