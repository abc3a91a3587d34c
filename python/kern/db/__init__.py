"""Databases: :class:`SqliteDb` (embedded, the default) and :class:`PostgresDb` (several
processes or machines sharing the work)."""

from kern.db.base import BaseDb

__all__ = ["BaseDb"]
