"""A real Jupyter kernel for tests: run cells, interrupt, restart (jupyter_client)."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager


class Kernel:
    """One ipykernel process whose environment points valence at ``home``."""

    def __init__(self, home: Path, cwd: Path) -> None:
        env = {**os.environ, "VALENCE_HOME": str(home), "VALENCE_EXECUTOR": "local"}
        env.pop("VALENCE_SERVER", None)
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(cwd))
        self._connect()

    def _connect(self) -> None:
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def start(self, code: str) -> str:
        """Send ``code`` to run; return its message id without waiting."""
        return self.client.execute(code)

    def reply(self, msg_id: str, timeout: float = 120) -> dict[str, Any]:
        """The execute reply of ``msg_id`` (its content)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]

    def run(self, code: str, timeout: float = 120) -> tuple[dict[str, Any], str]:
        """Run ``code``; return its reply and everything it printed (stdout and stderr).

        ipykernel aborts requests that arrive while it is still clearing its queue after
        an error (an interrupted cell): such a request is sent again, a few times.
        """
        for _ in range(5):
            msg_id = self.start(code)
            content = self.reply(msg_id, timeout)
            if content.get("status") != "aborted":
                break
            time.sleep(0.2)
        return content, self.output(msg_id)

    def output(self, msg_id: str) -> str:
        """The text ``msg_id`` printed or displayed so far (stream and display messages)."""
        parts = []
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                return "".join(parts)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if msg["msg_type"] == "stream":
                parts.append(content["text"])
            elif msg["msg_type"] in ("execute_result", "display_data", "update_display_data"):
                parts.append(content["data"].get("text/plain", "") + "\n")
            elif msg["msg_type"] == "error":
                parts.append(f"{content['ename']}: {content['evalue']}\n")

    def messages(self, msg_id: str) -> list[dict[str, Any]]:
        """Every IOPub message ``msg_id`` caused, until the kernel is idle again."""
        found = []
        while True:
            msg = self.client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            found.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return found

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def restart(self) -> None:
        self.client.stop_channels()
        self.manager.restart_kernel(now=False)
        self._connect()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
