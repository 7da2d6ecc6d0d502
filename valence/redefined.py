"""Say so when a redispatch runs stored code that this session has since redefined.

A redispatch runs the code stored with the parent dispatch: that is what makes
it reproducible. A notebook user who edits an electron and redispatches may
expect the new code, so the first time a redispatch uses the stored version of
an electron that ``__main__`` (the notebook or script) now defines differently,
a :class:`~valence.errors.RedefinedElectronWarning` names it and says how to
run the new code.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

from valence import serialize
from valence.errors import RedefinedElectronWarning
from valence.workflow.graph import NodeKind

__all__ = ["warn_if_redefined"]

log = logging.getLogger("valence")
_warned: set[tuple[str, str]] = set()  # (name, live fingerprint): said once per process


def _live_electrons() -> dict[str, Any]:
    """Electrons defined at the top level of ``__main__``, by function name."""
    from valence.workflow.electron import Electron

    main = sys.modules.get("__main__")
    found = {}
    for value in list(vars(main).values()) if main is not None else []:
        if isinstance(value, Electron) and not value.is_sublattice:
            found[value.function.__name__] = value
    return found


def warn_if_redefined(backend: Any, dispatch_id: str, replaced: dict[str, Any]) -> None:
    """Warn once per electron whose stored code differs from ``__main__``'s definition."""
    live = {k: v for k, v in _live_electrons().items() if k not in replaced}
    if not live:
        return
    from valence.fingerprint.code import code_fingerprint

    digests = {
        (n.name, n.function_digest)
        for n in backend.get_nodes(dispatch_id)
        if n.kind == NodeKind.ELECTRON and n.name in live and n.function_digest
    }
    for name, digest in sorted(digests):
        electron = live[name]
        if electron.metadata.get("version") is not None:
            continue  # pinned: the author says the versions are equivalent
        try:
            stored = serialize.loads(backend.get_blob(digest))
            new = code_fingerprint(electron.function)
            if code_fingerprint(stored) == new or (name, new) in _warned:
                continue
        except Exception:  # cannot compare (e.g. unhashable): nothing reliable to say
            log.debug("cannot compare electron %r with its stored code", name, exc_info=True)
            continue
        _warned.add((name, new))
        warnings.warn(
            f"this redispatch runs the stored code of electron {name!r}, not the version "
            f"defined in this session; to run the new code, pass "
            f"replace_electrons={{{name!r}: {name}}} (with reuse_previous_results=True "
            "everything it does not affect is still reused), or dispatch the workflow again "
            "with ct.dispatch(workflow, reuse_previous_results=True)(...) to reuse any "
            "matching result in the store",
            RedefinedElectronWarning,
            stacklevel=3,
        )
