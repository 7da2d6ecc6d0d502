"""In a notebook, get_result(wait=True) shows an ipywidgets progress bar; results render as HTML."""

from __future__ import annotations

import pytest

from tests.notebook.kernel import Kernel
from tests.test_progress import NAPS

pytestmark = pytest.mark.slow

CELL = (
    NAPS
    + """
result = ct.get_result(ct.dispatch(wf)(5), wait=True)
result
"""
)

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def kernel(valence_home, tmp_path):
    k = Kernel(valence_home, tmp_path)
    yield k
    k.close()


def test_progress_widget_then_html_result(kernel):
    msg_id = kernel.start(CELL)
    messages = kernel.messages(msg_id)
    assert kernel.reply(msg_id)["status"] == "ok"
    shown = [m for m in messages if m["msg_type"] == "display_data"]
    assert any(WIDGET in m["content"]["data"] for m in shown)  # the bar
    states = [
        m["content"]["data"].get("state", {})
        for m in messages
        if m["msg_type"] in ("comm_open", "comm_msg")
    ]
    assert any(s.get("bar_style") == "success" for s in states)
    assert any("5/5 tasks" in str(s.get("value", "")) for s in states)
    result = next(m for m in messages if m["msg_type"] == "execute_result")
    html = result["content"]["data"]["text/html"]
    assert "COMPLETED" in html and "<table" in html and "5/5 tasks done" in html
