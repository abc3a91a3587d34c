"""``AgentOS``: serve Python-defined agents, teams and workflows over Agno's AgentOS HTTP API.

The server is Kern's own (the Rust ``kern serve`` server, started in this process over the
components defined here): every AgentOS route, the four execution modes, SSE with resume from
any ``event_index``, the WebSocket, sessions. Agno's clients (``agno.client.AgentOSClient``,
Agent UI) work against it unchanged.

Differences from Agno: there is no FastAPI application to extend; :meth:`AgentOS.get_app`
returns the AgentOS itself (accepted by :meth:`serve`), and to add routes of your own, serve
them from another process or mount Kern's router in Rust (``kern_server::AgentOs::router``).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, List, Optional, Sequence

from kern import _kern, _runtime


class AgentOS:
    """Serves ``agents``, ``teams`` and ``workflows`` over HTTP.

    Runs are stored in ``db`` (default: the first database among the components). A security
    key (``security_key``, else ``OS_SECURITY_KEY``) makes every route but ``/health`` require
    ``Authorization: Bearer <key>``.
    """

    def __init__(
        self,
        agents: Optional[Sequence[Any]] = None,
        teams: Optional[Sequence[Any]] = None,
        workflows: Optional[Sequence[Any]] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        id: Optional[str] = None,
        os_id: Optional[str] = None,
        db: Any = None,
        security_key: Optional[str] = None,
        shutdown_grace: float = 10.0,
        **agno_options: Any,
    ) -> None:
        self.agents: List[Any] = list(agents or [])
        self.teams: List[Any] = list(teams or [])
        self.workflows: List[Any] = list(workflows or [])
        for kind, items in (
            ("agent", self.agents),
            ("team", self.teams),
            ("workflow", self.workflows),
        ):
            for item in items:
                if getattr(item, "_kind", None) != kind:
                    raise TypeError(
                        f"AgentOS: {kind}s= takes {kind.capitalize()} objects, got {item!r}"
                    )
        if not (self.agents or self.teams or self.workflows):
            raise ValueError("AgentOS needs at least one agent, team or workflow")
        self.name = name
        self.description = description
        self.os_id = os_id or id
        self.db = db or next(
            (
                c.db
                for c in (*self.agents, *self.teams, *self.workflows)
                if getattr(c, "db", None) is not None
            ),
            None,
        )
        if self.db is None:
            raise ValueError(
                "AgentOS needs a database for its runs: pass db=SqliteDb(...) or give one of its agents, teams or workflows a db"
            )
        self.security_key = security_key or os.environ.get("OS_SECURITY_KEY")
        self.shutdown_grace = shutdown_grace
        self.agno_options = agno_options
        self._server: Optional[_kern.Server] = None

    def get_app(self) -> AgentOS:
        """The application to serve: with Kern, the AgentOS itself."""
        return self

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Starts serving in the background (port 0: any free one); returns the base URL.
        (**kern**: for tests and programs that do other work meanwhile.)"""
        if self._server is not None and self._server.is_running():
            return self._server.url
        engine = self.db._engine()
        components = [c._component() for c in (*self.agents, *self.teams, *self.workflows)]
        self._server = _kern.Server.start(
            engine,
            components,
            host,
            int(port),
            {
                "name": self.name,
                "description": self.description,
                "os_id": self.os_id,
                "security_key": self.security_key,
                "shutdown_grace": self.shutdown_grace,
            },
        )
        return self._server.url

    def stop(self) -> None:
        """Stops serving: running runs get the shutdown grace, the rest are handed back."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            # The server stopped the database's engine: the next use opens a fresh one.
            _runtime.forget_engine(self.db.url)

    @property
    def url(self) -> Optional[str]:
        return None if self._server is None else self._server.url

    def serve(
        self,
        app: Any = None,
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        reload: bool = False,
        **agno_options: Any,
    ) -> None:
        """Serves until Ctrl-C or SIGTERM, then stops gracefully. Defaults: ``AGENT_OS_HOST``
        (else ``localhost``) and ``AGENT_OS_PORT`` (else 7777). ``app`` and ``reload`` are
        accepted for Agno compatibility (there is nothing to reload)."""
        host = host or os.environ.get("AGENT_OS_HOST", "localhost")
        port = int(port if port is not None else os.environ.get("AGENT_OS_PORT", "7777"))
        url = self.start(host, port)
        print(f"AgentOS (kern) serving on {url}", flush=True)
        stopped = threading.Event()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            while not stopped.wait(0.25):
                if self._server is None or not self._server.is_running():
                    break
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self.stop()
