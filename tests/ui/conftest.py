"""UI test fixtures: a real server on a free 127.0.0.1 port and Debian's chromium (Playwright).

Without ``/usr/bin/chromium`` the browser tests skip, saying how to install it.
Screenshots go to each test's ``tmp_path/screenshots``; with
``VALENCE_UI_SCREENSHOTS=docs`` the README's copies are refreshed too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import valence as ct

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}


@dataclass
class LiveServer:
    """A running server and the public API pointed at it."""

    url: str
    runtime: Any
    handle: Any = None  # the BackgroundServer: ``handle.stop()`` takes the server away

    def dispatch(self, lattice: Any, *args: Any, **kwargs: Any) -> str:
        return ct.dispatch(lattice, dispatcher_addr=self.url)(*args, **kwargs)

    def wait(self, dispatch_id: str) -> Any:
        return ct.get_result(dispatch_id, wait=True, dispatcher_addr=self.url, timeout=60)

    def redispatch(self, dispatch_id: str, **options: Any) -> str:
        return ct.redispatch(dispatch_id, dispatcher_addr=self.url, **options)()

    @property
    def backend(self) -> Any:
        """The server's own backend: dispatches made through it keep their source text."""
        from valence.backends.local import LocalBackend

        return LocalBackend(self.runtime)


@pytest.fixture
def start_server(valence_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """``start_server(token=None)`` -> a LiveServer over this test's valence home."""
    from valence.backends.http import close_all
    from valence.engine.runtime import Runtime
    from valence.server.serve import BackgroundServer

    started: list[tuple[BackgroundServer, Any]] = []

    def start(token: str | None = None) -> LiveServer:
        if token is not None:
            monkeypatch.setenv("VALENCE_TOKEN", token)
        runtime = Runtime.open()
        server = BackgroundServer(runtime, token=token)
        started.append((server, runtime))
        return LiveServer(server.start(), runtime, server)

    yield start
    close_all()
    for server, runtime in started:
        server.stop()
        runtime.dispatcher.wait_all(60)
        runtime.store.close()


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM}: `apt-get install -y chromium` "
            "(.ci/run does this)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; JavaScript errors fail the test."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(20_000)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def shoot(page: Any, tmp_path: Path) -> Callable[[str], Path]:
    """``shoot(name)`` saves a screenshot of the page under ``tmp_path/screenshots``.

    ``docs_copy=True`` marks the screenshots the README shows (refreshed when
    ``VALENCE_UI_SCREENSHOTS`` names a folder); ``crop=True`` cuts the empty space below.
    """
    folder = tmp_path / "screenshots"
    folder.mkdir()
    docs = os.environ.get("VALENCE_UI_SCREENSHOTS")

    def save(name: str, *, docs_copy: bool = False, crop: bool = False) -> Path:
        path = folder / f"{name}.png"
        clip = None
        if crop:  # down to the end of the page's content
            bottom = page.evaluate("document.querySelector('main').getBoundingClientRect().bottom")
            clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": min(bottom + 24, 900)}
        page.screenshot(path=str(path), clip=clip)
        if docs and docs_copy:
            Path(docs).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(docs) / f"ui-{name}.png")
        return path

    return save
