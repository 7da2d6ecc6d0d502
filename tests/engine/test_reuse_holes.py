"""Stale-reuse holes and lost reuse, reproduced through the public API with workflows in
real module files and redispatches in a fresh interpreter (issue 9, section 2)."""

from __future__ import annotations

import sys

import pytest

import valence as ct
from tests.engine.reuse_harness import import_fresh, redispatch_fresh, write_module

pytestmark = pytest.mark.slow


def _run(module, *args):
    return ct.get_result(ct.dispatch(module.flow)(*args), wait=True, timeout=120)


STDLIB_GLOBALS = """
import logging, operator, re
import valence as ct

log = logging.getLogger("vl.holes")
WORD = re.compile(r"[a-z]+")
FIRST = operator.itemgetter(0)

@ct.electron
def task(text):
    log.debug("task")
    return FIRST(WORD.findall(text))

@ct.lattice
def flow(text):
    return task(text)
"""


def test_module_level_logger_pattern_and_itemgetter_keep_reuse(tmp_path, monkeypatch, valence_home):
    write_module(tmp_path, "vl_stdlib_flow", STDLIB_GLOBALS)
    parent = _run(import_fresh(tmp_path, "vl_stdlib_flow", monkeypatch), "hello world")
    assert parent.result == "hello"
    again = redispatch_fresh(parent.dispatch_id, valence_home, reuse_previous_results=True)
    assert again["result"] == "hello"
    assert again["codes"] == {"task": "reused"}


SINGLEDISPATCH = """
import functools
import valence as ct

@functools.singledispatch
def describe(x):
    return "thing"

@describe.register
def _(x: int):
    return "int"

@ct.electron
def task(x):
    return describe(x)

@ct.lattice
def flow(x):
    return task(x)
"""


def test_singledispatch_task_runs_on_the_process_pool_and_is_reused(
    tmp_path, monkeypatch, valence_home
):
    monkeypatch.setenv("VALENCE_EXECUTOR", "local")
    write_module(tmp_path, "vl_sd_flow", SINGLEDISPATCH)
    module = import_fresh(tmp_path, "vl_sd_flow", monkeypatch)
    assert module.describe(1) == "int"  # its weak dispatch cache now holds entries
    parent = _run(module, 1)
    assert (parent.status, parent.result) == ("COMPLETED", "int")
    again = redispatch_fresh(
        parent.dispatch_id, valence_home, reuse_previous_results=True, args=[1]
    )
    assert (again["result"], again["codes"]) == ("int", {"task": "reused"})
    other = redispatch_fresh(
        parent.dispatch_id, valence_home, reuse_previous_results=True, args=["a"]
    )
    assert (other["result"], other["codes"]["task"]) == ("thing", "changed_argument")


GLOBALS_FLOW = """
import valence as ct

SCALE = 3

@ct.electron
def task(n):
    return globals()["SCALE"] * n

@ct.lattice
def flow(n):
    return task(n)
"""


def test_globals_lookup_works_on_the_process_pool(tmp_path, monkeypatch, valence_home):
    monkeypatch.setenv("VALENCE_EXECUTOR", "local")
    write_module(tmp_path, "vl_globals_flow", GLOBALS_FLOW)
    parent = _run(import_fresh(tmp_path, "vl_globals_flow", monkeypatch), 2)
    assert (parent.status, parent.result, parent.error) == ("COMPLETED", 6, None)


DYNAMIC_FLOW = """
import valence as ct

@ct.electron
def task(name):
    import vl_dyn_cfg
    return getattr(vl_dyn_cfg, name.upper())

@ct.lattice
def flow(name):
    return task(name)
"""


def test_dynamic_access_to_a_module_imported_in_the_body(tmp_path, monkeypatch, valence_home):
    project = tmp_path / "project"
    project.mkdir()
    write_module(project, "vl_dyn_cfg", "ALPHA = 1\nBETA = 2\n")
    write_module(project, "vl_dyn_flow", DYNAMIC_FLOW)
    parent = _run(import_fresh(project, "vl_dyn_flow", monkeypatch), "alpha")
    assert parent.result == 1
    write_module(project, "vl_dyn_cfg", "ALPHA = 10\nBETA = 2\n")
    for options in ({"args": ["alpha"]}, {}):
        again = redispatch_fresh(
            parent.dispatch_id, valence_home, path=project, reuse_previous_results=True, **options
        )
        assert again["result"] == 10, (options, again)
        assert again["codes"] == {"task": "new_code"}


PINNED = """
import valence as ct

@ct.electron(version="1")
def score(x):
    return x + {step}

@ct.lattice
def flow(x):
    return score(x)
"""


@pytest.mark.parametrize(
    "options",
    [{}, {"reuse_previous_results": True, "force_rerun": ["score"]}],
    ids=["reuse_off", "force_rerun"],
)
def test_replacement_with_an_equal_fingerprint_runs_its_own_code(
    tmp_path, monkeypatch, valence_home, options
):
    monkeypatch.setenv("VALENCE_EXECUTOR", "local")
    write_module(tmp_path, "vl_pinned_flow", PINNED.format(step=1))
    parent = _run(import_fresh(tmp_path, "vl_pinned_flow", monkeypatch), 1)
    assert parent.result == 2
    write_module(tmp_path, "vl_pinned_flow", PINNED.format(step=100))
    edited = import_fresh(tmp_path, "vl_pinned_flow", monkeypatch)
    rid = ct.redispatch(parent.dispatch_id, replace_electrons={"score": edited.score}, **options)()
    assert ct.get_result(rid, wait=True, timeout=120).result == 101
    edited.score.function.bonus = 1  # an attribute: not behaviour here, but part of the code
    rid = ct.redispatch(parent.dispatch_id, replace_electrons={"score": edited.score}, **options)()
    assert ct.get_result(rid, wait=True, timeout=120).result == 101


PROJECT_FLOW = """
import valence as ct
import vl_proj

@ct.electron
def task(x):
    return vl_proj.compute(x)

@ct.lattice
def flow(x):
    return task(x)
"""


def _src_layout_project(root):
    """``src/vl_proj`` with the ``*.egg-info`` a develop install leaves (no direct_url.json)."""
    src = root / "src"
    (src / "vl_proj").mkdir(parents=True)
    (src / "vl_proj" / "__init__.py").write_text("def compute(x):\n    return x + 1\n")
    info = src / "vl_proj.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: vl-proj\nVersion: 0.1\n")
    (info / "top_level.txt").write_text("vl_proj\n")
    write_module(src, "vl_proj_flow", PROJECT_FLOW)
    return src


def test_own_project_claimed_by_a_distribution_is_hashed_as_code(
    tmp_path, monkeypatch, valence_home
):
    from importlib import metadata

    from valence.fingerprint import code_fingerprint

    src = _src_layout_project(tmp_path)
    module = import_fresh(src, "vl_proj_flow", monkeypatch)
    assert metadata.version("vl-proj") == "0.1"  # a distribution claims the name
    before = code_fingerprint(module.task.function)
    parent = _run(module, 1)
    assert parent.result == 2
    (src / "vl_proj" / "__init__.py").write_text("def compute(x):\n    return x + 100\n")
    sys.modules.pop("vl_proj")
    edited = import_fresh(src, "vl_proj_flow", monkeypatch)
    assert code_fingerprint(edited.task.function) != before
    on = redispatch_fresh(parent.dispatch_id, valence_home, path=src, reuse_previous_results=True)
    off = redispatch_fresh(parent.dispatch_id, valence_home, path=src, args=[1])
    assert on["result"] == off["result"]  # the stored code, pickled by value, in both
    assert on["codes"] == {"task": "reused"}
    sys.modules.pop("vl_proj", None)


STOCHASTIC_INSIDE = """
import random
import valence as ct

@ct.electron
def square(x):
    return x * x

@ct.electron(reusable=False)
def noise():
    return random.random()

@ct.electron
def add(a, b):
    return a + b

@ct.lattice
def inner(x):
    return add(square(x), noise())

@ct.lattice
def mid(x):
    return ct.electron(inner)(x)

@ct.electron
def post(y):
    return y * 10

@ct.lattice
def flow(x):
    return post(ct.electron(mid)(x))
"""


@pytest.mark.parametrize("args", [[], [3]], ids=["no_arguments", "same_arguments"])
def test_reusable_false_inside_nested_sublattices_runs_again(
    tmp_path, monkeypatch, valence_home, args
):
    write_module(tmp_path, "vl_stoch_flow", STOCHASTIC_INSIDE)
    parent = _run(import_fresh(tmp_path, "vl_stoch_flow", monkeypatch), 3)
    again = redispatch_fresh(
        parent.dispatch_id, valence_home, reuse_previous_results=True, args=args
    )
    assert again["status"] == "COMPLETED"
    assert again["result"] != parent.result  # the noise was drawn again
    codes = {name.replace(":sublattice:", ""): code for name, code in again["codes"].items()}
    assert codes == {
        "mid": "not_reusable",
        "mid/inner": "not_reusable",
        "mid/inner/square": "reused",
        "mid/inner/noise": "not_reusable",
        "mid/inner/add": "not_reusable",
        "post": "not_reusable",
    }


INSTALLED_FLOW = """
import valence as ct
import vl_extpkg

@ct.electron
def task(x):
    return vl_extpkg.triple(x)

@ct.lattice
def flow(x):
    return task(x)
"""


def _install(site, version, factor):
    """A tiny package "installed" in a site-packages directory, with its version."""
    (site / "vl_extpkg").mkdir(parents=True, exist_ok=True)
    (site / "vl_extpkg" / "__init__.py").write_text(f"def triple(x):\n    return {factor} * x\n")
    for old in site.glob("vl_extpkg-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    info = site / f"vl_extpkg-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vl-extpkg\nVersion: {version}\n")
    (info / "top_level.txt").write_text("vl_extpkg\n")
    (info / "RECORD").write_text("")


@pytest.mark.parametrize("args", [[], [2]], ids=["no_arguments", "same_arguments"])
def test_installed_version_bump_is_seen_with_or_without_arguments(
    tmp_path, monkeypatch, valence_home, args
):
    site = tmp_path / "site-packages"
    _install(site, "1.0", 3)
    write_module(tmp_path, "vl_ext_flow", INSTALLED_FLOW)
    monkeypatch.syspath_prepend(str(site))
    parent = _run(import_fresh(tmp_path, "vl_ext_flow", monkeypatch), 2)
    sys.modules.pop("vl_extpkg", None)
    assert parent.result == 6
    same = redispatch_fresh(
        parent.dispatch_id, valence_home, path=site, reuse_previous_results=True, args=args
    )
    assert (same["result"], same["codes"]) == (6, {"task": "reused"})
    _install(site, "2.0", 4)
    bumped = redispatch_fresh(
        parent.dispatch_id, valence_home, path=site, reuse_previous_results=True, args=args
    )
    assert (bumped["result"], bumped["codes"]) == (8, {"task": "new_code"})


LATTICE_IMPORT_FLOW = """
import valence as ct

@ct.electron
def scale(x, k):
    return x * k

@ct.lattice
def flow(x):
    import vl_shape_cfg
    return scale(x, vl_shape_cfg.K)
"""


def test_user_module_imported_in_the_lattice_body_is_read_again(
    tmp_path, monkeypatch, valence_home
):
    project = tmp_path / "project"
    project.mkdir()
    write_module(project, "vl_shape_cfg", "K = 2\n")
    write_module(project, "vl_shape_flow", LATTICE_IMPORT_FLOW)
    parent = _run(import_fresh(project, "vl_shape_flow", monkeypatch), 5)
    sys.modules.pop("vl_shape_cfg", None)
    assert parent.result == 10
    write_module(project, "vl_shape_cfg", "K = 3\n")
    for args in ([], [5]):
        again = redispatch_fresh(
            parent.dispatch_id, valence_home, path=project, reuse_previous_results=True, args=args
        )
        assert (again["result"], again["codes"]) == (15, {"scale": "changed_argument"}), args


@pytest.mark.parametrize("how", ["dispatch_reuse", "redispatch_any"])
def test_reusable_false_inside_a_sublattice_is_never_reused_from_the_store(
    tmp_path, monkeypatch, valence_home, how
):
    """Store-wide reuse and early cutoff honour a sublattice that ran a not reusable task."""
    write_module(tmp_path, "vl_stoch_store", STOCHASTIC_INSIDE)
    module = import_fresh(tmp_path, "vl_stoch_store", monkeypatch)
    first = _run(module, 3)
    if how == "dispatch_reuse":
        again = ct.get_result(
            ct.dispatch(module.flow, reuse_previous_results=True)(3), wait=True, timeout=120
        )
    else:
        other = _run(module, 4)  # a redispatch of another run, reusing from the whole store
        again = ct.get_result(
            ct.redispatch(other.dispatch_id, reuse_from="any")(3), wait=True, timeout=120
        )
    assert again.status == "COMPLETED"
    assert again.result != first.result  # the noise was drawn again, post ran on it
    codes = {n["node_name"]: (n["reason"] or {}).get("code") for n in again.get_all_node_results()}
    assert codes[":sublattice:mid"] not in ("reused", "reused_store", "early_cutoff")
    assert codes["post"] not in ("reused", "reused_store", "early_cutoff")


CONSTANT_NOISE_INSIDE = STOCHASTIC_INSIDE.replace("return random.random()", "return 0.5")


def test_what_follows_a_sublattice_that_ran_a_not_reusable_task_runs_even_on_equal_bytes(
    tmp_path, monkeypatch, valence_home
):
    """Early cutoff never reuses a dependent of a not reusable task, even when that task's
    output came out byte-identical (found by the oracle)."""
    write_module(tmp_path, "vl_const_noise", CONSTANT_NOISE_INSIDE)
    module = import_fresh(tmp_path, "vl_const_noise", monkeypatch)
    first = _run(module, 3)
    # Any replacement enters the sublattice's key: mid runs again, its noise is the same.
    again = ct.get_result(
        ct.redispatch(
            first.dispatch_id,
            replace_electrons={"square": module.square},
            reuse_previous_results=True,
        )(),
        wait=True,
        timeout=120,
    )
    assert again.status == "COMPLETED" and again.result == first.result
    codes = {n["node_name"]: (n["reason"] or {}).get("code") for n in again.get_all_node_results()}
    assert codes["post"] != "early_cutoff", codes
    assert (
        again.get_node_result(
            next(n["node_id"] for n in again.get_all_node_results() if n["node_name"] == "post")
        )["start_time"]
        != first.get_node_result(
            next(n["node_id"] for n in first.get_all_node_results() if n["node_name"] == "post")
        )["start_time"]
    )
