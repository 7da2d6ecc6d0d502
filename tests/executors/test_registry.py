"""get_executor: names through entry points, instances deduplicated by equality."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest

from valence.errors import UnknownExecutorError
from valence.executors import get_executor, registered_names, shutdown_all
from valence.executors.local import InlineExecutor, LocalExecutor, ThreadExecutor


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    shutdown_all()
    yield
    shutdown_all()


def test_builtin_names_are_registered() -> None:
    assert {"inline", "local", "thread"} <= set(registered_names())


def test_a_name_resolves_to_one_shared_instance() -> None:
    thread = get_executor("thread")
    assert isinstance(thread, ThreadExecutor)
    assert get_executor("thread") is thread
    assert isinstance(get_executor("inline"), InlineExecutor)


def test_none_means_the_default() -> None:
    assert isinstance(get_executor(None), LocalExecutor)
    assert isinstance(get_executor(None, default="inline"), InlineExecutor)


def test_equal_instances_share_one_executor() -> None:
    first = get_executor(ThreadExecutor(workers=4))
    copy = pickle.loads(pickle.dumps(ThreadExecutor(workers=4)))
    assert get_executor(copy) is first
    assert get_executor(ThreadExecutor(workers=2)) is not first
    assert get_executor(ThreadExecutor()) is get_executor("thread")


def test_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownExecutorError, match="'slurm'") as caught:
        get_executor("slurm")
    for name in ("inline", "local", "thread"):
        assert name in str(caught.value)


def test_other_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="int"):
        get_executor(3)  # type: ignore[arg-type]


def test_shutdown_all_forgets_instances() -> None:
    thread = get_executor("thread")
    shutdown_all()
    assert get_executor("thread") is not thread


def test_dask_is_registered_by_name() -> None:
    from valence.executors.dask import DaskExecutor

    assert "dask" in registered_names()
    executor = get_executor("dask")
    assert isinstance(executor, DaskExecutor) and executor._client is None  # not started


def test_ct_executor_holds_the_classes_as_covalents_module_does() -> None:
    import valence as ct
    from valence.executors.base import Executor
    from valence.executors.dask import DaskExecutor

    assert ct.executor.LocalExecutor is LocalExecutor
    assert ct.executor.ThreadExecutor is ThreadExecutor
    assert ct.executor.DaskExecutor is DaskExecutor
    assert ct.executor.Executor is Executor
    assert issubclass(ct.executor.BaseExecutor, Executor)  # Covalent's run()-style base
    with pytest.raises(AttributeError, match="no executor class 'SlurmExecutor'"):
        ct.executor.SlurmExecutor


def test_built_in_names_are_valences_own_entry_points() -> None:
    from importlib.metadata import distribution

    from valence.executors import BUILT_IN, ENTRY_POINT_GROUP

    ours = distribution("valence").entry_points.select(group=ENTRY_POINT_GROUP)
    assert {ep.name: ep.value for ep in ours} == BUILT_IN


def test_built_in_executors_resolve_without_listing_entry_points() -> None:
    import subprocess
    import sys

    code = (
        "import importlib.metadata as md\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError('entry points listed')\n"
        "md.entry_points = refuse\n"
        "from valence.executors import get_executor, is_registered\n"
        "assert all(is_registered(n) for n in ('local', 'thread', 'inline', 'dask'))\n"
        "print(type(get_executor('thread')).__name__, type(get_executor(None)).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ThreadExecutor", "LocalExecutor"]


def test_an_unknown_name_is_looked_up_among_plugins() -> None:
    from valence.executors import is_registered

    assert not is_registered("slurm")
    assert not is_registered("")


def test_an_executor_installed_while_running_is_seen(tmp_path, monkeypatch) -> None:
    assert "late" not in registered_names()  # read once: kept while sys.path is unchanged
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "late" not in registered_names()
    info = tmp_path / "late_executor-1.0.dist-info"
    info.mkdir()  # as pip installs a distribution: a new directory on sys.path
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: late-executor\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[valence.executors]\nlate = valence.executors.local:InlineExecutor\n"
    )
    assert "late" in registered_names()
    assert isinstance(get_executor("late"), InlineExecutor)
