"""The checks every request passes before anything else reads it: Host, then token.

Both run as ASGI middleware, ahead of the body size limit and before any body
is read or parsed: a request without the token gets 401 whatever it carries.

* **Host** (loopback servers only): a browser page on another site can make its
  own host name resolve to 127.0.0.1 (DNS rebinding) and then talk to the
  server as a same-origin page. Such requests carry that foreign name in their
  ``Host`` header; only loopback names, and those listed in
  ``VALENCE_ALLOWED_HOSTS`` (comma-separated, for a reverse proxy), are
  accepted (400 otherwise).
* **Token**: every path under ``/api/v1`` except ``/api/v1/health`` needs
  ``Authorization: Bearer <token>`` (401 otherwise), the schema included.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from typing import Any

Scope = dict[str, Any]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:80`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware: 400 for a foreign Host on a loopback server, 401 without the token."""

    def __init__(
        self,
        app: Any,
        *,
        token: str | None,
        protected: str,
        open_paths: frozenset[str],
        loopback_only: bool,
        extra_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.token = token
        self.protected = protected
        self.open_paths = open_paths
        self.loopback_only = loopback_only
        self.extra_hosts = frozenset(h.lower() for h in extra_hosts)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        name = host_name(host)
        if self.loopback_only and not is_loopback(name) and name not in self.extra_hosts:
            detail = (
                f"Host header {host[:100]!r} is not a loopback name: this server listens on "
                "loopback only and answers to localhost, 127.0.0.1 or [::1] (a foreign name "
                "here is how DNS rebinding attacks look); behind a reverse proxy, list its "
                "name in VALENCE_ALLOWED_HOSTS"
            )
            await send_error(send, 400, detail, "HostNotAllowed")
            return
        if self.token is not None and self._needs_token(scope["path"]):
            scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
            good = scheme.lower() == b"bearer"
            if not secrets.compare_digest(given.strip(), self.token.encode()) or not good:
                challenge = [(b"www-authenticate", b"Bearer")]
                await send_error(send, 401, TOKEN_MESSAGE, "AuthenticationError", challenge)
                return
        await self.app(scope, receive, send)

    def _needs_token(self, path: str) -> bool:
        inside = path == self.protected or path.startswith(self.protected + "/")
        return inside and path.rstrip("/") not in self.open_paths


TOKEN_MESSAGE = (
    "missing or wrong token: send 'Authorization: Bearer <token>' with the server's "
    "token (set VALENCE_TOKEN; `valence start` stores it in <valence home>/token)"
)


async def send_error(
    send: Any, status: int, detail: str, error: str, extra: list[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with the JSON error body every valence error has."""
    body = json.dumps({"detail": detail, "error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
