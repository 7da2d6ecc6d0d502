# ruff: noqa: E501 - TIMING_PLUGIN is Covalent's how-to file, unchanged but for its import
"""Covalent's executor API: run()-style custom executors and LocalExecutor's options."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import valence as ct
from tests import workflows as wf
from valence.errors import UnsupportedOptionError
from valence.executor.base import AsyncBaseExecutor, BaseExecutor

TIMING_PLUGIN = '''
"""Timing executor plugin for Covalent."""

import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from valence.executor.base import BaseExecutor

executor_plugin_name = "TimingExecutor"  # Required by covalent.executors

_EXECUTOR_PLUGIN_DEFAULTS = {
    "timing_filepath": ""
}  # Set default values for executor plugin parameters here


class TimingExecutor(BaseExecutor):
    """Executor that times the execution time."""

    def __init__(self, timing_filepath: str = "", **kwargs):
        self.timing_filepath = str(Path(timing_filepath).resolve())
        super().__init__(**kwargs)

    def run(self, function: Callable, args: List, kwargs: Dict, task_metadata: Dict) -> Any:
        start = time.process_time()

        result = function(*args, **kwargs)

        time_taken = time.process_time() - start

        with open(f"{self.timing_filepath}", "w") as f:
            f.write(
                f"Node {task_metadata['node_id']} in dispatch {task_metadata['dispatch_id']} took {time_taken}s of CPU time.\\n"
            )

        return result
'''


@pytest.mark.slow
def test_covalent_custom_executor_howto_runs_unchanged(tmp_path, monkeypatch):
    # doc/source/how_to/execution/creating_custom_executors.ipynb, import lines changed
    package = tmp_path / "custom_executors"
    package.mkdir()
    (package / "timing_plugin.py").write_text(TIMING_PLUGIN)
    (package / "__init__.py").write_text("from .timing_plugin import TimingExecutor\n")
    script = textwrap.dedent(
        """
        import valence as ct
        import sys

        sys.path.append(str(Path("./custom_executors").resolve()))
        from custom_executors import TimingExecutor


        timing_log = "/tmp/cpu_timing.log"
        timing_executor = TimingExecutor(timing_log)

        # Calculate e based on a series
        @ct.electron(executor=timing_executor)
        def e_ser(x):
            e_est = 1
            fact = 1
            for i in range(1, x):
                fact *= i
                e_est += 1 / fact
            return e_est


        @ct.lattice(executor=timing_executor)
        def workflow(x):
            return e_ser(x)

        dispatch_id = ct.dispatch(workflow)(10)
        result = ct.get_result(dispatch_id, wait=True)
        print(result)

        for line in open(timing_log, "r"):
            print(line)
        """
    ).replace("/tmp/cpu_timing.log", str(tmp_path / "cpu_timing.log"))
    (tmp_path / "howto.py").write_text("from pathlib import Path\n" + script)
    done = subprocess.run(
        [sys.executable, "howto.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    print(done.stdout)  # shown with -s: the how-to's output
    assert "COMPLETED" in done.stdout
    assert "result: 2.7182815255731922" in done.stdout
    assert "Node 0 in dispatch " in done.stdout and "s of CPU time." in done.stdout


class Recording(AsyncBaseExecutor):
    def __init__(self, trail: str, **kwargs):
        self.trail = trail
        super().__init__(**kwargs)

    def _note(self, text):
        with open(self.trail, "a") as fh:
            fh.write(text + "\n")

    async def setup(self, task_metadata):
        self._note(f"setup {task_metadata['node_id']}")

    async def run(self, function, args, kwargs, task_metadata):
        await asyncio.sleep(0)
        print("from run", file=self.task_stdout)
        return function(*args, **kwargs)

    async def teardown(self, task_metadata):
        self._note(f"teardown {task_metadata['node_id']}")


def open_db(name):
    return f"db:{name}"


def test_async_executor_runs_setup_run_teardown_with_hooks_and_logs(tmp_path):
    trail = tmp_path / "trail.txt"
    executor = Recording(str(trail), log_stdout="out.log", cache_dir=str(tmp_path / "cache"))

    @ct.electron(
        executor=executor, call_before=[ct.DepsCall(open_db, args=["prod"], retval_keyword="db")]
    )
    def task(x, db=None):
        print(f"task saw {db}")
        return x + 1

    @ct.lattice
    def flow(x):
        return task(x)

    result = ct.dispatch_sync(flow)(1)
    assert result.result == 2, result.error
    assert trail.read_text() == "setup 0\nteardown 0\n"
    node = result.get_node_result(0)
    assert "task saw db:prod" in node["stdout"] and "from run" in node["stdout"]
    log = tmp_path / "cache" / result.dispatch_id / "out.log"
    assert "task saw db:prod" in log.read_text()


class Failing(BaseExecutor):
    def run(self, function, args, kwargs, task_metadata):
        raise RuntimeError(f"cluster down for node {task_metadata['node_id']}")


def test_an_executor_whose_run_raises_fails_the_node_with_its_error():
    @ct.electron(executor=Failing())
    def task():
        return 1

    @ct.lattice
    def flow():
        return task()

    result = ct.dispatch_sync(flow)()
    assert result.status == ct.status.FAILED
    assert "RuntimeError: cluster down for node 0" in result.get_node_result(0)["error"]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: Failing(time_limit=10), "time_limit=10"),
        (lambda: Failing(retries=2), "retries=2"),
        (lambda: Failing(poll_freq=5), "poll_freq=5"),
        (lambda: ct.executor.LocalExecutor(remote_cache="/x"), "remote_cache='/x'"),
        (lambda: ct.executor.LocalExecutor(time_limit=3), "time_limit=3"),
    ],
)
def test_unsupported_executor_options_are_errors_naming_them(make, needle):
    with pytest.raises(UnsupportedOptionError, match=needle):
        make()


def test_local_executor_workdir_and_log_files(tmp_path):
    work = tmp_path / "work"
    logs = tmp_path / "logs"
    executor = ct.executor.LocalExecutor(
        workers=1,
        workdir=str(work),
        create_unique_workdir=True,
        log_stdout="stdout.log",
        log_stderr=str(tmp_path / "err.log"),
        cache_dir=str(logs),
    )

    @ct.electron(executor=executor)
    def where():
        print("hello out")
        print("hello err", file=sys.stderr)
        Path("made-here.txt").write_text("x")
        return os.getcwd()

    @ct.lattice
    def flow():
        return where()

    result = ct.dispatch_sync(flow)()
    assert result.status == ct.status.COMPLETED, result.error
    expected = work / result.dispatch_id / "node_0"
    assert result.result == str(expected)
    assert (expected / "made-here.txt").exists()
    assert (logs / result.dispatch_id / "stdout.log").read_text() == "hello out\n"
    assert (tmp_path / "err.log").read_text() == "hello err\n"
    assert result.get_node_result(0)["stdout"] == "hello out\n"  # still in the store


def test_local_executor_defaults_come_from_the_config(tmp_path):
    ct.set_config({"executors.local.workdir": str(tmp_path / "w"), "executors.local.workers": 2})
    ct.set_config("executors.thread.workers", 3)
    executor = ct.executor.LocalExecutor()
    assert executor.workdir == str(tmp_path / "w") and executor.workers == 2
    assert ct.executor.LocalExecutor(workdir="/elsewhere").workdir == "/elsewhere"
    assert ct.executor.ThreadExecutor().workers == 3
    ct.set_config({"executors.dask.threads_per_worker": 2, "executors.dask.workers": 1})
    dask = ct.executor.DaskExecutor()
    assert (dask.workers, dask.threads_per_worker) == (1, 2)
    assert "workdir=" in repr(executor)


def test_missing_conda_env_fails_the_task_with_a_clear_error():
    @ct.electron(executor=ct.executor.LocalExecutor(conda_env="valence-no-such-env"))
    def task():
        return 1

    @ct.lattice
    def flow():
        return task()

    result = ct.dispatch_sync(flow)()
    assert result.status == ct.status.FAILED
    error = result.get_node_result(0)["error"]
    assert "conda environment 'valence-no-such-env' not found" in error


@pytest.mark.slow
def test_conda_env_runs_the_task_in_that_environments_interpreter(tmp_path):
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "valence-parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for path in sys.path:  # an editable install of valence adds its source dir
        if path and Path(path, "valence", "__init__.py").exists():
            (site / "valence-src.pth").write_text(path + "\n")

    @ct.electron(executor=ct.executor.LocalExecutor(conda_env=str(env)))
    def task(x):
        import sys as inner_sys

        print("in env")
        return inner_sys.prefix, x * 2

    @ct.lattice
    def flow(x):
        return task(x)

    result = ct.dispatch_sync(flow)(21)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == (str(env), 42)
    assert result.get_node_result(0)["stdout"] == "in env\n"


class Stateful(BaseExecutor):
    """Keeps per-task state on self, as Covalent executors may (one instance per task there)."""

    def run(self, function, args, kwargs, task_metadata):
        self.node = task_metadata["node_id"]
        value = function(*args, **kwargs)
        return (self.node, task_metadata["node_id"], value)


def test_tasks_running_at_once_do_not_share_executor_state(tmp_path):
    executor = Stateful()
    task = ct.electron(wf.meet.function, executor=executor)

    @ct.lattice
    def flow(folder):
        return [task(folder, i, 4) for i in range(4)]

    result = ct.dispatch_sync(flow)(str(tmp_path))
    assert result.status == ct.status.COMPLETED, result.error
    assert all(met for _, _, met in result.result)  # all four ran at the same time
    assert all(mine == theirs for mine, theirs, _ in result.result)
    assert not hasattr(executor, "node")  # the user's instance is untouched
