"""What people see: reprs, notebook HTML and counts of tasks (never helper nodes)."""

from __future__ import annotations

import valence as ct
from valence.results import NodeResult


@ct.electron
def add(a, b):
    return a + b


@ct.electron
def boom(x):
    raise ValueError(f"bad value {x}")


@ct.lattice
def two_tasks(values):
    return add(add(values[0], values[1]), 10)


@ct.lattice
def failing(x):
    return boom(add(x, 1))


def test_summary_counts_tasks_not_helpers():
    result = ct.dispatch_sync(two_tasks)([1, 2])
    assert len(result.nodes) > 2  # parameters and getitems exist
    text = str(result)
    assert "2/2 tasks done" in text
    assert [line.split()[1] for line in text.splitlines()[-2:]] == ["add", "add"]
    assert ":parameter:" not in text and ":parameter:" in result.summary(helpers=True)
    assert repr(result) == text


def test_html_and_plain_repr_of_a_completed_result():
    result = ct.dispatch_sync(two_tasks)([1, 2])
    page = result._repr_html_()
    assert "COMPLETED" in page and "13" in page and "<table" in page
    assert "parameter" not in page


def test_failed_result_shows_the_error_in_both_reprs():
    result = ct.dispatch_sync(failing)(1)
    assert result.status == ct.status.FAILED
    assert "ValueError: bad value 2" in repr(result)
    page = result._repr_html_()
    assert "ValueError: bad value 2" in page and "traceback" in page
    node = result.get_node_result(0 if result.nodes[0].name == "boom" else 2)
    assert isinstance(node, NodeResult) and isinstance(node, dict)


def test_node_result_and_value_display():
    result = ct.dispatch_sync(two_tasks)([1, 2])
    node = result.get_node_result(0)
    assert node["node_name"] == "add" and node["status"] == ct.status.COMPLETED
    assert "add" in node._repr_html_() and "COMPLETED" in node._repr_html_()

    class Printer:
        def __init__(self):
            self.parts = []

        def text(self, value):
            self.parts.append(value)

    printer = Printer()
    node._repr_pretty_(printer, False)
    assert "output: 13" in printer.parts[0] or "output:" in printer.parts[0]
    value = result.encoded_result
    assert "13" in value._repr_html_() and "int" in value._repr_html_()


def test_value_html_escapes_and_reuses_the_values_own_html():
    class Table:
        def _repr_html_(self):
            return "<table><tr><td>own</td></tr></table>"

    assert "<td>own</td>" in ct.TransportableObject(Table())._repr_html_()
    assert "&lt;script&gt;" in ct.TransportableObject("<script>")._repr_html_()
    assert len(ct.TransportableObject("x" * 10**6)._repr_html_()) < 6000


def test_plan_headline_counts_tasks():
    dispatch_id = ct.dispatch(two_tasks)([1, 2])
    ct.get_result(dispatch_id, wait=True)
    plan = ct.redispatch(dispatch_id, reuse_previous_results=True).plan([1, 3])
    assert plan.headline().endswith("0 tasks reused, 2 to run")
    assert len(plan.decisions) > 2
    assert "RUN" in plan._repr_html_() and "to run" in repr(plan)
    same = ct.redispatch(dispatch_id, reuse_previous_results=True).plan()
    assert same.headline().endswith("2 tasks reused, 0 to run")
