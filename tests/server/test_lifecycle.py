"""``valence start/status/stop/logs/serve`` as a user runs them, in subprocesses."""

from __future__ import annotations

import socket
import stat

import pytest

import valence as ct
from tests import workflows as wf
from tests.server.processes import valence
from valence.backends import choose_backend
from valence.backends.http import HttpBackend, close_all


@pytest.mark.slow
def test_start_use_stop(valence_home):
    started = valence("start", "--port", "0")
    assert started.returncode == 0, started.stderr
    assert "valence server running at http://127.0.0.1:" in started.stdout
    try:
        status = valence("status")
        assert status.returncode == 0 and "answering" in status.stdout
        assert "already running" in valence("start").stdout
        refused = valence("serve", "--port", "0")
        assert refused.returncode == 1 and "already runs for this home" in refused.stderr
        assert isinstance(choose_backend(), HttpBackend)  # recorded in the home: clients use it
        result = ct.dispatch_sync(wf.plain_howto)(1, 2)
        assert result.result == 16 and result.get_node_result(0)["executor"] == "thread"
        listed = valence("list")
        assert result.dispatch_id in listed.stdout, listed.stderr
        token = valence_home / "token"
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        assert f"/#token={token.read_text().strip()}" in started.stdout  # the UI link
        assert "web UI: http://127.0.0.1:" in status.stdout
        assert f"/#token={token.read_text().strip()}" in status.stdout  # status shows it too
        assert "valence server at http://127.0.0.1:" in valence("logs", "-n", "20").stdout
    finally:
        close_all()
        stopped = valence("stop")
    assert stopped.returncode == 0 and "valence server stopped" in stopped.stdout
    assert valence("status").returncode == 1
    assert not (valence_home / "server.json").exists()
    assert not isinstance(choose_backend(), HttpBackend)  # back to embedded
    assert ct.get_result(result.dispatch_id).result == 16


@pytest.mark.slow
def test_start_on_a_busy_port_fails_with_one_line(valence_home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = valence("start", "--port", str(port))
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1" in failed.stderr
    assert "in use" in failed.stderr
    assert valence("status").returncode == 1
