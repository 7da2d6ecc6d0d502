"""A canonical, type-tagged form of every value the oracle's workflows use.

Written for the oracle only, independently of valence's tokens: it keeps what a task
can observe (float bit patterns, dict order, dtypes, enum and dataclass types) and
drops what it cannot (set iteration order). The generated workflow modules embed
this file's functions verbatim, so a task digests its inputs the same way.
"""

import dataclasses
import enum
import hashlib
import pathlib
import struct


def canon(x):
    """A JSON-able structure that differs whenever ``x`` differs observably."""
    kind = type(x).__module__ + "." + type(x).__qualname__
    if isinstance(x, float):
        return [kind, struct.pack("<d", x).hex()]
    if isinstance(x, complex):
        return [kind, canon(x.real), canon(x.imag)]
    if x is None or isinstance(x, (bool, int, str, bytes)):
        return [kind, repr(x)]
    if isinstance(x, (list, tuple)):
        return [kind, [canon(v) for v in x]]
    if isinstance(x, dict):
        return [kind, [[canon(k), canon(v)] for k, v in x.items()]]
    if isinstance(x, (set, frozenset)):
        return [kind, sorted(repr(canon(v)) for v in x)]
    if isinstance(x, enum.Enum):
        return [kind, x.name, canon(x.value)]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return [kind, [[f.name, canon(getattr(x, f.name))] for f in dataclasses.fields(x)]]
    if isinstance(x, pathlib.PurePath):
        return [kind, str(x)]
    if hasattr(x, "dtype") and hasattr(x, "tobytes") and not hasattr(x, "index"):
        if x.dtype.kind == "O":
            return [kind, canon(x.tolist())]
        return [kind, x.dtype.str, list(getattr(x, "shape", ())), x.tobytes().hex()]
    if hasattr(x, "columns") and hasattr(x, "dtypes"):
        columns = [[canon(c), str(x[c].dtype), canon(x[c].to_numpy())] for c in x.columns]
        return [kind, canon(x.index), columns]
    if hasattr(x, "index") and hasattr(x, "dtype"):
        return [kind, canon(x.name), str(x.dtype), canon(x.index), canon(x.to_numpy())]
    if hasattr(x, "dtype") and hasattr(x, "tolist"):  # a pandas Index
        return [kind, str(x.dtype), canon(x.tolist())]
    return [kind, repr(x)]


def digest(*values):
    """A positive int that changes whenever one of ``values`` changes observably."""
    text = repr([canon(v) for v in values]).encode()
    return int(hashlib.sha256(text).hexdigest()[:12], 16) + 1
