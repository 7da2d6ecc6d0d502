"""Running the app with uvicorn: in the foreground (``valence serve``) or in a thread.

``serve`` binds the socket itself (so ``--port 0`` works and a busy port is one
clear error), records its PID and address in the valence home while it runs,
and on SIGTERM/SIGINT stops accepting requests and exits without waiting for
running dispatches: they stay RUNNING, owned by a process that is gone, and
the next server (or embedded dispatcher) on this store resumes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import psutil
import uvicorn

from valence.config import Settings, ensure_token, write_private
from valence.engine.runtime import Runtime
from valence.errors import ServerError
from valence.server.app import create_app
from valence.server.guard import is_loopback

log = logging.getLogger("valence.server")


def url_for(host: str, port: int) -> str:
    """The URL clients on this machine use for a server bound to ``host:port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host.strip('[]')}]"
    return f"http://{host}:{port}"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServerError(f"cannot listen on {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = "; is another server using it? pick another --port" if port else ""
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from exc
    sock.set_inheritable(True)
    return sock


def _config(app: Any, *, access_log: bool = False) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=access_log,
        lifespan="on",
        ws="none",
        http="auto",  # httptools when installed (the server extra), else h11
        timeout_graceful_shutdown=3,
    )


class BackgroundServer:
    """A real uvicorn server on a free loopback port, in a thread (tests, benchmarks)."""

    def __init__(
        self, runtime: Runtime, *, token: str | None = None, max_body: int | None = None
    ) -> None:
        self.runtime = runtime
        self.token = token
        self.max_body = max_body
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self, timeout: float = 30.0) -> str:
        """Start serving; return the URL once the server accepts requests."""
        self._socket = bind_socket("127.0.0.1", 0)
        app = create_app(self.runtime, token=self.token, max_body=self.max_body, host="127.0.0.1")
        self._server = server = uvicorn.Server(_config(app))
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._socket]},
            name="valence-server",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerError("the background valence server did not start")
            time.sleep(0.005)
        self.url = url_for("127.0.0.1", self._socket.getsockname()[1])
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the thread (running dispatches are not touched)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def configure_logging(level: int = logging.INFO) -> None:
    """Timestamped lines on stderr (the log file when started by ``valence start``)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(
    settings: Settings,
    host: str,
    port: int,
    *,
    workers: int | None = None,
    access_log: bool = False,
) -> None:
    """Serve the REST API in this process until SIGTERM/SIGINT (``valence serve``)."""
    token = ensure_token(settings)
    sock = bind_socket(host, port)
    url = url_for(host, sock.getsockname()[1])
    runtime = Runtime.open(settings, workers=workers)
    runtime.dispatcher.hold_lease(sweep=True)  # on a shared store: take over dead peers' work
    if not is_loopback(host):
        log.warning("listening on %s (not loopback): every client needs the token", host)
    app = create_app(runtime, token=token, host=host)
    server = uvicorn.Server(_config(app, access_log=access_log))
    for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn re-raises them after shutdown
        signal.signal(sig, lambda *_: None)
    _record(settings, url, host, sock.getsockname()[1])
    log.info("valence server at %s (pid %d, store %s)", url, os.getpid(), runtime.store.where)
    try:
        server.run(sockets=[sock])
    finally:
        _forget(settings)
        if runtime.dispatcher is not None:  # stopped workers must not be recorded as failures
            runtime.dispatcher.freeze()
        _stop_children()
        runtime.dispatcher.release_lease()  # peers on a shared store take over at once
        log.info("valence server stopped")


def _record(settings: Settings, url: str, host: str, port: int) -> None:
    me = psutil.Process()
    record = {"url": url, "pid": me.pid, "started": me.create_time(), "host": host, "port": port}
    write_private(settings.pid_file, json.dumps(record))
    write_private(settings.server_file, json.dumps(record))


def _forget(settings: Settings) -> None:
    """Remove the PID file and address, if they are still this process's."""
    for path in (settings.server_file, settings.pid_file):
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (FileNotFoundError, ValueError):
            pass


def _stop_children(timeout: float = 3.0) -> None:
    """Stop executor worker processes this server started (their tasks resume later)."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
