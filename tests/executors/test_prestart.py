"""``ct.dispatch`` starts the process pool's forkserver early when a task probably needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import valence as ct
from valence.executors.local import LocalExecutor, ThreadExecutor
from valence.executors.prestart import WORKER_MODULES, prestart_for, uses_process_pool


def by_default(x):
    return x


default_task = ct.electron(by_default)
thread_task = ct.electron(by_default, executor="thread")
instance_task = ct.electron(by_default, executor=LocalExecutor(workers=1))
conda_task = ct.electron(by_default, executor=LocalExecutor(conda_env="nowhere"))


@ct.lattice
def on_default(x):
    return default_task(x)


@ct.lattice
def on_threads(x):
    return thread_task(thread_task(x))


@ct.lattice
def mixed(x):
    return default_task(thread_task(x))


@ct.lattice(executor="thread")
def lattice_on_threads(x):
    return default_task(x)


@ct.lattice
def on_an_instance(x):
    return instance_task(x)


@ct.lattice
def in_a_conda_env(x):
    return conda_task(x)


@ct.lattice
def no_named_electron(x):
    return [x]


@pytest.mark.parametrize(
    ("lattice", "default", "expected"),
    [
        (on_default, "local", True),
        (on_default, "thread", False),
        (on_threads, "local", False),
        (mixed, "local", True),
        (mixed, "thread", False),
        (lattice_on_threads, "local", False),
        (on_an_instance, "thread", True),
        (in_a_conda_env, "local", False),
        (no_named_electron, "local", True),
        (no_named_electron, "dask", False),
        (ct.lattice(by_default, executor=ThreadExecutor()), "local", False),
    ],
)
def test_the_guess_follows_the_executors_the_body_names(lattice, default, expected) -> None:
    assert uses_process_pool(lattice, default) is expected


def test_nothing_starts_for_a_dispatch_that_does_not_run_here() -> None:
    assert prestart_for(on_default, None, disable_run=True) is False
    assert prestart_for(on_default, "http://127.0.0.1:9", disable_run=False) is False


PROBE = """
import json, sys
from multiprocessing import forkserver

seen = {}

class Watch:  # notes whether the forkserver runs when the store's SQLAlchemy is imported
    def find_spec(self, name, path=None, target=None):
        if name == "sqlalchemy" and "at_store_import" not in seen:
            seen["at_store_import"] = forkserver._forkserver._forkserver_pid is not None
        return None

sys.meta_path.insert(0, Watch())
import valence as ct

def add(a, b):
    return a + b

task = ct.electron(add) if sys.argv[1] == "default" else ct.electron(add, executor="thread")

@ct.lattice
def flow(a, b):
    return task(a, b)

# no `if __name__ == "__main__":` guard, as Covalent's examples: must run once
with open(sys.argv[2], "a") as log:
    log.write("ran\\n")
assert ct.get_result(ct.dispatch(flow)(1, 2), wait=True).result == 3
seen["at_exit"] = forkserver._forkserver._forkserver_pid is not None
seen["preload"] = forkserver._forkserver._preload_modules
print(json.dumps(seen))
"""


@pytest.mark.parametrize(("executor", "started"), [("default", True), ("thread", False)])
def test_a_fresh_process_starts_the_forkserver_before_importing_the_store(
    tmp_path, valence_home, executor, started
) -> None:
    env = {**os.environ, "VALENCE_HOME": str(valence_home)}
    env.pop("VALENCE_EXECUTOR", None)  # the process executor is the default
    ran = tmp_path / "ran.log"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, executor, str(ran)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen.pop("preload") == (["__main__", *WORKER_MODULES] if started else ["__main__"])
    assert seen == {"at_store_import": started, "at_exit": started}
    assert ran.read_text() == "ran\n"


class Touchy:
    @property
    def __class__(self):  # what a lazy proxy may do
        raise RuntimeError("do not look at me")


touchy = Touchy()


@ct.lattice
def names_a_touchy_global(x):
    return default_task(touchy, x)


def test_the_guess_never_touches_the_globals_it_reads() -> None:
    assert uses_process_pool(names_a_touchy_global, "local") is True
