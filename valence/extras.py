"""Optional extras: a feature whose packages are missing says which extra to install.

``pip install "valence[server,cli,dask]"``; :data:`EXTRAS` lists what each brings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from valence.errors import MissingExtraError

__all__ = ["EXTRAS", "missing_extra", "needs_extra"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "uvicorn", "pydantic", "httpx", "jinja2", "starlette"),
    "cli": ("typer", "rich", "click"),
    "dask": ("distributed", "dask"),
    "postgres": ("psycopg",),
    "notebook": ("ipywidgets",),
}


def missing_extra(exc: ModuleNotFoundError, extra: str, what: str) -> MissingExtraError | None:
    """The one-line error for ``exc`` if it is a package of ``extra``, else None."""
    name = (exc.name or "").split(".")[0]
    if name not in EXTRAS[extra]:
        return None
    return MissingExtraError(
        f'{what} needs the "{extra}" extra (module {name!r} is missing): '
        f'pip install "valence[{extra}]"'
    )


@contextmanager
def needs_extra(extra: str, what: str) -> Iterator[None]:
    """Turn a ModuleNotFoundError of ``extra``'s packages into :class:`MissingExtraError`."""
    try:
        yield
    except ModuleNotFoundError as exc:
        error = missing_extra(exc, extra, what)
        if error is None:
            raise
        raise error from None
