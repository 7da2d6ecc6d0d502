"""dumps/loads: user code by value (loadable without its source), clear errors otherwise."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given

from tests.strategies import strictly_equal, values
from valence.errors import CodeUnavailableError, SerializationError
from valence.serialize import digest, dumps, is_user_module, loads

Loader = Callable[[str, str], types.ModuleType]


@pytest.fixture
def load(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loader]:
    """Write ``source`` to ``tmp_path/name.py`` and import it (a user module)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    loaded: list[str] = []

    def _load(name: str, source: str) -> types.ModuleType:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        loaded.append(name)
        return importlib.import_module(name)

    yield _load
    for name in loaded:
        sys.modules.pop(name, None)


@given(values)
def test_builtin_values_round_trip(value: object) -> None:
    assert strictly_equal(loads(dumps(value)), value)


def test_plain_values_are_plain_pickles_and_digest_is_sha256() -> None:
    data = dumps(12345)
    assert pickle.loads(data) == 12345
    assert digest(data) == hashlib.sha256(data).hexdigest()
    assert loads(dumps([1, {"a": (2.5, None)}])) == [1, {"a": (2.5, None)}]
    by_reference = dumps(json.dumps)  # installed and stdlib code: by name
    assert len(by_reference) < 100 and loads(by_reference) is json.dumps


def test_is_user_module() -> None:
    assert is_user_module("__main__")
    assert is_user_module("tests.test_serialize") and is_user_module(sys.modules[__name__])
    for name in ("os", "json", "sys", "pytest", "cloudpickle", "valence", "valence.serialize"):
        assert not is_user_module(name), name
    assert not is_user_module("no_such_module_here")


HELPERS = """
SCALE = 10

def scale(x):
    return x * SCALE
"""

TASKS = """
import functools
import vl_ser_helpers
from vl_ser_helpers import scale


@functools.lru_cache(maxsize=None)
def cached(x):
    return x + 1


class Wrapper:  # what an Electron looks like: a plain object holding .function
    def __init__(self, function):
        self.function = function


def task(x):
    return scale(x) + vl_ser_helpers.scale(cached(x))


wrapped = Wrapper(task)
"""


def test_user_code_loads_in_a_process_without_its_files(
    load: Loader, tmp_path: pathlib.Path
) -> None:
    load("vl_ser_helpers", HELPERS)
    tasks = load("vl_ser_tasks", TASKS)
    assert tasks.wrapped.function(2) == 50
    blob = tmp_path / "blob.pkl"
    blob.write_bytes(dumps(tasks.wrapped))
    for name in ("vl_ser_helpers", "vl_ser_tasks"):
        (tmp_path / f"{name}.py").unlink()
    script = (
        "import sys\n"
        "from valence.serialize import loads\n"
        "wrapped = loads(open(sys.argv[1], 'rb').read())\n"
        "assert not {'vl_ser_helpers', 'vl_ser_tasks'} & set(sys.modules)\n"
        "print(wrapped.function(2))\n"
    )
    env = {**os.environ, "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", script, str(blob)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    assert json.loads(result.stdout) == 50


def test_missing_module_raises_code_unavailable(load: Loader, tmp_path: pathlib.Path) -> None:
    module = load("vl_ser_missing", "def f():\n    return 1\n")
    data = pickle.dumps(module.f)  # by reference, like an installed package's function
    sys.modules.pop("vl_ser_missing")
    (tmp_path / "vl_ser_missing.py").unlink()
    importlib.invalidate_caches()
    with pytest.raises(CodeUnavailableError, match="vl_ser_missing") as info:
        loads(data)
    assert info.value.name == "vl_ser_missing" and isinstance(info.value, ImportError)
    assert "install it" in str(info.value)


def _generator() -> Iterator[int]:
    yield 1


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (threading.Lock(), ["_thread.lock"]),
        ([1, _generator()], ["list", "generator"]),
    ],
)
def test_unpicklable_values_name_their_type(value: object, names: list[str]) -> None:
    with pytest.raises(SerializationError) as info:
        dumps(value)
    message = str(info.value)
    assert all(name in message for name in names)
    assert "picklable value" in message


def test_corrupt_bytes_raise_serialization_error() -> None:
    with pytest.raises(SerializationError, match="cannot deserialize"):
        loads(b"not a pickle")
