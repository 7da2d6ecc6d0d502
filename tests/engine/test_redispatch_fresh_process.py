"""Redispatch needs only the dispatch id: no module file, a new process, another directory."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import pytest

import valence as ct
from valence.engine.embedded import get_embedded
from valence.errors import CodeUnavailableError

FLOW = """
import valence as ct

OFFSET = 3


def shift(x):
    return x + OFFSET


@ct.electron
def load(n):
    return list(range(n))


@ct.electron
def train(params, data):
    return sum(data) * params["C"]


@ct.electron
def score(model, data):
    return shift(model) - len(data)


@ct.lattice
def pipeline(params, n=4):
    data = load(n)
    model = train(params, data)
    return score(model, data)
"""

REDISPATCH = """
import sys
import valence as ct


@ct.electron
def recall(model, data):
    return model * 100 + len(data)


rid = ct.redispatch(sys.argv[1], replace_electrons={"score": recall}, reuse_previous_results=True)()
result = ct.get_result(rid, wait=True, timeout=120)
nodes = {r["node_name"]: r for r in result.get_all_node_results()}
reused = nodes["train"]["reused_from"] is not None
print(result.status, result.result, reused, nodes["recall"]["reason"]["code"])
"""


def import_from(path, name, monkeypatch):
    monkeypatch.syspath_prepend(str(path))
    importlib.invalidate_caches()
    return importlib.import_module(name)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["thread", "local"])
def test_redispatch_after_module_deleted_from_fresh_process(
    tmp_path, monkeypatch, valence_home, executor
):
    src = tmp_path / "src"
    src.mkdir()
    (src / "gone_flow.py").write_text(FLOW)
    module = import_from(src, "gone_flow", monkeypatch)
    monkeypatch.setenv("VALENCE_EXECUTOR", executor)
    parent = ct.get_result(ct.dispatch(module.pipeline)({"C": 2}, n=4), wait=True, timeout=120)
    assert parent.result == 12 + 3 - 4
    (src / "gone_flow.py").unlink()
    sys.modules.pop("gone_flow")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "redo.py").write_text(REDISPATCH)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(VALENCE_HOME=str(valence_home), VALENCE_EXECUTOR=executor)
    out = subprocess.run(
        [sys.executable, "redo.py", parent.dispatch_id],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["COMPLETED", str(12 * 100 + 4), "True", "replaced"]


def test_missing_installed_module_fails_before_writing(tmp_path, monkeypatch, valence_home):
    site = tmp_path / "site-packages"  # installed: where the file lives decides
    (site / "extpkg").mkdir(parents=True)
    (site / "extpkg" / "__init__.py").write_text("def triple(x):\n    return 3 * x\n")
    info = site / "extpkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extpkg\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("extpkg\n")
    (info / "RECORD").write_text("")
    (tmp_path / "uses_ext.py").write_text(
        textwrap.dedent(
            """
            import extpkg
            import valence as ct

            @ct.electron
            def work(x):
                return extpkg.triple(x)

            @ct.lattice
            def flow(x):
                return work(x)
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    module = import_from(tmp_path, "uses_ext", monkeypatch)
    parent = ct.get_result(ct.dispatch(module.flow)(2), wait=True, timeout=60)
    assert parent.result == 6
    script = textwrap.dedent(
        f"""
        import valence as ct
        from valence.errors import CodeUnavailableError
        from valence.engine.embedded import get_embedded
        before = len(get_embedded().store.list_dispatches())
        try:
            ct.redispatch({parent.dispatch_id!r})(5)
        except CodeUnavailableError as exc:
            print("refused:", exc)
        print(len(get_embedded().store.list_dispatches()) - before)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["VALENCE_HOME"] = str(valence_home)
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "extpkg" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "0"
    assert issubclass(CodeUnavailableError, ImportError)
    assert get_embedded().store.get_dispatch(parent.dispatch_id).status == "COMPLETED"
