"""Leptons: bash commands, C functions through ctypes, Python functions by import path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from ctypes import POINTER, c_double, c_int32

import pytest

import valence as ct
from valence.leptons import LeptonError

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) installed")


def finish(did):
    return ct.get_result(did, wait=True, timeout=60)


C_SOURCE = """
void test_entry(int x, int *y, int *z) { *y += x; *z = 5; }
void scale(int n, double *values, double factor) {
    for (int i = 0; i < n; i++) values[i] *= factor;
}
"""


@pytest.fixture
def c_library(tmp_path):
    source = tmp_path / "test.c"
    source.write_text(C_SOURCE)
    library = tmp_path / "libtest.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def test_bash_command_with_named_outputs_howto():
    task = ct.Lepton(
        language="bash",
        command="product=$(({num_1} * {num_2}))",
        argtypes=[
            (int, ct.Lepton.INPUT_OUTPUT),
            (int, ct.Lepton.INPUT_OUTPUT),
            (int, ct.Lepton.OUTPUT),
        ],
        named_outputs=["num_1", "num_2", "product"],
    )

    @ct.lattice
    def bash_multiply_workflow(**kwargs):
        return task(**kwargs)

    assert ct.dispatch_sync(bash_multiply_workflow)(num_1=7, num_2=8).result == (7, 8, 56)


@needs_cc
@pytest.mark.parametrize("executor", ["thread", "local"])
def test_c_function_through_ctypes_howto(c_library, executor):
    task = ct.Lepton(
        language="C",
        library_name=str(c_library),
        function_name="test_entry",
        argtypes=[
            (c_int32, ct.Lepton.INPUT),
            (POINTER(c_int32), ct.Lepton.INPUT_OUTPUT),
            (POINTER(c_int32), ct.Lepton.OUTPUT),
        ],
        executor=executor,
    )

    @ct.lattice
    def workflow(x, y):
        return task(x, y)

    result = finish(ct.dispatch(workflow)(1, 2))
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == (3, 5)


@needs_cc
def test_c_array_argument_is_returned_as_a_list(c_library):
    task = ct.Lepton(
        language="C",
        library_name=str(c_library),
        function_name="scale",
        argtypes=[
            (c_int32, ct.Lepton.INPUT),
            (POINTER(c_double), ct.Lepton.INPUT_OUTPUT),
            (c_double, ct.Lepton.INPUT),
        ],
    )

    @ct.lattice
    def workflow(values):
        return task(len(values), values, 2.5)

    assert ct.dispatch_sync(workflow)([1.0, 2.0]).result == [2.5, 5.0]


@needs_cc
def test_rebuilt_c_library_is_not_a_stale_reuse(c_library, tmp_path):
    task = ct.Lepton(
        language="C",
        library_name=str(c_library),
        function_name="test_entry",
        argtypes=[
            (c_int32, ct.Lepton.INPUT),
            (POINTER(c_int32), ct.Lepton.INPUT_OUTPUT),
            (POINTER(c_int32), ct.Lepton.OUTPUT),
        ],
    )

    @ct.lattice
    def workflow(x, y):
        return task(x, y)

    first = finish(ct.dispatch(workflow)(1, 2))
    same = finish(ct.redispatch(first.dispatch_id, reuse_previous_results=True)())
    assert same.get_node_result(0)["reused_from"] is not None
    source = tmp_path / "test.c"
    source.write_text(C_SOURCE.replace("*z = 5", "*z = 6"))
    rebuilt = tmp_path / "libtest2.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(rebuilt), str(source)], check=True)
    os.replace(rebuilt, c_library)
    changed = finish(ct.redispatch(first.dispatch_id, reuse_previous_results=True)())
    assert changed.get_node_result(0)["reused_from"] is None
    assert changed.result == (3, 6)


def test_python_function_by_import_path_with_a_calldep_howto(tmp_path, monkeypatch):
    (tmp_path / "lepton_test_module.py").write_text(
        "def entrypoint(x: int, y: int) -> int:\n    return x + y\n"
    )

    def set_pythonpath(directory):
        import sys

        print(f"Appending {directory} to module search path")
        sys.path.append(directory)

    task = ct.Lepton(
        language="python",
        library_name="lepton_test_module",
        function_name="entrypoint",
        call_before=[ct.DepsCall(set_pythonpath, args=[str(tmp_path)])],
        executor="local",
    )

    @ct.lattice
    def workflow(x):
        return task(x, 1)

    result = ct.dispatch_sync(workflow)(2)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 3
    node = result.get_node_result(0)
    assert node["node_name"] == "entrypoint"
    assert "Appending" in node["stdout"]
    assert node["key"] is None  # not importable here: cannot be fingerprinted, not reusable
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here: fingerprinted, reusable
    sys.modules.pop("lepton_test_module", None)
    again = ct.dispatch_sync(workflow)(2)
    assert again.get_node_result(0)["key"] is not None


def test_bash_decorator_with_files_deps_and_hooks(tmp_path):
    """Covalent's functional test, with paths in a temp dir."""
    source, dest, dest2 = tmp_path / "src.txt", tmp_path / "dest.txt", tmp_path / "dest2.txt"
    echofile, echofile2 = tmp_path / "debug.txt", tmp_path / "debug2.txt"
    hook_log = tmp_path / "hooks.log"

    def call_hook():
        with open(hook_log, "a") as fh:
            fh.write("hook\n")

    @ct.leptons.bash(
        executor="local",
        display_name="debug",
        call_before=ct.DepsCall(call_hook),
        call_after=ct.DepsCall(call_hook),
        deps_bash=ct.DepsBash([f"touch {tmp_path}/bash-dep-ran"]),
        files=[ct.fs.FileTransfer(str(source), str(dest), order=ct.fs.Order.BEFORE)],
    )
    def task(x):
        return f"echo {x} > {echofile}"

    def task2(x):
        return f"echo {x} > {echofile2}"

    @ct.lattice
    def workflow():
        task(5)
        ct.leptons.bash(
            task2, files=[ct.fs.FileTransfer(str(source), str(dest2), order=ct.fs.Order.AFTER)]
        )(3)

    source.touch()
    result = finish(ct.dispatch(workflow)())
    assert result.status == ct.status.COMPLETED, result.error
    assert echofile.read_text().strip() == "5" and echofile2.read_text().strip() == "3"
    assert dest.exists() and dest2.exists() and (tmp_path / "bash-dep-ran").exists()
    assert hook_log.read_text() == "hook\nhook\n"
    assert [n["node_name"] for n in result.get_all_node_results()][:1] == ["debug"]


def test_bash_decorator_takes_upstream_outputs():
    @ct.electron
    def word():
        return "hello"

    @ct.leptons.bash
    def shout(text):
        return f"echo {text} | tr a-z A-Z"

    @ct.lattice
    def flow():
        return shout(word())

    result = ct.dispatch_sync(flow)()
    assert result.status == ct.status.COMPLETED, result.error
    shouted = next(n for n in result.get_all_node_results() if n["node_name"] == "shout")
    assert shouted["stdout"].strip() == "HELLO"


def test_failing_bash_lepton_fails_its_node_with_stderr():
    task = ct.Lepton(language="bash", command="echo broken >&2; exit 3")

    @ct.lattice
    def flow():
        return task()

    result = ct.dispatch_sync(flow)()
    assert result.status == ct.status.FAILED
    assert "LeptonError" in result.error and "exit code 3" in result.error
    assert "broken" in result.error


def test_retval_keyword_hooks_are_refused_for_leptons():
    def hook():
        return 123

    @ct.leptons.bash(call_before=[ct.DepsCall(hook, retval_keyword="value")])
    def task(value=None):
        return f"echo {value}"

    @ct.lattice
    def flow():
        return task()

    with pytest.raises(LeptonError, match="retval_keyword"):
        ct.dispatch(flow)()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"language": "fortran", "command": "x"}, "not supported"),
        ({"language": "bash"}, "library_name= or command="),
        ({"language": "bash", "command": "x", "library_name": "y"}, "not both"),
        ({"language": "C", "library_name": "l.so", "function_name": "f", "command": "x"}, "C"),
        ({"language": "python", "library_name": "mod"}, "function_name"),
    ],
)
def test_inconsistent_leptons_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ct.Lepton(**kwargs)


def test_bash_script_function_by_library(tmp_path):
    script = tmp_path / "lib.sh"
    script.write_text("add() { total=$(($1 + $2)); }\n")
    task = ct.Lepton(
        language="bash",
        library_name=str(script),
        function_name="add",
        argtypes=[(int, ct.Lepton.OUTPUT)],
        named_outputs=["total"],
    )

    @ct.lattice
    def flow(a, b):
        return task(a, b)

    assert ct.dispatch_sync(flow)(2, 40).result == 42
