"""Covalent's task dependencies and hooks: ``DepsPip``, ``DepsBash``, ``DepsCall``.

They are inert descriptions, attached to an electron (or a lattice, whose tasks
inherit them) with ``deps_pip=``, ``deps_bash=``, ``call_before=`` and
``call_after=``. They run where the task runs, just before it (bash commands,
then the pip install, then ``call_before`` hooks) and after it (``call_after``);
``valence.executors.hooks`` runs them. A ``DepsCall`` with a
``retval_keyword`` passes its return value to the task as that keyword argument
(several hooks with one keyword pass a list), and the tracer leaves that
argument out of the graph.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "HOOK_OPTIONS",
    "Deps",
    "DepsBash",
    "DepsCall",
    "DepsModule",
    "DepsPip",
    "check_run_options",
    "normalize_options",
    "retval_keywords",
    "with_file_contents",
]

HOOK_OPTIONS = ("deps_bash", "deps_pip", "call_before", "call_after")
"""Covalent's options that run code where a task runs, before or after it."""

RESERVED_RETVAL_KEYS = frozenset({"files"})


def _strings(value: str | Iterable[str], what: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what} must be strings, got {type(item).__name__}: {item!r}")
    return items


class _ClassOrInstance:
    """``from_dict`` callable on the class (valence) or on an instance (Covalent)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __get__(self, obj: Any, cls: type) -> Callable[..., Any]:
        return lambda data: self.function(cls, obj, data)


class _Plain:
    """Equality and repr by the public attributes; Covalent's to_dict/from_dict."""

    _fields: tuple[str, ...] = ()
    _token_fields: tuple[str, ...] = ()
    retval_keyword = ""

    def short_name(self) -> str:
        return type(self).__name__.lower()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description (functions and modules as TransportableObject dicts)."""
        from valence.transportable import TransportableObject

        attributes = {
            name: TransportableObject(value).to_dict() if name in _OPAQUE else value
            for name, value in vars(self).items()
        }
        return {
            "type": type(self).__name__,
            "short_name": self.short_name(),
            "attributes": attributes,
        }

    @_ClassOrInstance
    def from_dict(cls: Any, obj: Any, data: dict[str, Any]) -> Any:
        """Rebuild from ``to_dict()``: ``DepsBash.from_dict(d)`` or ``DepsBash().from_dict(d)``."""
        from valence.transportable import TransportableObject

        if data.get("type") not in (None, cls.__name__):
            raise ValueError(f"{cls.__name__}.from_dict got a description of a {data['type']}")
        target = obj if obj is not None else cls.__new__(cls)
        for name, value in data["attributes"].items():
            if isinstance(value, dict) and value.get("type") == "TransportableObject":
                value = TransportableObject.from_dict(value).get_deserialized()
            setattr(target, name, tuple(value) if name == "args" else value)
        return target

    def __valence_token__(self) -> list[Any]:
        """What a node key sees: a change here means the task may compute differently."""
        return [getattr(self, f) for f in self._token_fields or self._fields]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, f) == getattr(other, f) for f in self._fields
        )

    def __hash__(self) -> int:
        return hash((type(self), *(repr(getattr(self, f)) for f in self._fields)))

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({args})"


class DepsBash(_Plain):
    """Shell commands run (in order, each must succeed) before the task."""

    _fields = ("commands",)

    def __init__(self, commands: str | Iterable[str] = ()) -> None:
        self.commands = _strings(commands, "DepsBash commands")


class DepsPip(_Plain):
    """Packages ``pip install``-ed into the task's environment before it runs.

    ``reqs_path`` names a requirements file, read now (on the machine that
    defines the workflow) so that its content travels with the task.
    An environment installs one set of requirements once.
    """

    _fields = ("packages", "reqs_path")
    _token_fields = ("packages", "requirements_content")

    def __init__(self, packages: str | Iterable[str] = (), reqs_path: str = "") -> None:
        self.packages = _strings(packages, "DepsPip packages")
        self.reqs_path = str(reqs_path or "")
        self.requirements_content = ""
        if self.reqs_path:
            try:
                self.requirements_content = Path(self.reqs_path).read_text()
            except OSError as exc:
                raise FileNotFoundError(
                    f"DepsPip(reqs_path={self.reqs_path!r}): cannot read the requirements "
                    f"file ({exc.strerror or exc}); give the path of an existing file"
                ) from None
        if not self.packages and not self.requirements_content.strip():
            raise ValueError("DepsPip needs packages=[...] or a non-empty reqs_path")


Deps = _Plain  # Covalent's base class name

_OPAQUE = frozenset({"func", "args", "kwargs", "pickled_module"})


class DepsCall(_Plain):
    """A function called where the task runs, before or after it.

    With ``retval_keyword`` (``call_before`` only) its return value is passed
    to the task as that keyword argument. ``"files"`` is reserved (Covalent's
    file transfers) unless ``override_reserved_retval_keys=True``.
    """

    _fields = ("func", "args", "kwargs", "retval_keyword")

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        retval_keyword: str = "",
        override_reserved_retval_keys: bool = False,
    ) -> None:
        if not callable(func):
            raise TypeError(f"DepsCall needs a function to call, got {type(func).__name__}")
        if retval_keyword in RESERVED_RETVAL_KEYS and not override_reserved_retval_keys:
            raise ValueError(
                f"DepsCall retval_keyword {retval_keyword!r} is reserved; choose another name"
            )
        self.func = func
        self.args = tuple(args or ())
        self.kwargs = dict(kwargs or {})
        self.retval_keyword = retval_keyword or ""

    @property
    def name(self) -> str:
        return getattr(self.func, "__name__", type(self.func).__name__)

    def __repr__(self) -> str:
        keyword = f", retval_keyword={self.retval_keyword!r}" if self.retval_keyword else ""
        return f"DepsCall({self.name}, args={self.args!r}, kwargs={self.kwargs!r}{keyword})"


def _one(value: Any, cls: type, option: str, coerce: Callable[[Any], Any]) -> Any:
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, str) or (
        isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    ):
        return coerce(value)
    raise TypeError(
        f"{option}= takes a {cls.__name__}, a string or a list of strings, "
        f"not {type(value).__name__}"
    )


class DepsModule(_Plain):
    """A Python module shipped by value with the task.

    The module (a name, imported now, or the module object) is pickled by value
    here; where the task runs, a process that cannot import it gets this copy
    in ``sys.modules`` before the task's function is loaded.
    """

    _fields = ("module_name",)
    _token_fields = ("module_name", "pickled_module")

    def __init__(self, module: str | ModuleType) -> None:
        if isinstance(module, str):
            try:
                module = importlib.import_module(module)
            except ImportError as exc:
                raise ImportError(
                    f"DepsModule({module!r}): cannot import it here ({exc}); it is shipped "
                    "from this process, so it must be importable where the workflow is defined"
                ) from None
        if not isinstance(module, ModuleType):
            raise TypeError(f"DepsModule takes a module or its name, not {type(module).__name__}")
        self.module_name = module.__name__
        self.pickled_module = _pickle_by_value(module)

    def load(self) -> ModuleType:
        """The shipped module (the one in ``sys.modules`` if this process can import it)."""
        if self.module_name in sys.modules:
            return sys.modules[self.module_name]
        if importlib.util.find_spec(self.module_name) is None:
            import cloudpickle

            sys.modules[self.module_name] = cloudpickle.loads(self.pickled_module)
        return importlib.import_module(self.module_name)


def _pickle_by_value(module: ModuleType) -> bytes:
    import cloudpickle

    registered = module.__name__ in cloudpickle.list_registry_pickle_by_value()
    if not registered:
        cloudpickle.register_pickle_by_value(module)
    try:
        data: bytes = cloudpickle.dumps(module)
        return data
    finally:
        if not registered:
            cloudpickle.unregister_pickle_by_value(module)


def _modules(value: Any) -> list[DepsModule] | None:
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        if isinstance(item, (str, ModuleType)):
            item = DepsModule(item)
        if not isinstance(item, DepsModule):
            raise TypeError(
                "deps_module= takes a module, a module name, a ct.DepsModule or a list of "
                f"them, not {type(item).__name__}"
            )
        out.append(item)
    return out or None


_HOOKS = (DepsCall, DepsBash, DepsPip, DepsModule)


def _calls(value: Any, option: str) -> list[Any] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, _HOOKS) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, _HOOKS) for i in items):
        raise TypeError(
            f"{option}= takes a ct.DepsCall (or DepsBash, DepsPip, DepsModule) or a list of "
            f"them, not {type(value).__name__}"
        )
    if option == "call_after" and any(c.retval_keyword for c in items):
        raise ValueError("call_after hooks cannot inject arguments; drop retval_keyword")
    return list(items)


def normalize_options(options: dict[str, Any]) -> dict[str, Any]:
    """Covalent's accepted spellings turned into Deps objects (None stays None = inherit)."""
    out = dict(options)
    if "deps_bash" in out:
        out["deps_bash"] = _one(out["deps_bash"], DepsBash, "deps_bash", DepsBash)
    if "deps_pip" in out:
        out["deps_pip"] = _one(out["deps_pip"], DepsPip, "deps_pip", DepsPip)
    for option in ("call_before", "call_after"):
        if option in out:
            out[option] = _calls(out[option], option)
    if "deps_module" in out:
        out["deps_module"] = _modules(out["deps_module"])
    if "files" in out:
        from valence.fs.transfer import check_files

        out["files"] = check_files(out["files"])
    return out


def with_file_contents(code: str, files: list[Any] | None) -> str:
    """A task's fingerprint with the content of the files it reads (``files=``)."""
    if not files:
        return code
    from valence.fingerprint import hash_struct, value_token

    return hash_struct(["Files", code, value_token(files)])


def check_run_options(options: dict[str, Any]) -> None:
    """``retries``, ``retry_delay`` and ``timeout`` must be sensible numbers."""
    retries = options.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries= takes a whole number >= 0, not {retries!r}")
    delay = options.get("retry_delay", 0)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
        raise ValueError(f"retry_delay= takes a number of seconds >= 0, not {delay!r}")
    timeout = options.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise ValueError(f"timeout= takes a number of seconds > 0 (or None), not {timeout!r}")


def retval_keywords(call_before: list[DepsCall] | None) -> set[str]:
    """The task arguments that ``call_before`` hooks will inject."""
    return {c.retval_keyword for c in call_before or () if c.retval_keyword}
