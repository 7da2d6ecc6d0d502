"""Covalent's Deps API: Deps objects as hooks, to_dict/from_dict, DepsModule by value."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import cloudpickle
import pytest

import valence as ct


def add(a, b=0):
    return a + b


def test_deps_bash_and_deps_pip_run_as_call_before_hooks(tmp_path):
    marker = tmp_path / "made-by-hook"

    @ct.electron(
        call_before=[ct.DepsBash([f"echo first > {marker}"]), ct.DepsPip(["pip"])],
        call_after=ct.DepsBash(f"echo after >> {marker}"),
    )
    def read():
        return marker.read_text()

    @ct.lattice
    def flow():
        return read()

    result = ct.dispatch_sync(flow)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "first\n"
    assert marker.read_text() == "first\nafter\n"


def test_failing_deps_bash_hook_names_the_command():
    @ct.electron(call_before=ct.DepsBash("exit 7"))
    def never():
        return 1

    @ct.lattice
    def flow():
        return never()

    result = ct.dispatch_sync(flow)()
    assert result.status == ct.status.FAILED
    assert "call_before DepsBash command `exit 7` failed with exit code 7" in result.error


@pytest.mark.parametrize(
    "dep",
    [
        ct.DepsBash(["echo a", "echo b"]),
        ct.DepsPip(packages=["numpy==1.26.4"]),
        ct.DepsCall(add, args=[1], kwargs={"b": 2}, retval_keyword="total"),
    ],
)
def test_to_dict_from_dict_round_trip_through_json(dep):
    data = json.loads(json.dumps(dep.to_dict()))
    assert data["type"] == type(dep).__name__
    assert data["short_name"] == type(dep).__name__.lower()
    again = type(dep).from_dict(data)
    if not isinstance(dep, ct.DepsCall):
        assert again == dep
        return
    assert repr(again) == repr(dep)  # the function comes back by value: a new object
    assert again.func(*again.args, **again.kwargs) == 3
    same = ct.DepsCall(print).from_dict(data)  # Covalent's spelling: on an instance
    assert repr(same) == repr(dep)


def test_from_dict_refuses_another_type():
    with pytest.raises(ValueError, match="DepsPip"):
        ct.DepsBash.from_dict(ct.DepsPip(["x"]).to_dict())


def test_deps_module_ships_a_module_by_value(tmp_path, monkeypatch):
    home = tmp_path / "src"
    home.mkdir()
    (home / "shipped_mod.py").write_text("SCALE = 7\n\ndef scaled(x):\n    return SCALE * x\n")
    monkeypatch.syspath_prepend(str(home))
    dep = ct.DepsModule("shipped_mod")
    assert dep.to_dict()["attributes"]["module_name"] == "shipped_mod"
    payload = tmp_path / "dep.pkl"
    payload.write_bytes(cloudpickle.dumps(dep))
    (home / "shipped_mod.py").unlink()  # gone from disk: only the shipped copy remains
    script = textwrap.dedent(
        f"""
        import pickle, importlib.util
        from valence.executors.hooks import run_before
        dep = pickle.load(open({str(payload)!r}, "rb"))
        assert importlib.util.find_spec("shipped_mod") is None
        run_before({{"deps_module": [dep]}})
        import shipped_mod
        print(shipped_mod.scaled(6))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_deps_module_option_in_a_workflow(tmp_path, monkeypatch):
    (tmp_path / "helper_mod2.py").write_text("def triple(x):\n    return 3 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import helper_mod2

    @ct.electron(deps_module=[helper_mod2], executor="local")
    def use(x):
        import helper_mod2

        return helper_mod2.triple(x)

    assert isinstance(use.metadata["deps_module"][0], ct.DepsModule)

    @ct.lattice
    def flow(x):
        return use(x)

    assert ct.dispatch_sync(flow)(5).result == 15


@pytest.mark.parametrize(
    ("value", "error"),
    [(42, TypeError), ("no_such_module_anywhere", ImportError)],
)
def test_bad_deps_module_is_refused(value, error):
    with pytest.raises(error, match=r"DepsModule|deps_module"):
        ct.electron(deps_module=value)(add)
