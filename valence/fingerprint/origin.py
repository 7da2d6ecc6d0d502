"""Where code comes from: user code (hashed by content) or installed (name and version)."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import platform
import sys
from typing import Any

from valence.fingerprint.encoding import _MISSING
from valence.fingerprint.reasons import Unhashable
from valence.serialize import is_user_module


def _module_kind(name: str | None) -> str:
    """``"user"`` (hash its code) or ``"installed"`` (hash its name and version)."""
    if not isinstance(name, str) or name not in sys.modules:
        return "user"  # no module: code loaded by value or created by exec
    kind = _KINDS.get(name)
    if kind is None:
        user = is_user_module(name) or _editable(name.partition(".")[0])
        kind = _KINDS[name] = "user" if user else "installed"
    return kind


_KINDS: dict[str, str] = {}


def _distributions() -> dict[str, list[str]]:
    """Distributions by import name (rescanned when ``sys.path`` changes)."""
    return _scan_distributions(tuple(sys.path))


@functools.lru_cache(maxsize=4)
def _scan_distributions(path: tuple[str, ...]) -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _editable(top: str) -> bool:
    """An editable install is edited in place without a version bump: hash it as code."""
    if top == "valence":
        return False
    for name in _distributions().get(top, ()):
        text = importlib.metadata.distribution(name).read_text("direct_url.json") or "{}"
        if json.loads(text).get("dir_info", {}).get("editable"):
            return True
    return False


@functools.cache
def _module_version(name: str) -> str:
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
