"""Stable tokens for well-known stdlib values, and floats down to the bit.

Property: two values have the same token exactly when they pickle to the same bytes (their
observable state), and a value has the same token in a fresh interpreter.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import functools
import json
import logging
import operator
import pathlib
import pickle
import re
import struct
import subprocess
import sys
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from valence.fingerprint import value_token


def _nan(sign: int, payload: int) -> float:
    bits = (sign << 63) | (0x7FF << 52) | (1 << 51 if payload == 0 else payload)
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


nans = st.builds(_nan, st.integers(0, 1), st.integers(0, (1 << 52) - 1))
floats = st.floats() | nans | st.sampled_from([0.0, -0.0])
small = st.integers(-3, 3)
names = st.text("abc._", max_size=4)
offsets = st.timedeltas(datetime.timedelta(hours=-23), datetime.timedelta(hours=23))
zones = st.none() | st.just(datetime.timezone.utc) | st.builds(datetime.timezone, offsets)
patterns = st.sampled_from(["a+", "a*", "(x|y)", "", r"\d", "[a-c]"])
flags = st.sampled_from([0, re.I, re.M, re.I | re.S, re.X])

stdlib_values = st.one_of(
    floats,
    st.builds(complex, floats, floats),
    st.datetimes(timezones=zones),
    st.dates(),
    st.times(timezones=zones),
    st.timedeltas(),
    st.decimals(places=3) | st.sampled_from([decimal.Decimal(x) for x in ("NaN", "-NaN", "sNaN")]),
    st.fractions(),
    st.uuids(),
    st.builds(range, small, small, st.sampled_from([1, 2, -1])),
    st.builds(slice, st.none() | small, st.none() | small, st.none() | small),
    st.builds(logging.getLogger, names),
    st.builds(re.compile, patterns, flags),
    st.builds(lambda p, f: re.compile(p.encode(), f & ~re.U), patterns, flags),
    st.lists(small | names, min_size=1, max_size=3).map(lambda k: operator.itemgetter(*k)),
    st.lists(st.sampled_from(["a", "b.c", "real"]), min_size=1, max_size=2).map(
        lambda k: operator.attrgetter(*k)
    ),
    st.builds(
        lambda n, a, kw: operator.methodcaller(n, *a, **kw),
        st.sampled_from(["get", "split"]),
        st.lists(small, max_size=2),
        st.dictionaries(st.sampled_from(["sep", "maxsplit"]), small, max_size=2),
    ),
    st.builds(
        lambda f, a, kw: functools.partial(f, *a, **kw),
        st.sampled_from([max, min, sorted]),
        st.lists(small, max_size=2),
        st.dictionaries(st.sampled_from(["key", "default"]), st.none() | small, max_size=1),
    ),
)


def observable(value: Any) -> bytes:
    """The value's state as pickle sees it (NaN bits, -0.0, fold, flags included)."""
    return type(value).__qualname__.encode() + pickle.dumps(value, protocol=4)


@settings(max_examples=300, deadline=None)
@given(stdlib_values, stdlib_values)
def test_same_state_same_token_different_state_different_token(a: Any, b: Any) -> None:
    assert value_token(a) == value_token(a)
    assert (value_token(a) == value_token(b)) == (observable(a) == observable(b))


def test_stdlib_tokens_match_in_a_fresh_process(tmp_path: pathlib.Path) -> None:
    seen: list[Any] = []

    @settings(max_examples=150, deadline=None, database=None)
    @given(stdlib_values)
    def collect(value: Any) -> None:
        seen.append(value)

    collect()
    blob = tmp_path / "values.pkl"
    blob.write_bytes(pickle.dumps(seen))
    script = (
        "import json, pickle, sys\n"
        "from valence.fingerprint import value_token\n"
        "values = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(json.dumps([value_token(v) for v in values]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(blob)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [value_token(v) for v in seen]


def test_nan_sign_and_payload_and_negative_zero_are_in_the_token() -> None:
    plain, negative, payload = _nan(0, 0), _nan(1, 0), _nan(0, 5)
    tokens = {value_token(x) for x in (plain, negative, payload, 0.0, -0.0)}
    assert len(tokens) == 5
    assert value_token(complex(plain, 0)) != value_token(complex(negative, 0))
    assert value_token([plain]) == value_token([_nan(0, 0)])


def test_nan_sign_and_payload_and_negative_zero_in_numpy_arrays() -> None:
    import numpy as np

    arrays = [np.array([x]) for x in (_nan(0, 0), _nan(1, 0), _nan(0, 5), 0.0, -0.0)]
    assert len({value_token(a) for a in arrays}) == 5
    scalars = [np.float64(x) for x in (_nan(0, 0), _nan(1, 0), 0.0, -0.0)]
    assert len({value_token(s) for s in scalars}) == 4


def test_well_known_stdlib_values_have_tokens() -> None:
    values = [
        logging.getLogger("vl.stdlib"),
        logging.getLogger(),
        re.compile("x+"),
        operator.itemgetter("a"),
        operator.attrgetter("b"),
        operator.methodcaller("strip"),
        datetime.timezone.utc,
        uuid.uuid4(),
        fractions.Fraction(1, 3),
        list[int],
        int | None,
    ]
    assert len({value_token(v) for v in values}) == len(values)
