"""Bytes for values and code: cloudpickle with the user's own modules pickled by value.

A stored function must load in a process that lacks its source file (redispatch from a run id
alone), so the modules of the user's project are pickled *by value*; installed packages, the
stdlib and valence itself are pickled by reference and must be importable where the bytes are
loaded (``loads`` says which module is missing).

A user module is ``__main__`` or one whose file lies outside the stdlib and site-packages
(``is_installed_path``); a distribution claiming its name (develop or editable install) does
not make it installed.
User modules are found while pickling: every function, class and module cloudpickle meets goes
through ``_Pickler.reducer_override``, which registers its module with
``cloudpickle.register_pickle_by_value`` the first time (registration is process-wide, and
remembered here); ``functools.lru_cache`` wrappers of user functions, which pickle by name only,
are rebuilt around the function pickled by value, and ``functools.singledispatch`` functions
(whose closure holds a weak cache) are rebuilt from their registry. A function that calls
``globals()``, ``eval`` or ``exec`` takes every picklable global of its module along, not
only those it names. Plain builtin values skip cloudpickle.
"""

from __future__ import annotations

import functools
import io
import os
import pathlib
import pickle
import site
import sys
import sysconfig
import types
from typing import Any

import cloudpickle

from valence.blobfiles import digest_of
from valence.errors import CodeUnavailableError, SerializationError

__all__ = ["digest", "dumps", "is_installed_path", "is_user_module", "loads"]

_PROTOCOL = cloudpickle.DEFAULT_PROTOCOL
_ATOMS = frozenset({type(None), bool, int, float, complex, str, bytes})
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})


def dumps(obj: Any) -> bytes:
    """Pickle ``obj``; user code by value. Raises ``SerializationError`` naming the type."""
    try:
        if _plain(obj):
            return pickle.dumps(obj, protocol=_PROTOCOL)
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=_PROTOCOL).dump(obj)
        return buffer.getvalue()
    except Exception as exc:
        raise SerializationError(
            f"cannot serialize {_type_name(obj)}: {exc}. Return/pass a picklable value (plain "
            "data, numpy/pandas objects, instances of module-level classes), or give the object "
            "__getstate__/__reduce__; open files, locks, sockets and generators cannot be stored"
        ) from exc


def loads(data: bytes) -> Any:
    """Unpickle ``data``; a missing module raises ``CodeUnavailableError`` naming it."""
    try:
        return cloudpickle.loads(data)
    except ModuleNotFoundError as exc:
        raise CodeUnavailableError(
            f"stored code needs module {exc.name or exc!r}, which this environment cannot import; "
            f"install it in this environment (the version the dispatch ran with) and retry",
            name=exc.name,
        ) from exc
    except Exception as exc:
        raise SerializationError(
            f"cannot deserialize a stored value: {type(exc).__name__}: {exc}"
        ) from exc


def load_named(data: bytes, origin: str) -> Any:
    """:func:`loads`, whose errors start with "cannot load <origin>: " (e.g. which node)."""
    try:
        return loads(data)
    except (CodeUnavailableError, SerializationError) as exc:
        error = type(exc)(f"cannot load {origin}: {exc}")
        if isinstance(exc, CodeUnavailableError):
            error.name = exc.name
        raise error from exc


digest = digest_of  # sha256 hex of the bytes: the content address of a blob


def _plain(obj: Any, depth: int = 0) -> bool:
    """Builtin values (and small containers of them) that need no module discovery."""
    cls = type(obj)
    if cls in _ATOMS:
        return True
    if depth > 2 or cls not in _CONTAINERS or len(obj) > 32:
        return False
    items = [*obj.keys(), *obj.values()] if cls is dict else obj
    return all(_plain(x, depth + 1) for x in items)


def _type_name(obj: Any) -> str:
    cls = type(obj)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, registering the module of each function/class/module it meets."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.ModuleType):
            _register(obj.__name__)
        elif isinstance(obj, (types.FunctionType, type)):
            _register(getattr(obj, "__module__", None))
            if _is_singledispatch(obj) and _by_value(str(obj.__module__)):
                # its closure holds a weak dispatch cache: rebuild it from its registry
                registry = [(c, f) for c, f in obj.registry.items() if c is not object]
                return (
                    functools.singledispatch,
                    (obj.__wrapped__,),
                    registry,
                    None,
                    None,
                    _register_all,
                )
        elif type(obj) is _LRU_WRAPPER and is_user_module(str(obj.__module__)):
            # lru_cache wrappers pickle by name only; rebuild them around the function by value
            return _lru_cache, (obj.__wrapped__, obj.cache_parameters())
        return super().reducer_override(obj)

    def _dynamic_function_reduce(self, func: types.FunctionType) -> Any:
        """cloudpickle ships only the globals a function names; ``globals()`` needs them all."""
        reduced = super()._dynamic_function_reduce(func)
        if _reads_globals(func.__code__) and not getattr(self, "probing", False):
            slotstate = reduced[2][1]
            extra = {
                name: value
                for name, value in func.__globals__.items()
                if name not in slotstate["__globals__"]
                and not name.startswith("__")
                and _picklable(value)
            }
            slotstate["__globals__"] = {**slotstate["__globals__"], **extra}
        return reduced


_LRU_WRAPPER = type(functools.lru_cache(maxsize=None)(len))


@functools.cache
def _reads_globals(code: types.CodeType) -> bool:
    """The code calls ``globals()``, ``eval`` or ``exec`` (itself or in nested code)."""
    if not {"globals", "eval", "exec"}.isdisjoint(code.co_names):
        return True
    return any(_reads_globals(c) for c in code.co_consts if isinstance(c, types.CodeType))


def _picklable(value: Any) -> bool:
    probe = _Pickler(io.BytesIO(), protocol=_PROTOCOL)
    probe.probing = True  # each global is probed once, by the outermost pickler
    try:
        probe.dump(value)
    except Exception:  # left out: a task reading it by name fails there with KeyError
        return False
    return True


def _by_value(module: str) -> bool:
    """Code of this module is pickled by value: a user module, or one loaded by value here."""
    return module not in sys.modules or is_user_module(module)


def _is_singledispatch(obj: Any) -> bool:
    namespace = getattr(obj, "__dict__", {})
    return "registry" in namespace and "dispatch" in namespace and "__wrapped__" in namespace


def _register_all(dispatcher: Any, registry: list[tuple[type, Any]]) -> None:
    for cls, implementation in registry:
        dispatcher.register(cls, implementation)


def _lru_cache(function: Any, parameters: dict[str, Any]) -> Any:
    return functools.lru_cache(maxsize=parameters["maxsize"], typed=parameters["typed"])(function)


_SEEN: set[str] = set()  # module names already registered by value, or checked and not user


def _register(name: str | None) -> None:
    if not isinstance(name, str) or name in _SEEN:
        return
    module = sys.modules.get(name)
    if module is None or name == "__main__":  # cloudpickle pickles both by value already
        return
    if is_user_module(module):
        cloudpickle.register_pickle_by_value(module)
    _SEEN.add(name)


def is_user_module(module: str | types.ModuleType) -> bool:
    """True for ``__main__`` and the user's own modules: not stdlib, site-packages, valence."""
    name = module if isinstance(module, str) else module.__name__
    if name == "__main__":
        return True
    if name.partition(".")[0] == "valence":
        return False
    obj = sys.modules.get(name) if isinstance(module, str) else module
    if obj is None:
        return False  # unknown here: nothing to pickle by value
    if sys.modules.get(name) is not obj:
        return _is_user(obj)  # not the imported module (e.g. loaded by value): do not cache
    if name not in _USER:
        _USER[name] = _is_user(obj)
    return _USER[name]


_USER: dict[str, bool] = {}


def _is_user(module: types.ModuleType) -> bool:
    path = _location(module)
    if path is None:  # builtin, frozen or created at runtime
        return (
            module.__name__ not in sys.modules and module.__name__ not in sys.builtin_module_names
        )
    return not is_installed_path(path)


_SITE_DIRS = frozenset({"site-packages", "dist-packages"})


def is_installed_path(path: str) -> bool:
    """A file of the stdlib or under a site-packages/dist-packages directory (pip, conda, apt).

    Only where the file lives counts: a project on ``PYTHONPATH`` or installed in develop
    mode (``*.egg-info``, ``.pth``, editable) is the user's code, whatever distribution
    claims its name.
    """
    path = os.path.realpath(path)
    return path.startswith(_installed_dirs()) or not _SITE_DIRS.isdisjoint(
        pathlib.PurePath(path).parts
    )


def _location(module: types.ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    if path is None:  # a namespace package: where its first portion lives
        path = next(iter(getattr(module, "__path__", None) or ()), None)
    return os.path.realpath(path) if isinstance(path, str) else None


@functools.cache
def _installed_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = [paths[key] for key in ("purelib", "platlib", "stdlib", "platstdlib") if key in paths]
    dirs += getattr(site, "getsitepackages", list)()
    dirs.append(site.getusersitepackages())
    return tuple({os.path.join(os.path.realpath(d), "") for d in dirs})
