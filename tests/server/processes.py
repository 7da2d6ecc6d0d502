"""Server subprocesses for lifecycle tests: ``valence ...`` commands and ``valence serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx


def valence(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``valence`` command (this interpreter, this environment)."""
    return subprocess.run(
        [sys.executable, "-m", "valence.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def serve(
    home: Path, env: dict[str, str] | None = None, log_name: str = "serve.log"
) -> tuple[subprocess.Popen[bytes], str]:
    """``valence serve --port 0`` in a subprocess; returns it and its URL once it answers.

    ``env`` adds to this process's environment; the output goes to ``log_name`` beside
    the home.
    """
    log_path = home.parent / log_name
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "valence.cli.main", "serve", "--port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            record = json.loads((home / "server.json").read_text())
        except (FileNotFoundError, ValueError):
            record = {}
        if record.get("pid") == process.pid and _answers(record["url"]):
            return process, record["url"]
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise AssertionError("valence serve did not answer within 60 s")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` (a deadline, not a timing check)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)
