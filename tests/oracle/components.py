"""The building blocks a generated workflow's tasks call: one small affine int function each.

Every component maps an int ``n`` to ``n * a + b`` in its own way (a helper, a class
attribute, a closure cell, a decorator, a partial, a function attribute, an annotation,
a lazily imported module, an installed package, a stdlib value, ...). With ``a >= 1``
and ``n >= 1`` any edit of a parameter changes the value a task returns, so a stale
reuse always shows in the result. ``EDITS`` names what each parameter edit is.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

KINDS = (
    "const",
    "glob",
    "helper",
    "cls",
    "closure",
    "deco",
    "partial",
    "attr",
    "annot",
    "lazy",
    "pkg",
    "stdlib",
    "dyn",
    "sdisp",
    "bound",
    "table",
    "kwdefault",
    "inherit",
    "config",
    "lambda",
    "default",
)

# kind -> {parameter: edit kind}
EDITS: dict[str, dict[str, str]] = {
    "const": {"b": "module_constant"},
    "glob": {"b": "mutable_global"},
    "helper": {"a": "helper_body", "b": "helper_body"},
    "cls": {"a": "class_attribute", "b": "method_body"},
    "closure": {"a": "closure_code", "b": "closure_cell"},
    "deco": {"a": "decorated_code", "b": "decorator_code"},
    "partial": {"a": "partial_argument", "b": "partial_function"},
    "attr": {"b": "function_attribute"},
    "annot": {"t": "annotation"},
    "lazy": {"b": "lazy_module"},
    "pkg": {"b": "package_bump"},
    "stdlib": {"b": "stdlib_value"},
    "dyn": {"b": "dynamic_global"},
    "sdisp": {"a": "singledispatch"},
    "bound": {"a": "bound_method", "b": "bound_instance"},
    "table": {"a": "function_in_a_dict", "b": "function_in_a_dict"},
    "kwdefault": {"b": "keyword_default"},
    "inherit": {"a": "base_class_method", "b": "class_attribute"},
    "config": {"a": "instance_field", "b": "instance_field"},
    "lambda": {"a": "lambda_body", "b": "lambda_body"},
    "default": {"b": "positional_default"},
}

# Parameters edited outside the main module: visible to a redispatch without replacements.
OUTSIDE = {"lazy", "pkg"}

STDLIB = {
    "re": ('re.compile("a" * {b})', "({e} + len({s}.pattern))"),
    "logger": ('logging.getLogger("oracle." + "x" * {b})', "({e} + len({s}.name))"),
    "itemgetter": ("operator.itemgetter({b})", "{s}(list(range({e}, {e} + 20)))"),
    "decimal": ('decimal.Decimal("{b}.5")', "({e} + int({s} * 2))"),
    "fraction": ("fractions.Fraction({b}, 3)", "({e} + int({s} * 3))"),
    "date": ("datetime.date(2020, 1, {b})", "({e} + {s}.day)"),
    "range": ("range({b})", "({e} + len({s}))"),
    "complex": ("complex({b}, 1)", "({e} + int({s}.real))"),
}


@dataclass
class Component:
    kind: str
    idx: int
    params: dict[str, object] = field(default_factory=dict)
    inner: int | None = None  # a helper calls another component: helpers of helpers

    @property
    def name(self) -> str:
        return f"{self.kind}{self.idx}"


def use(comps: list[Component], c: Component, e: str) -> str:
    """The expression applying component ``c`` to the int expression ``e``."""
    p, i = c.params, c.idx
    match c.kind:
        case "const":
            return f"({e} + C{i})"
        case "glob":
            return f'({e} + G{i}["k"])'
        case "helper":
            return f"h{i}({e})"
        case "cls":
            return f"K{i}().apply({e})"
        case "closure":
            return f"clo{i}({e})"
        case "deco":
            return f"dec{i}({e})"
        case "partial":
            return f"par{i}({e})"
        case "attr":
            return f"fa{i}({e})"
        case "annot":
            return f"an{i}({e})"
        case "lazy":
            return f"lz{i}({e})"
        case "pkg":
            return f"PKG.f{i}({e})"
        case "stdlib":
            return STDLIB[str(p["v"])][1].format(e=e, s=f"S{i}")
        case "dyn":
            return f"dyn{i}({e})"
        case "sdisp":
            return f"sd{i}({e})"
        case "bound":
            return f"bm{i}({e})"
        case "table":
            return f'OPS{i}["f"]({e})'
        case "kwdefault":
            return f"kd{i}({e})"
        case "inherit":
            return f"Sub{i}().apply({e})"
        case "config":
            return f"({e} * CFG{i}.scale + CFG{i}.bias)"
        case "lambda":
            return f"lam{i}({e})"
        case "default":
            return f"df{i}({e})"
    raise AssertionError(c.kind)


def render(comps: list[Component], c: Component) -> str:
    """The main module's code defining ``c``."""
    p, i = c.params, c.idx
    a, b = p.get("a"), p.get("b")
    match c.kind:
        case "const":
            return f"C{i} = {b}"
        case "glob":
            return f'G{i} = {{"k": {b}}}\nG{i}["k"] += 1'
        case "helper":
            inner = use(comps, comps[c.inner], "n") if c.inner is not None else "n"
            return f"def h{i}(n):\n    return {inner} * {a} + {b}"
        case "cls":
            return f"""
                class K{i}:
                    factor = {a}

                    def apply(self, n):
                        return n * self.factor + {b}"""
        case "closure":
            return f"""
                def _make{i}(k):
                    def inner(n):
                        return n * {a} + k

                    return inner


                clo{i} = _make{i}({b})"""
        case "deco":
            return f"""
                def _deco{i}(f):
                    @functools.wraps(f)
                    def wrapper(n):
                        return f(n) + {b}

                    return wrapper


                @_deco{i}
                def dec{i}(n):
                    return n * {a}"""
        case "partial":
            return f"""
                def _lin{i}(a, n):
                    return n * a + {b}


                par{i} = functools.partial(_lin{i}, {a})"""
        case "attr":
            return f"def fa{i}(n):\n    return n + fa{i}.bias\n\n\nfa{i}.bias = {b}"
        case "annot":
            return f"@_coerce\ndef an{i}(n: {p['t']}) -> {p['t']}:\n    return n * 3 + 1"
        case "lazy":
            return f"def lz{i}(n):\n    import {{lazy}}\n\n    return {{lazy}}.f{i}(n)"
        case "pkg":
            return ""
        case "stdlib":
            return f"S{i} = " + STDLIB[str(p["v"])][0].format(b=b)
        case "dyn":
            return f'DV{i} = {b}\n\n\ndef dyn{i}(n):\n    return n + globals()["DV{i}"]'
        case "sdisp":
            return f"""
                @functools.singledispatch
                def sd{i}(n):
                    return n * {a}


                @sd{i}.register(float)
                def _sd{i}_float(n):
                    return n * {a} + 0.5"""
        case "bound":
            return f"""
                class _B{i}:
                    def __init__(self, k):
                        self.k = k

                    def apply(self, n):
                        return n * {a} + self.k


                bm{i} = _B{i}({b}).apply"""
        case "table":
            return f"""
                def _op{i}(n):
                    return n * {a} + {b}


                OPS{i} = {{"f": _op{i}}}"""
        case "kwdefault":
            return f"def kd{i}(n, *, k={b}):\n    return n * {a} + k"
        case "inherit":
            return f"""
                class _Base{i}:
                    def step(self, n):
                        return n * {a}


                class Sub{i}(_Base{i}):
                    bias = {b}

                    def apply(self, n):
                        return self.step(n) + self.bias"""
        case "config":
            return f"""
                @dataclasses.dataclass(frozen=True)
                class _Cfg{i}:
                    scale: int
                    bias: int


                CFG{i} = _Cfg{i}(scale={a}, bias={b})"""
        case "lambda":
            return f"lam{i} = lambda n: n * {a} + {b}  # noqa: E731"
        case "default":
            return f"def df{i}(n, k={b}):\n    return n * {a} + k"
    raise AssertionError(c.kind)


def render_outside(c: Component) -> str:
    """The code of a lazy-module or package component (``f<i>`` in that module)."""
    return f"def f{c.idx}(n):\n    return n * {c.params['a']} + {c.params['b']}\n"


def dedent(code: str) -> str:
    return textwrap.dedent(code).strip("\n")
