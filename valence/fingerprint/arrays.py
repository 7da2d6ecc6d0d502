"""numpy and pandas tokens, registered the first time a value of theirs is seen.

Neither library is imported by valence: ``values._enc_object`` calls the registration
function in ``_LAZY`` for a value's top-level module, which imports it.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from valence.fingerprint.encoding import _join, _record
from valence.fingerprint.reasons import Unhashable, _cannot, _type_name
from valence.fingerprint.values import _LAZY, _enc, _encode, _seq, _tz


def _register_numpy() -> None:
    import numpy as np

    _LAZY.pop("numpy", None)
    _encode.register(np.ndarray, _enc_ndarray)
    _encode.register(np.generic, _enc_np_scalar)
    _encode.register(np.dtype, _enc_dtype)


def _register_pandas() -> None:
    import pandas as pd

    _register_numpy()
    _encode.register(pd.DataFrame, _enc_frame)
    _encode.register(pd.Series, _enc_series)
    _encode.register(pd.Index, _enc_index)
    _encode.register(pd.Timestamp, _enc_timestamp)
    _encode.register(pd.Timedelta, lambda v: _record("Timedelta", _enc(v.isoformat())))
    _encode.register(type(pd.NaT), lambda v: _record("NaT"))
    _encode.register(type(pd.NA), lambda v: _record("NA"))


def _enc_dtype(dtype: Any) -> bytes:
    descr = dtype.descr if dtype.fields is not None else None
    return _record("dtype", _enc(dtype.str), _enc(descr))


def _enc_ndarray(array: Any) -> bytes:
    np = sys.modules["numpy"]
    ma = sys.modules.get("numpy.ma")
    if ma is not None and isinstance(array, ma.MaskedArray):
        mask = ma.getmaskarray(array)
        return _record("masked", _enc(array.data), _enc(mask), _enc(array.fill_value))
    if type(array) not in (np.ndarray, np.memmap, np.recarray):
        raise Unhashable(_cannot(type(array)))
    head = (_enc(_type_name(type(array))), _enc_dtype(array.dtype), _enc(array.shape))
    if array.dtype.kind in "OT":  # Python objects / variable-width strings: hash the elements
        return _record("ndarray", *head, _seq(b"l", array.ravel(order="C").tolist()))
    if array.dtype.hasobject:
        raise Unhashable("cannot hash a numpy structured array with object fields stably")
    return _record("ndarray", *head, _enc(_array_digest(array)))


def _array_digest(array: Any) -> bytes:
    np = sys.modules["numpy"]
    contiguous = np.ascontiguousarray(array).reshape(-1)
    try:
        return hashlib.sha256(memoryview(contiguous.view(np.uint8))).digest()
    except (TypeError, ValueError):
        return hashlib.sha256(contiguous.tobytes()).digest()


def _enc_np_scalar(value: Any) -> bytes:
    if value.dtype.hasobject:
        raise Unhashable("cannot hash a numpy structured scalar with object fields stably")
    return _record("npscalar", _enc_dtype(value.dtype), _enc(value.tobytes()))


def _enc_timestamp(value: Any) -> bytes:
    return _record("Timestamp", _enc(value.isoformat()), _enc(value.unit), _enc(_tz(value.tzinfo)))


def _pandas_dtype(dtype: Any) -> bytes:
    np = sys.modules["numpy"]
    if isinstance(dtype, np.dtype):
        return _enc_dtype(dtype)
    if type(dtype).__name__ == "CategoricalDtype":
        return _record("category", _enc(dtype.categories), _enc(dtype.ordered))
    text = repr(dtype)
    if " at 0x" in text:
        raise Unhashable(f"cannot hash pandas dtype {_type_name(type(dtype))} stably")
    return _record("dtype", _enc(_type_name(type(dtype))), _enc(text))


def _pandas_values(obj: Any) -> bytes:
    """Content of a Series or Index: exact bytes for numpy dtypes, elements for objects."""
    np = sys.modules["numpy"]
    if obj.dtype == object:
        return _seq(b"l", obj.tolist())
    if isinstance(obj.dtype, np.dtype):
        return _enc(obj.to_numpy())
    pd = sys.modules["pandas"]
    if isinstance(obj, pd.Index):
        hashes = pd.util.hash_pandas_object(obj)
    else:
        hashes = pd.util.hash_pandas_object(obj, index=False)
    return _enc(hashes.to_numpy().tobytes())


def _enc_index(index: Any) -> bytes:
    head = (_enc(_type_name(type(index))), _enc(list(index.names)))
    if hasattr(index, "levels"):  # MultiIndex
        return _record("MultiIndex", *head, _seq(b"l", index.levels), _seq(b"l", index.codes))
    return _record("Index", *head, _pandas_dtype(index.dtype), _pandas_values(index))


def _enc_series(series: Any) -> bytes:
    parts = (_enc(series.name), _pandas_dtype(series.dtype), _enc(series.index))
    return _record("Series", *parts, _pandas_values(series), _enc(series.attrs))


def _enc_frame(frame: Any) -> bytes:
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    body = [_pandas_dtype(c.dtype) + _pandas_values(c) for c in columns]
    head = (_enc(frame.columns), _enc(frame.index), _enc(frame.attrs))
    return _record("DataFrame", *head, _join(b"l", body))


_LAZY.update(numpy=_register_numpy, pandas=_register_pandas)
