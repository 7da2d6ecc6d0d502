"""A third-party executor, pip-installed (editable) from a temp dir, used by name.

The plugin package brings its own tiny in-tree PEP 660 build backend, so
``pip install --no-build-isolation -e`` needs neither the network nor a build
tool in the environment. It is uninstalled in teardown.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from valence.executors import registered_names

DIST = "valence-echo-executor"

PLUGIN = '''
"""A third-party valence executor: runs a task inline and marks its stdout."""

from concurrent.futures import Future

from valence.executors.base import Executor
from valence.executors.worker import run_task


class EchoExecutor(Executor):
    name = "echo"
    in_process = True

    def submit(self, task):
        outcome = run_task(task)
        outcome.stdout = f"[echo ran {task.name}]\\n" + outcome.stdout
        future = Future()
        future.set_result(outcome)
        return future
'''

BACKEND = '''
"""An in-tree PEP 517/660 backend: a wheel holding a .pth file (editable) or the module."""

import base64
import hashlib
import os
import zipfile

NAME, VERSION = "valence_echo_executor", "0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
INFO = f"{NAME}-{VERSION}.dist-info"


def _wheel(directory, files):
    files = dict(files)
    files[f"{INFO}/METADATA"] = f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n"
    files[f"{INFO}/WHEEL"] = (
        "Wheel-Version: 1.0\\nGenerator: in-tree\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    files[f"{INFO}/entry_points.txt"] = (
        "[valence.executors]\\necho = valence_echo_executor:EchoExecutor\\n"
    )
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{INFO}/RECORD"] = "\\n".join([*record, f"{INFO}/RECORD,,"]) + "\\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return name


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {f"__editable__.{NAME}.pth": HERE + "\\n"})


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(os.path.join(HERE, f"{NAME}.py")) as fh:
        return _wheel(wheel_directory, {f"{NAME}.py": fh.read()})
'''

PYPROJECT = """
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "valence_echo_executor"
version = "0.1"
"""

USE_BY_NAME = """
import valence as ct

@ct.electron(executor="echo")
def double(x):
    print("doubling")
    return 2 * x

@ct.lattice
def flow(x):
    return double(x)

result = ct.dispatch_sync(flow)(21)
node = result.get_node_result(0)
print(result.status, result.result, node["executor"], repr(node["stdout"]))
print(type(ct.executor.EchoExecutor()).__name__)
"""


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def echo_plugin(tmp_path: Path) -> Iterator[Path]:
    package = tmp_path / "valence-echo-executor"
    package.mkdir()
    (package / "valence_echo_executor.py").write_text(PLUGIN.lstrip())
    (package / "backend.py").write_text(BACKEND.lstrip())
    (package / "pyproject.toml").write_text(PYPROJECT.lstrip())
    done = _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(package))
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield package
    finally:
        removed = _pip("uninstall", "-y", "valence_echo_executor")
        assert removed.returncode == 0, removed.stdout + removed.stderr


def test_a_pip_installed_plugin_is_used_by_name(echo_plugin: Path, tmp_path: Path) -> None:
    assert "echo" in registered_names()
    script = tmp_path / "use_plugin.py"
    script.write_text(textwrap.dedent(USE_BY_NAME))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "COMPLETED 42 echo '[echo ran double]\\ndoubling\\n'"
    assert lines[1] == "EchoExecutor"
