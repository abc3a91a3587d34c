"""PostgreSQL: for several processes or machines sharing the work (any replica serves any
run)."""

from __future__ import annotations

import re
from typing import Any, Optional

from kern.db.base import BaseDb

_SQLALCHEMY_DRIVER = re.compile(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?://", re.IGNORECASE)


def normalize_url(url: str) -> str:
    """``postgresql+psycopg://u:p@host/db`` (SQLAlchemy style, as Agno takes it) →
    ``postgres://u:p@host/db``."""
    if not _SQLALCHEMY_DRIVER.match(url):
        raise ValueError(
            f"PostgresDb: expected a postgres:// or postgresql+driver:// URL, got {url!r}"
        )
    return _SQLALCHEMY_DRIVER.sub("postgres://", url, count=1)


class PostgresDb(BaseDb):
    """A PostgreSQL database, e.g. ``PostgresDb("postgresql+psycopg://ai:ai@localhost:5532/ai")``.

    kern creates its tables (prefixed ``kern_``) on first use. Agno's table arguments
    (``session_table``, ``db_schema``, …) are accepted and ignored.
    """

    def __init__(
        self,
        db_url: Optional[str] = None,
        session_table: Optional[str] = None,
        db_schema: Optional[str] = None,
        **agno_options: Any,
    ) -> None:
        if db_url is None:
            raise ValueError(
                "PostgresDb needs db_url, e.g. postgresql+psycopg://user:pass@localhost:5432/db"
            )
        self.db_url = db_url
        super().__init__(
            normalize_url(db_url), session_table=session_table, db_schema=db_schema, **agno_options
        )
