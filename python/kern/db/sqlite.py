"""SQLite: one file, nothing to install; the default."""

from __future__ import annotations

import os
from typing import Any, Optional

from kern.db.base import BaseDb


class SqliteDb(BaseDb):
    """A SQLite database file (created, with its directory, on first use).

    ``db_file`` is the file's path; ``db_url`` (``sqlite:///path``) is accepted too. Without
    either, ``kern.db`` in the working directory. Several processes may share the file (one
    machine); for several machines use :class:`~kern.db.postgres.PostgresDb`.
    """

    def __init__(
        self,
        db_file: Optional[str] = None,
        db_url: Optional[str] = None,
        session_table: Optional[str] = None,
        **agno_options: Any,
    ) -> None:
        if db_file is None and db_url is not None:
            for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
                if db_url.startswith(prefix):
                    db_file = db_url[len(prefix) :]
                    break
            else:
                raise ValueError(
                    f"SqliteDb: db_url must look like sqlite:///path/to/file.db, got {db_url!r}"
                )
        path = os.fspath(db_file) if db_file is not None else "kern.db"
        self.db_file = path
        super().__init__(path, session_table=session_table, **agno_options)
