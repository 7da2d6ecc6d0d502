"""Settings from the environment and from files in the valence home.

``VALENCE_HOME``          data directory (default: the per-user data dir)
``VALENCE_DATABASE_URL``  SQLAlchemy URL (default: SQLite file in the home)
``VALENCE_BLOB_URL``      where large values live: a directory, an fsspec URL
                          (``s3://bucket/prefix``, ...) or ``db://`` (the database);
                          default: ``<home>/blobs``
``VALENCE_EXECUTOR``      default executor name (default: ``local``)
``VALENCE_SERVER``        server address for clients (default: the one ``valence start``
                          recorded in ``<home>/server.json``, else the embedded dispatcher)
``VALENCE_TOKEN``         the server's bearer token (default: ``<home>/token``, mode 0600)
``VALENCE_MAX_REQUEST_BYTES``  largest request body the server accepts (default 64 MiB)
``VALENCE_WRITE_RETRY_SECONDS``  how long the dispatcher retries store writes that fail
                          (disk full) before failing the dispatches it runs (default 60)
``VALENCE_MAX_STREAM_BYTES``   stdout (and stderr) kept per task run (default 1 MiB)
``VALENCE_ALLOWED_HOSTS``      host names a loopback server answers besides loopback ones
``VALENCE_LEASE_SECONDS``      servers sharing a network store: silence before takeover (30)
``VALENCE_HOST_ID``            the host part of dispatcher owner ids (default: host name)

The executor, database URL, blob URL, server address and request limit have keys in
``$VALENCE_HOME/valence.toml`` too (``sdk.executor``, ``database.url``, ``blobs.url``,
``server.address``, ``server.max_request_bytes``); the variable wins.
``get_config``/``set_config``/``reload_config`` read and write that file
(:mod:`valence.configfile`).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from valence import configfile

DEFAULT_EXECUTOR = "local"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 48008
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_STREAM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process."""

    home: Path
    database_url: str
    executor: str

    blob_url: str = ""  # VALENCE_BLOB_URL / blobs.url; "" means blob_dir

    @property
    def blob_dir(self) -> Path:
        """The default blob store: a directory in the home."""
        return self.home / "blobs"

    @property
    def blobs(self) -> str:
        """Where the store keeps large values: ``blob_url``, else ``blob_dir``."""
        return self.blob_url or str(self.blob_dir)

    @property
    def server_file(self) -> Path:
        """Where a running server records its address for clients."""
        return self.home / "server.json"

    @property
    def pid_file(self) -> Path:
        return self.home / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    @property
    def token_file(self) -> Path:
        return self.home / "token"


def home_dir() -> Path:
    """The valence home (``VALENCE_HOME`` or the per-user data dir), created if missing."""
    home = Path(os.environ.get("VALENCE_HOME") or platformdirs.user_data_dir("valence"))
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


def load_settings() -> Settings:
    """Read settings from the environment and the config file, creating the home directory."""
    home = home_dir()
    url = _setting(home, "database.url") or f"sqlite:///{home / 'valence.db'}"
    executor = _setting(home, "sdk.executor") or DEFAULT_EXECUTOR
    blob_url = str(_setting(home, "blobs.url") or "").strip()
    return Settings(home=home, database_url=url, executor=executor, blob_url=blob_url)


def _setting(home: Path, key: str) -> Any:
    """A key's value: its environment variable, else the config file, else its default."""
    variable = configfile.ENVIRONMENT.get(key)
    if variable and os.environ.get(variable):
        return os.environ[variable]
    return configfile.lookup(home, key)


# ---- ct.get_config / ct.set_config / ct.reload_config --------------------------------


def get_config(key: str | list[str] | None = None) -> Any:
    """The whole configuration (a dict), one dotted key's value, or ``{key: value}`` for a list.

    Environment variables win over the file, the file over the defaults.
    """
    home = home_dir()
    if key is None or (isinstance(key, list) and not key):
        return configfile.effective(home)
    if isinstance(key, list):
        if len(key) == 1:
            return configfile.lookup(home, key[0])
        return {item: configfile.lookup(home, item) for item in key}
    return configfile.lookup(home, key)


def set_config(key_or_dict: str | dict[str, Any], value: Any = None) -> None:
    """Write one dotted key, or every ``{dotted_key: value}`` of a dict, to the config file."""
    if isinstance(key_or_dict, str):
        values = {key_or_dict: value}
    elif isinstance(key_or_dict, dict):
        values = dict(key_or_dict)
    else:
        raise TypeError(
            f"set_config takes a dotted key and a value, or a dict of them, not "
            f"{type(key_or_dict).__name__}"
        )
    configfile.update(home_dir(), values)


def reload_config() -> None:
    """Read the config file again (it is also re-read whenever it changes on disk)."""
    configfile.read_file(home_dir(), force=True)


# ---- server address and token -----------------------------------------------------------


def normalize_address(address: str) -> str:
    """``host:port`` or a URL -> ``http://host:port`` (no trailing slash)."""
    address = address.strip().rstrip("/")
    if not address:
        raise ValueError("empty server address; give host:port or http://host:port")
    if "://" not in address:
        address = "http://" + address
    return address


def server_address(explicit: str | None = None, settings: Settings | None = None) -> str | None:
    """The server clients talk to: ``explicit``, ``VALENCE_SERVER``, the recorded one, or None."""
    if explicit:
        return normalize_address(explicit)
    configured = _setting((settings or load_settings()).home, "server.address")
    if configured:
        return normalize_address(configured)
    recorded = read_server_record(settings or load_settings())
    return normalize_address(recorded["url"]) if recorded else None


def read_server_record(settings: Settings) -> dict[str, Any] | None:
    """What a running server wrote to ``server.json`` (url, pid, host, port), or None."""
    try:
        data = json.loads(settings.server_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def load_token(settings: Settings | None = None) -> str | None:
    """The token clients send: ``VALENCE_TOKEN``, else the home's token file, else None."""
    env = os.environ.get("VALENCE_TOKEN")
    if env:
        return env.strip()
    path = (settings or load_settings()).token_file
    try:
        return path.read_text().strip() or None
    except (FileNotFoundError, PermissionError):
        return None


def ensure_token(settings: Settings) -> str:
    """The server's token: ``VALENCE_TOKEN``, the token file, or a new one stored 0600."""
    token = load_token(settings)
    if token:
        return token
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(settings.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process just created it: use theirs
        return settings.token_file.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def max_request_bytes() -> int:
    """The server's request body limit, from ``VALENCE_MAX_REQUEST_BYTES``."""
    return _positive_bytes(
        "VALENCE_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, "server.max_request_bytes"
    )


def allowed_hosts() -> frozenset[str]:
    """Host names a loopback server answers besides loopback ones (``VALENCE_ALLOWED_HOSTS``)."""
    raw = os.environ.get("VALENCE_ALLOWED_HOSTS", "")
    return frozenset(name.strip().lower() for name in raw.split(",") if name.strip())


def max_stream_bytes() -> int:
    """How much of a task's stdout (and of its stderr) is kept, ``VALENCE_MAX_STREAM_BYTES``."""
    return _positive_bytes("VALENCE_MAX_STREAM_BYTES", DEFAULT_MAX_STREAM_BYTES)


def _positive_bytes(name: str, default: int, key: str | None = None) -> int:
    """A positive byte count from the variable ``name``, else the config file's ``key``."""
    raw = os.environ.get(name)
    if not raw and key is not None:
        raw = str(configfile.lookup(home_dir(), key))
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of bytes") from None
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


DEFAULT_WRITE_RETRY_S = 60.0


def write_retry_seconds() -> float:
    """How long failing store writes are retried, from ``VALENCE_WRITE_RETRY_SECONDS``."""
    raw = os.environ.get("VALENCE_WRITE_RETRY_SECONDS")
    if not raw:
        return DEFAULT_WRITE_RETRY_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"VALENCE_WRITE_RETRY_SECONDS={raw!r} is not a number of seconds"
        ) from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"VALENCE_WRITE_RETRY_SECONDS must be a finite number >= 0, got {raw}")
    return value
