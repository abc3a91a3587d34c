"""The exceptions kern raises. Every one is a :class:`KernError`."""

from kern._kern import (
    ConflictError,
    DatabaseError,
    DefinitionError,
    KernError,
    NoDatabaseError,
    QueueFullError,
    RunNotFoundError,
    ShuttingDownError,
)


def _arg(i: int, default=None):
    return property(lambda self: self.args[i] if len(self.args) > i else default)


# QueueFullError carries (message, retry_after, scope, pending, limit) in its args.
QueueFullError.__str__ = lambda self: str(self.args[0]) if self.args else ""  # type: ignore[method-assign]
QueueFullError.retry_after = _arg(1)  # type: ignore[attr-defined]
QueueFullError.scope = _arg(2)  # type: ignore[attr-defined]
QueueFullError.pending = _arg(3)  # type: ignore[attr-defined]
QueueFullError.limit = _arg(4)  # type: ignore[attr-defined]

__all__ = [
    "ConflictError",
    "DatabaseError",
    "DefinitionError",
    "KernError",
    "NoDatabaseError",
    "QueueFullError",
    "RunNotFoundError",
    "ShuttingDownError",
]
