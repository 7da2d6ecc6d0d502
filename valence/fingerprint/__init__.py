"""Stable fingerprints of code and values: the only inputs of a reuse decision.

``hash_struct(struct)``
    sha256 of a type-tagged canonical encoding of plain nested data (None, bool, int, float,
    str, bytes, list, tuple, dict with keys sorted by their encoding). Node keys are built with it.
``value_token(value)``
    Token of a runtime value, dispatched on its type (``functools.singledispatch``; the numpy and
    pandas handlers are registered the first time a value of theirs is seen, never imported).
``code_fingerprint(fn, version=None)``
    Fingerprint of a function's compiled code plus everything it reads: defaults, closure cells,
    modules it imports and, recursively, the globals it loads (helpers, classes, constants).
``user_imports()``
    Context manager collecting the user modules that the fingerprints computed inside imported
    in a function body: found on ``sys.path``, not in the stored code (a redispatch re-checks).
``Unhashable``
    Raised when a value has no stable token. The caller marks the node not reusable with
    ``exc.reason``. No fallback: never ``id()``, a repr with addresses, random or a constant.

Policy: a miss costs a re-run, a false hit returns a wrong result, so every doubt is a miss.

- Tokens are type-tagged: ``1``, ``1.0``, ``True``, ``"1"``, ``[1]`` and ``(1,)`` all differ;
  floats are hashed by ``float.hex`` (``-0.0 != 0.0``), a NaN by its bits (sign, payload).
  Dicts keep their order in ``value_token`` (order can change a task's output); sets are sorted.
- A subclass is never hashed as its base (``IntEnum`` members, ``np.float64``, ``pd.Timestamp``
  and namedtuples have their own handlers; a ``str`` or ``dict`` subclass is ``Unhashable``).
- Code is hashed from the code object, not the source: instructions with their constants
  resolved, names, flags and exception table; never the file, line numbers or unreferenced
  constants (the docstring). Comments, docstrings and moved code keep the fingerprint, and a
  function loaded by value from a pickle fingerprints like the original.
- User code (``__main__``, files outside site-packages/dist-packages and the stdlib, whatever
  distribution claims their name, code loaded by value, lambdas and ``<locals>``) is hashed by
  content, following the attributes a function uses on user modules; objects importable from
  installed modules are hashed by qualified name and distribution version. A function's
  ``__dict__``, ``__annotations__``, defaults and cells count; a ``singledispatch`` function is
  its registry. Code reaching names dynamically (``getattr``/``vars``/``__dict__``) hashes the
  user modules it reads whole; ``globals()``/``eval``/``exec`` its own module too. Not seen:
  file contents behind a ``Path`` or a string.
- An instance of a class without a handler is hashed as its class fingerprint plus its
  ``__dict__`` and slots, only when no class in its MRO can hold hidden C-level state (each is
  ``object``, a user or dataclass class, or adds nothing: ``__slots__ = ()``). ``__eq__`` does not
  matter: same class code and same state behave the same. Anything else needs a
  ``__valence_token__()`` method on its type (whose owner then answers for its stability).
- Function and class fingerprints are cached per object; a cached one is used only after
  checking that every binding it read (globals, defaults, cells, ``__code__``, function and
  class members, imported modules) still holds the same object and that every mutable value it
  read has the same token.

Layout (each module imports only the ones above it; ``code``, ``classes`` and ``arrays``
register their handlers on ``values._encode`` when imported, here):

- ``reasons``: ``Unhashable`` and the type names its messages use.
- ``encoding``: ``hash_struct`` and the tagged canonical encoding; ``hash_flat`` for keys.
- ``origin``: user or installed code; distributions, versions, editable installs.
- ``values``: ``value_token`` and its handlers for builtins, containers, stdlib types,
  installed callables, modules and instances of plain classes.
- ``arrays``: numpy and pandas handlers, registered on first sight.
- ``cache``: the validated, cycle-safe memo of function and class fingerprints.
- ``code``: ``code_fingerprint``: code objects, defaults, closures, globals, imports.
- ``classes``: class fingerprints.
"""

from __future__ import annotations

from valence.fingerprint import arrays, classes  # noqa: F401  (they register handlers)
from valence.fingerprint.cache import user_imports
from valence.fingerprint.code import code_fingerprint
from valence.fingerprint.encoding import hash_flat, hash_struct
from valence.fingerprint.reasons import Unhashable
from valence.fingerprint.values import value_token

__all__ = [
    "Unhashable",
    "code_fingerprint",
    "hash_flat",
    "hash_struct",
    "user_imports",
    "value_token",
]

# Named as before the split: code that uses these is fingerprinted by module + qualified name,
# and ``valence.fingerprint.Unhashable`` is what tracebacks and pickles show.
for _public in (Unhashable, code_fingerprint, hash_flat, hash_struct, value_token):
    _public.__module__ = __name__
del _public
