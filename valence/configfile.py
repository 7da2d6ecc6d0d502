"""``ct.get_config`` / ``ct.set_config`` / ``ct.reload_config`` over ``<home>/valence.toml``.

Keys are dotted paths into nested TOML tables, as in Covalent
(``executors.local.workers``). What a key reads, highest first:

1. its environment variable, for the keys in :data:`ENVIRONMENT`;
2. the TOML file in the valence home (``$VALENCE_HOME/valence.toml``);
3. the default in :data:`DEFAULTS`.

Unknown keys may be set (plugins keep their settings under
``executors.<name>``); a known key only takes a value of its default's type.
Writes are read-modify-write under an exclusive file lock and replace the file
atomically (mode 0600), so two processes setting keys at once lose neither.
The file is re-read when it changes on disk; ``reload_config`` forces it.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomllib

from valence.errors import ConfigError

FILE_NAME = "valence.toml"

DEFAULTS: dict[str, Any] = {
    "sdk": {"executor": "local"},
    "database": {"url": ""},
    "blobs": {"url": ""},
    "server": {"address": "", "max_request_bytes": 64 * 1024 * 1024},
    "executors": {
        "local": {
            "workers": 0,
            "log_stdout": "",
            "log_stderr": "",
            "cache_dir": "",
            "workdir": "",
            "conda_env": "",
        },
        "thread": {"workers": 0},
        "dask": {"scheduler_address": "", "workers": 0, "threads_per_worker": 1},
    },
}
"""Every known key with its default; ``""`` and ``0`` mean "not set" (TOML has no null)."""

ENVIRONMENT = {
    "sdk.executor": "VALENCE_EXECUTOR",
    "database.url": "VALENCE_DATABASE_URL",
    "blobs.url": "VALENCE_BLOB_URL",
    "server.address": "VALENCE_SERVER",
    "server.max_request_bytes": "VALENCE_MAX_REQUEST_BYTES",
}
"""Keys whose environment variable wins over the file."""

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


# ---- reading ------------------------------------------------------------------------


def config_path(home: Path) -> Path:
    return home / FILE_NAME


def read_file(home: Path, *, force: bool = False) -> dict[str, Any]:
    """The file's tables (empty if there is no file), cached until it changes."""
    path = config_path(home)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp and not force:
            return cached[1]
    data = _parse(path)
    with _lock:
        _cache[path] = (stamp, data)
    return data


def _parse(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the config file {path} is not valid TOML ({exc}); fix or delete it"
        ) from None


def effective(home: Path) -> dict[str, Any]:
    """Defaults, overlaid by the file, overlaid by the environment."""
    merged = copy.deepcopy(DEFAULTS)
    _merge(merged, read_file(home))
    for key, variable in ENVIRONMENT.items():
        raw = os.environ.get(variable)
        if raw:
            _assign(merged, key, _coerce_env(key, raw))
    return merged


def lookup(home: Path, key: str) -> Any:
    """The value of one dotted key; KeyError naming the key if it is not set anywhere."""
    _split(key)
    node: Any = effective(home)
    for part in _split(key):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"no config key {key!r}; `valence config list` shows the keys")
        node = node[part]
    return copy.deepcopy(node)


def _coerce_env(key: str, raw: str) -> Any:
    default = _default(key)
    if isinstance(default, int) and not isinstance(default, bool):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENVIRONMENT[key]}={raw!r} is not an integer") from None
    return raw


# ---- writing ------------------------------------------------------------------------


def update(home: Path, values: Mapping[str, Any]) -> None:
    """Set dotted keys in the file (validated first: nothing is written on bad input)."""
    checked = {key: _check(key, value) for key, value in values.items()}
    path = config_path(home)
    with _exclusive(home):
        data = _parse(path) if path.exists() else {}
        for key, value in checked.items():
            _assign(data, key, value)
        _write_atomic(path, dumps(data))
    read_file(home, force=True)


@contextmanager
def _exclusive(home: Path) -> Iterator[None]:
    fd = os.open(home / f".{FILE_NAME}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _check(key: str, value: Any) -> Any:
    """``value`` if it may be stored under ``key``; ConfigError saying why not."""
    _split(key)
    _check_value(key, value)
    default = _default(key)
    if default is _MISSING:
        return value
    if isinstance(default, dict):
        raise ConfigError(f"{key!r} is a table of settings; set one of its keys, e.g. {key}.X")
    if isinstance(default, bool) or not isinstance(default, int | float):
        expected: type | tuple[type, ...] = type(default)
    else:
        expected = int if isinstance(default, int) else (int, float)
    if isinstance(value, bool) and expected is not bool:
        expected_ok = False
    else:
        expected_ok = isinstance(value, expected)
    if not expected_ok:
        raise ConfigError(
            f"config key {key!r} takes a {type(default).__name__} (default {default!r}), "
            f"not {type(value).__name__} {value!r}"
        )
    return value


def _check_value(key: str, value: Any) -> None:
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _check_value(f"{key}.{sub_key}", sub_value)
    elif isinstance(value, list):
        for item in value:
            _check_value(key, item)
    elif value is None or not isinstance(value, str | int | float | bool):
        raise ConfigError(
            f"config key {key!r} cannot hold {type(value).__name__} {value!r}: TOML stores "
            "strings, numbers, booleans, lists and tables (use '' or 0 for unset)"
        )


# ---- dotted keys -------------------------------------------------------------------

_MISSING = object()


def _split(key: str) -> list[str]:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"a config key is a dotted path like 'executors.local.workers', not {key!r}"
        )
    return key.split(".")


def _default(key: str) -> Any:
    node: Any = DEFAULTS
    for part in _split(key):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    parts = _split(key)
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(
                f"cannot set {key!r}: {'.'.join(parts[: depth + 1])!r} holds a value, not a table"
            )
        node = child
    node[parts[-1]] = value


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


# ---- a small TOML writer -----------------------------------------------------------


def dumps(data: Mapping[str, Any]) -> str:
    """Nested dicts of strings, numbers, booleans and lists as TOML text."""
    lines: list[str] = []
    _emit(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _emit(table: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    if path and (scalars or not tables):
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _emit(value, [*path, key], lines)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            return {True: "inf", False: "-inf"}[value > 0] if value == value else "nan"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} {value!r} to TOML")
