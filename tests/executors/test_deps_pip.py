"""DepsPip installs into the task's environment once, from a local wheel (offline)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import valence as ct
from tests.executor_contract import run_with
from valence.executors.hooks import pip_marker
from valence.executors.local import LocalExecutor, ThreadExecutor

PACKAGE = "valence_tiny_dep"


def build_wheel(directory: Path, version: str = "0.1") -> Path:
    """A minimal pure-Python wheel, written by hand: no build backend, no network."""
    dist = f"{PACKAGE}-{version}"
    files = {
        f"{PACKAGE}.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {PACKAGE.replace('_', '-')}\nVersion: {version}\n"
        ),
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: valence-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def tiny_version() -> str:
    import valence_tiny_dep  # type: ignore[import-not-found]

    return valence_tiny_dep.VERSION


def _uninstall() -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "-y", "-q", PACKAGE.replace("_", "-")],
        capture_output=True,
        check=False,  # not installed is fine
    )
    sys.modules.pop(PACKAGE, None)


@pytest.fixture
def wheel_deps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ct.DepsPip]:
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    _uninstall()
    deps = ct.DepsPip(packages=[str(build_wheel(tmp_path))])
    yield deps
    _uninstall()
    _forget(deps)


def _forget(deps: ct.DepsPip) -> None:
    """Remove the marker and lock files the install left in the environment."""
    marker = pip_marker(deps)
    marker.unlink(missing_ok=True)
    marker.with_suffix(".lock").unlink(missing_ok=True)


def test_deps_pip_installs_once_per_environment(wheel_deps: ct.DepsPip) -> None:
    thread, local = ThreadExecutor(workers=1), LocalExecutor(workers=1)
    try:
        first = run_with(thread, tiny_version, options={"deps_pip": wheel_deps})
        assert first.ok, first.error
        assert first.output == "0.1"
        assert "valence: installing deps_pip" in first.stderr
        assert pip_marker(wheel_deps).exists()
        # Another process of the same environment finds the marker and skips pip.
        second = run_with(local, tiny_version, options={"deps_pip": wheel_deps})
        assert second.ok, second.error
        assert "installing" not in second.stderr
    finally:
        thread.shutdown()
        local.shutdown()


def test_a_failing_install_fails_the_task_with_pips_output(tmp_path: Path) -> None:
    missing = tmp_path / "not-there-0.1-py3-none-any.whl"
    deps = ct.DepsPip(packages=[str(missing)])
    executor = ThreadExecutor(workers=1)
    try:
        outcome = run_with(executor, tiny_version, options={"deps_pip": deps})
        assert not pip_marker(deps).exists()  # a failed install is not cached
    finally:
        executor.shutdown()
        _forget(deps)
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.startswith("DependencyError: deps_pip install `")
    assert "failed with exit code" in outcome.error and "not-there" in outcome.error
