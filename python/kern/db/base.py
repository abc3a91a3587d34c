"""What every kern database handle has in common."""

from __future__ import annotations

from typing import Any, Dict


class BaseDb:
    """A database for runs, events and sessions. kern keeps everything in its own tables;
    Agno's table-naming arguments (``session_table``, ``memory_table``, …) are accepted and
    kept on the object, so that programs written for Agno run unchanged, but they do not
    change where kern stores things."""

    #: The URL kern opens (a SQLite path or a ``postgres://`` URL).
    url: str

    def __init__(self, url: str, **agno_options: Any) -> None:
        self.url = url
        self.agno_options: Dict[str, Any] = {k: v for k, v in agno_options.items() if v is not None}

    def _engine(self):
        """The engine of this database in this process (opened on first use)."""
        from kern import _runtime

        return _runtime.engine(self.url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseDb) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)
