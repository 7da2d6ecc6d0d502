"""Leptons: tasks written in other languages, usable anywhere an electron is.

``ct.Lepton(language, ...)`` calls a Python function by import path
(``library_name="pkg.mod"``, ``function_name="f"``), a C function in a shared
library through ``ctypes`` (``argtypes=[(c_int, Lepton.INPUT), (POINTER(c_int),
Lepton.INPUT_OUTPUT), ...]``), or runs a bash command or a function of a bash
script (``named_outputs`` read back as the types in ``argtypes``).
``ct.leptons.bash`` turns a Python function that returns a command into a task
that runs it. Leptons take executors, deps, hooks and ``files=`` like electrons
(their file transfers run, but no ``files`` argument is passed to the foreign
code), and are keyed like electrons: what they call is fingerprinted (the
shared library or script by content, a Python function by its code).
"""

from __future__ import annotations

import builtins
import ctypes
import importlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

from valence.errors import LeptonError
from valence.workflow.deps import normalize_options, retval_keywords
from valence.workflow.electron import Electron

__all__ = ["Lepton", "LeptonError", "bash"]

_PYTHON = ("python", "Python")
_C = ("C", "c")
_SHELL = ("bash", "shell")
_MARKER = "VALENCE-LEPTON-OUTPUT-"


def _type_name(kind: Any) -> str:
    return kind if isinstance(kind, str) else kind.__name__


class ForeignCall:
    """The callable a lepton runs: plain data, pickled by reference to this class."""

    def __init__(self, language: str, spec: dict[str, Any], name: str) -> None:
        self.language = language
        self.spec = spec
        self.__name__ = self.__qualname__ = name
        self.__doc__ = (
            f"Lepton calling {language} {spec.get('function_name') or spec.get('command')!r}"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("files", None)  # transfers ran; foreign code takes no files argument
        if self.language in _PYTHON:
            return _call_python(self.spec, args, kwargs)
        if self.language in _C:
            return _call_c(self.spec, args, kwargs)
        return _call_shell(self.spec, args, kwargs)

    def __valence_fingerprint__(self) -> str:
        from valence.fingerprint import hash_struct

        return hash_struct(["Lepton", self.language, _spec_token(self.language, self.spec)])

    def __repr__(self) -> str:
        return f"<lepton {self.language} {self.__name__}>"


def _spec_token(language: str, spec: dict[str, Any]) -> Any:
    """What the foreign code is: a library or script by content, Python by its code."""
    from valence.fingerprint import Unhashable, code_fingerprint
    from valence.fs.digest import file_digest, note_read

    library = spec.get("library_name") or ""
    token: dict[str, Any] = {k: v for k, v in sorted(spec.items())}
    if language in _PYTHON and library:
        note_read(f"python:{library}")  # its module is read here, not stored with the workflow
        try:
            function = getattr(importlib.import_module(library), spec["function_name"])
        except (ImportError, AttributeError) as exc:
            raise Unhashable(
                f"lepton {library}.{spec['function_name']} cannot be imported here to "
                f"fingerprint it ({exc})"
            ) from None
        token["code"] = code_fingerprint(function)
    elif library:
        try:
            token["content"] = file_digest(library)
        except OSError as exc:
            raise Unhashable(f"lepton library {library} cannot be read here ({exc})") from None
    return token


# ---------------------------------------------------------------- Python


def _call_python(spec: dict[str, Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    module = importlib.import_module(spec["library_name"])
    try:
        function = getattr(module, spec["function_name"])
    except AttributeError:
        raise LeptonError(
            f"module {spec['library_name']} has no function {spec['function_name']!r}"
        ) from None
    return function(*args, **kwargs)


# ---------------------------------------------------------------- C


_libraries: dict[str, tuple[tuple[int, ...], Any]] = {}
_libraries_lock = threading.Lock()


def _load_library(path: str) -> Any:
    """The shared library as it is now on disk.

    The dynamic loader returns an already loaded library by name, so a library
    rebuilt at the same path since this process loaded it is loaded from a
    copy named by its content.
    """
    if not os.path.isfile(path):
        return ctypes.CDLL(path)  # a name the loader resolves (libm.so.6)
    st = os.stat(path)
    stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _libraries_lock:
        seen = _libraries.get(path)
        if seen is not None and seen[0] == stamp:
            return seen[1]
        target = path
        if seen is not None:
            from valence.fs.digest import file_digest

            target = os.path.join(tempfile.gettempdir(), f"valence-lib-{file_digest(path)[:24]}.so")
            if not os.path.exists(target):
                shutil.copyfile(path, target + ".part")
                os.replace(target + ".part", target)
        handle = ctypes.CDLL(target)
        _libraries[path] = (stamp, handle)
        return handle


def _ctype(name: str) -> Any:
    if name.startswith("LP_"):
        return ctypes.POINTER(_ctype(name[3:]))
    found = getattr(ctypes, name, None)
    if found is None:
        raise LeptonError(f"unknown ctypes type {name!r} in argtypes")
    return found


def _call_c(spec: dict[str, Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    if kwargs:
        raise LeptonError(
            f"C function {spec['function_name']} takes positional arguments only, got "
            f"keyword argument(s) {sorted(kwargs)}"
        )
    try:
        function = getattr(_load_library(spec["library_name"]), spec["function_name"])
    except (OSError, AttributeError) as exc:
        raise LeptonError(
            f"cannot load {spec['function_name']} from {spec['library_name']}: {exc}"
        ) from None
    types = [_ctype(name) for name, _ in spec["argtypes"]]
    modes = [mode for _, mode in spec["argtypes"]]
    inputs = [i for i, mode in enumerate(modes) if mode != Lepton.OUTPUT]
    if len(args) != len(inputs):
        raise LeptonError(
            f"C function {spec['function_name']} takes {len(inputs)} input argument(s) "
            f"(argtypes marked INPUT or INPUT_OUTPUT), got {len(args)}"
        )
    given = dict(zip(inputs, args, strict=True))
    values = [_c_arg(types[i], modes[i], given.get(i)) for i in range(len(types))]
    function.argtypes, function.restype = types, None
    function(*values)
    outputs = [_c_result(v) for v, mode in zip(values, modes, strict=True) if mode != Lepton.INPUT]
    if not outputs:
        return None
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _c_arg(kind: Any, mode: int, value: Any) -> Any:
    pointer = kind.__name__.startswith("LP_")
    if pointer and hasattr(value, "__getitem__"):
        return (kind._type_ * len(value))(*value)
    if pointer and mode != Lepton.INPUT:
        return ctypes.pointer(kind._type_() if value is None else kind._type_(value))
    if mode == Lepton.INPUT and not pointer:
        return kind(value)
    raise LeptonError(f"argument {value!r} does not fit its declared type {kind.__name__}")


def _c_result(value: Any) -> Any:
    if hasattr(value, "contents"):
        return value.contents.value
    return list(value)


# ---------------------------------------------------------------- shell


def _call_shell(spec: dict[str, Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    shell = shutil.which("bash") or shutil.which("sh")
    if shell is None:
        raise LeptonError("a bash lepton needs bash or sh where the task runs")
    modes = [mode for _, mode in spec["argtypes"]]
    named = spec["named_outputs"]
    if modes.count(Lepton.INPUT_OUTPUT) + modes.count(Lepton.OUTPUT) != len(named):
        raise LeptonError(
            f"this bash lepton declares {len(named)} named_outputs but its argtypes mark "
            f"{modes.count(Lepton.INPUT_OUTPUT) + modes.count(Lepton.OUTPUT)} as outputs"
        )
    exports = "".join(f"export {k}={shlex.quote(str(v))} && " for k, v in kwargs.items())
    echoes = "".join(f' && echo "{_MARKER}{n}: ${n}"' for n in named)
    if spec["command"]:
        command = spec["command"].format(**kwargs)
        argv = [shell, "-c", f"{exports}{command}{echoes}", "_", *map(str, args)]
    else:
        quoted = " ".join(shlex.quote(str(a)) for a in args)
        script = shlex.quote(spec["library_name"])
        argv = [
            shell,
            "-c",
            f"{exports}source {script} && {spec['function_name']} {quoted}{echoes}",
        ]
    return _run_shell(argv, spec)


def _run_shell(argv: list[str], spec: dict[str, Any]) -> Any:
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    lines = done.stdout.splitlines()
    shown = [line for line in lines if not line.startswith(_MARKER)]
    if shown:
        print("\n".join(shown))
    if done.stderr:
        print(done.stderr, end="", file=sys.stderr)
    if done.returncode != 0:
        raise LeptonError(
            f"bash lepton {argv[2]!r} failed with exit code {done.returncode}: "
            f"{done.stderr.strip()[-2000:]}"
        )
    found = {}
    for line in lines:
        if line.startswith(_MARKER):
            name, _, value = line[len(_MARKER) :].partition(": ")
            found.setdefault(name, value)
    values = [
        _convert(found.get(name, ""), spec["argtypes"][i][0])
        for i, name in enumerate(spec["named_outputs"])
    ]
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _convert(text: str, type_name: str) -> Any:
    convert = getattr(builtins, type_name, None)
    return convert(text) if callable(convert) else text


# ---------------------------------------------------------------- the task objects


class _Foreign(Electron):
    """An electron whose code is foreign: no ``files`` argument, no injected arguments."""

    _takes_files = False

    def _trace(self, tracer: Any, args: tuple, kwargs: dict, replaced: str | None) -> Any:
        _check_no_injection(self, tracer.lattice_metadata)
        return super()._trace(tracer, args, kwargs, replaced)


class Lepton(_Foreign):
    """A task whose code is a foreign function: Python by import path, C, or bash."""

    INPUT = 0
    OUTPUT = 1
    INPUT_OUTPUT = 2

    def __init__(
        self,
        language: str = "python",
        *,
        library_name: str = "",
        function_name: str = "",
        argtypes: Iterable[tuple[Any, int]] = (),
        command: str | list[str] = "",
        named_outputs: Iterable[str] = (),
        display_name: str = "",
        executor: Any = None,
        files: Any = None,
        deps_bash: Any = None,
        deps_pip: Any = None,
        call_before: Any = None,
        call_after: Any = None,
    ) -> None:
        if language not in (*_PYTHON, *_C, *_SHELL):
            raise ValueError(
                f"Lepton language {language!r} is not supported; use python, C or bash"
            )
        command = " && ".join(command) if isinstance(command, list) else str(command or "")
        spec = {
            "library_name": str(library_name or ""),
            "function_name": function_name or "",
            "argtypes": [(_type_name(kind), int(mode)) for kind, mode in argtypes],
            "command": command,
            "named_outputs": list(named_outputs),
        }
        _check_spec(language, spec)
        name = display_name or function_name or command
        self.language = language
        self.library_name, self.function_name = spec["library_name"], spec["function_name"]
        self.argtypes, self.command = spec["argtypes"], command
        self.named_outputs, self.display_name = spec["named_outputs"], display_name
        options = {
            "executor": executor,
            "files": files or None,
            "deps_bash": deps_bash,
            "deps_pip": deps_pip,
            "call_before": call_before or None,
            "call_after": call_after or None,
        }
        super().__init__(ForeignCall(language, spec, name), **normalize_options(options))


def _check_spec(language: str, spec: dict[str, Any]) -> None:
    if language in (*_PYTHON, *_SHELL):
        if spec["command"] and spec["library_name"]:
            raise ValueError("Lepton takes library_name or command, not both")
        if not (spec["command"] or spec["library_name"]):
            raise ValueError(f"a {language} Lepton needs library_name= or command=")
    elif spec["command"] or spec["named_outputs"]:
        raise ValueError(f"command= and named_outputs= do not apply to a {language} Lepton")
    if language in _PYTHON and spec["command"]:
        raise ValueError("a Python Lepton calls library_name/function_name; command= is for bash")
    if spec["library_name"] and not spec["function_name"]:
        raise ValueError("Lepton with library_name= needs function_name=")


def _check_no_injection(task: Electron, lattice_metadata: dict[str, Any]) -> None:
    """Foreign code cannot take hook-injected arguments (Covalent refuses them too)."""
    hooks = task.metadata.get("call_before") or lattice_metadata.get("call_before")
    names = retval_keywords(hooks)
    if names:
        raise LeptonError(
            f"lepton {task.name}: call_before hooks with retval_keyword ({sorted(names)}) are "
            "not supported for leptons; remove retval_keyword from those DepsCalls"
        )


class BashFunction:
    """A Python function returning a bash command; running it runs that command."""

    def __init__(self, function: Callable[..., Any], name: str) -> None:
        self.function = function
        self.__name__ = self.__qualname__ = name
        self.__doc__ = getattr(function, "__doc__", None)
        self.__wrapped__ = function

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("files", None)
        command = self.function(*args, **kwargs)
        if isinstance(command, list):
            command = " && ".join(command)
        if not isinstance(command, str):
            raise LeptonError(
                f"{self.__name__} must return a bash command string, got {type(command).__name__}"
            )
        shell = shutil.which("bash") or shutil.which("sh") or "sh"
        spec = {"argtypes": [], "named_outputs": []}
        return _run_shell([shell, "-c", command], spec)

    def __valence_fingerprint__(self) -> str:
        from valence.fingerprint import code_fingerprint, hash_struct

        return hash_struct(["BashLepton", code_fingerprint(self.function)])


def bash(
    _func: Callable[..., Any] | None = None,
    *,
    display_name: str = "",
    executor: Any = None,
    files: Any = None,
    deps_bash: Any = None,
    deps_pip: Any = None,
    call_before: Any = None,
    call_after: Any = None,
) -> Any:
    """Decorate a function that returns a bash command: the task runs that command.

    The function is called where the task runs, with the task's (resolved)
    arguments, so its arguments may be other tasks' outputs.
    """
    options = normalize_options(
        {
            "executor": executor,
            "files": files or None,
            "deps_bash": deps_bash,
            "deps_pip": deps_pip,
            "call_before": call_before or None,
            "call_after": call_after or None,
        }
    )

    def decorate(function: Callable[..., Any]) -> Electron:
        return _Foreign(BashFunction(function, display_name or function.__name__), **options)

    return decorate(_func) if _func is not None else decorate
