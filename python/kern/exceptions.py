"""The exceptions kern raises. Every one is a :class:`KernError`."""

from kern._kern import (
    ConflictError,
    DatabaseError,
    DefinitionError,
    KernError,
    NoDatabaseError,
    RunNotFoundError,
    ShuttingDownError,
)

__all__ = [
    "ConflictError",
    "DatabaseError",
    "DefinitionError",
    "KernError",
    "NoDatabaseError",
    "RunNotFoundError",
    "ShuttingDownError",
]
