"""Every error valence raises on purpose derives from :class:`ValenceError`.

Messages say what is wrong and how to fix it. The tree::

    ValenceError
    ├── TracingError (also TypeError)      forbidden operation on a task output inside a lattice
    ├── ConfigError (also ValueError)      a bad config key or value, an unreadable config file
    ├── UnsupportedOptionError (also TypeError)  an option valence does not support was given
    ├── SerializationError                 a value or function cannot be pickled / unpickled
    ├── StoreError
    │   ├── SchemaVersionError             the database was written by a newer valence
    │   ├── DispatchNotFoundError          (also KeyError) unknown dispatch id
    │   ├── NodeNotFoundError              (also KeyError) unknown node id
    │   ├── StoreDamagedError              the database file is damaged or not a database
    │   ├── StoreWriteError                the store refuses writes (disk full, I/O error)
    │   ├── LeaseLostError                 this dispatcher lost its lease on a shared store
    │   └── BlobMissingError               a stored value is gone from the blob store
    │       └── BlobCorruptError           a stored value no longer matches its digest
    ├── ExecutorError
    │   ├── UnknownExecutorError           an executor name with no registered plugin
    │   ├── WorkerDiedError                the worker process running a task died
    │   ├── DependencyError                a task's deps_bash, deps_pip or hook failed
    │   └── FileTransferError              a task's file transfer (ct.fs) failed
    ├── ResumeError                        a stored dispatch no longer traces to its graph
    ├── LeptonError                        a lepton's foreign code failed or is declared badly
    ├── TaskFailedError                    a dispatch ended FAILED (raised only on request)
    ├── DispatchTimeoutError (TimeoutError) get_result(wait=True, timeout=...) ran out
    ├── MissingExtraError (ImportError)    a feature needs an optional extra (valence.extras)
    ├── ServerError                        the valence server refused a request
    │   └── ServerUnavailableError (ConnectionError)  no server answers at the address
    └── RedispatchError
        ├── ReplacementError               replace_electrons names/signatures do not fit
        └── CodeUnavailableError           stored code imports a module this process lacks

    RedefinedElectronWarning (UserWarning) a redispatch runs stored code this session redefined
"""

from __future__ import annotations


class ValenceError(Exception):
    """Root of every error raised by valence."""


class TracingError(ValenceError, TypeError):
    """An operation on a task output that cannot be recorded in a static graph."""


class ConfigError(ValenceError, ValueError):
    """A bad config key, a value of the wrong type, or an unreadable config file."""


class UnsupportedOptionError(ValenceError, TypeError):
    """An option that valence does not support (it is never silently ignored)."""


class SerializationError(ValenceError):
    """A value or function cannot be serialized or deserialized."""


class StoreError(ValenceError):
    """The store cannot do what was asked."""


class SchemaVersionError(StoreError):
    """The database schema is newer than this valence understands."""


class DispatchNotFoundError(StoreError, KeyError):
    """No dispatch has the given id."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "dispatch not found"


class NodeNotFoundError(StoreError, KeyError):
    """A dispatch has no node with the given id."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "node not found"


class StoreDamagedError(StoreError):
    """The database file is damaged, empty, or not a valence database."""


class StoreWriteError(StoreError):
    """The store cannot be written (a full disk, an I/O error, a read-only file system)."""


class LeaseLostError(StoreError):
    """This process's dispatcher could not renew its lease on a shared store."""


class BlobMissingError(StoreError):
    """A value referenced by the store is missing from the blob store."""


class BlobCorruptError(BlobMissingError):
    """A stored value's bytes no longer match its sha256 digest (damaged on disk)."""


class ExecutorError(ValenceError):
    """An executor cannot run a task."""


class UnknownExecutorError(ExecutorError, ValueError):
    """No executor is registered under the given name."""


class WorkerDiedError(ExecutorError):
    """The worker process running a task died before reporting back."""


class DependencyError(ExecutorError):
    """A task's deps_bash command, deps_pip install or call_before/after hook failed."""


class ResumeError(ValenceError):
    """The stored dispatch cannot be rebuilt faithfully."""


class LeptonError(ValenceError):
    """A lepton's foreign code failed, or the lepton is declared inconsistently."""


class TaskFailedError(ValenceError):
    """A dispatch ended FAILED."""


class DispatchTimeoutError(ValenceError, TimeoutError):
    """Waiting for a dispatch took longer than the caller allowed."""


class MissingExtraError(ValenceError, ImportError):
    """A feature needs an optional extra that is not installed."""


class RedefinedElectronWarning(UserWarning):
    """A redispatch runs stored code for an electron this session has redefined."""


class ServerError(ValenceError):
    """The valence server refused a request (bad token, too large, conflict, ...)."""


class ServerUnavailableError(ServerError, ConnectionError):
    """No valence server answers at the configured address."""


class RedispatchError(ValenceError):
    """A redispatch request cannot be honoured."""


class ReplacementError(RedispatchError, ValueError):
    """``replace_electrons`` names an unknown task or a mismatched signature."""


class CodeUnavailableError(RedispatchError, ImportError):
    """Stored code needs a module this process cannot import."""


class FileTransferError(ExecutorError):
    """A file transfer of a task (``@ct.electron(files=[...])``) failed where it ran."""
