"""Where code comes from: user code (hashed by content) or installed (name and version)."""

from __future__ import annotations

import functools
import importlib.util
import platform
import sys
from typing import Any

from valence.fingerprint.encoding import _MISSING
from valence.fingerprint.reasons import Unhashable
from valence.serialize import is_installed_path, is_user_module


def _module_kind(name: str | None) -> str:
    """``"user"`` (hash its code) or ``"installed"`` (hash its name and version)."""
    if not isinstance(name, str) or name not in sys.modules:
        return "user"  # no module: code loaded by value or created by exec
    kind = _KINDS.get(name)
    if kind is None:
        kind = _KINDS[name] = "user" if is_user_module(name) else "installed"
    return kind


_KINDS: dict[str, str] = {}


def _distributions() -> dict[str, list[str]]:
    """Distributions by import name (rescanned when ``sys.path`` changes)."""
    return _scan_distributions(tuple(sys.path))


@functools.lru_cache(maxsize=4)
def _scan_distributions(path: tuple[str, ...]) -> dict[str, list[str]]:
    import importlib.metadata  # on first use: it costs a fresh process ~20 ms

    return dict(importlib.metadata.packages_distributions())


def _installed_top(top: str) -> bool:
    """Whether the top-level module ``top`` would be imported from an installed location."""
    return _find_installed(top, tuple(sys.path))


@functools.lru_cache(maxsize=256)
def _find_installed(top: str, path: tuple[str, ...]) -> bool:
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    where = spec.origin if spec.has_location else None
    if where is None:  # a namespace package: where its first portion lives
        where = next(iter(spec.submodule_search_locations or ()), None)
    return where is None or is_installed_path(where)  # None: builtin or frozen


@functools.cache
def _module_version(name: str) -> str:
    import importlib.metadata

    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top == "builtins":
        return f"python=={platform.python_version()}"
    dists = sorted(set(_distributions().get(top, ())))
    if dists:
        return ",".join(f"{d}=={importlib.metadata.version(d)}" for d in dists)
    try:  # an editable install may not map its import name (valence itself)
        return f"{top}=={importlib.metadata.version(top)}"
    except importlib.metadata.PackageNotFoundError:
        pass
    version = getattr(sys.modules.get(top), "__version__", None)
    if isinstance(version, str):
        return f"{top}=={version}"
    raise Unhashable(f"cannot tell the version of installed module {name!r}; pin it with version=")


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set for classes created by a class statement


def _by_code(obj: Any) -> bool:
    """Whether ``obj`` must be hashed by content: it is not importable from an installed module."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if _module_kind(module) == "user" or not isinstance(qualname, str) or "<" in qualname:
        return True
    if isinstance(obj, type) and not obj.__flags__ & _HEAPTYPE:
        return False  # a C type: never created dynamically
    return not _resolves(obj, module, qualname)


def _resolves(obj: Any, module: str, qualname: str) -> bool:
    target: Any = sys.modules.get(module)
    *path, last = qualname.split(".")
    for part in path:
        target = getattr(target, part, None)
    found = vars(target).get(last, _MISSING) if hasattr(target, "__dict__") else _MISSING
    return getattr(found, "__func__", found) is obj or getattr(target, last, None) is obj
