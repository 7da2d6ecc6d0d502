"""A real HTTP server on 127.0.0.1 serving and accepting files from a dict."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FileServer:
    """``files[path] = bytes`` is served at ``url + path``; PUT stores into it."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send_head(self) -> bytes | None:
                server.requests.append((self.command, self.path))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return None
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                if self.path in server.etags:
                    self.send_header("ETag", server.etags[self.path])
                self.end_headers()
                return body

            def do_HEAD(self) -> None:
                self._send_head()

            def do_GET(self) -> None:
                if self.path == "/cut":  # promises 1000 bytes, sends 10, hangs up
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"0123456789")
                    self.close_connection = True
                    return
                body = self._send_head()
                if body is not None:
                    self.wfile.write(body)

            def do_PUT(self) -> None:
                server.requests.append(("PUT", self.path))
                size = int(self.headers.get("Content-Length", "0"))
                server.files[self.path] = self.rfile.read(size)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    server.thread.start()
    yield server
    server.stop()


@pytest.fixture
def tls_file_server(tmp_path, monkeypatch) -> Iterator[FileServer]:
    """HTTPS with a self-signed certificate for 127.0.0.1, trusted via SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server = FileServer(tls=(str(cert), str(key)))
    server.thread.start()
    yield server
    server.stop()
