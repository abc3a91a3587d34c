"""The process-wide parts of kern: the engines (one per database), kern's own event loop
for async user code, and the orderly stop at interpreter exit.

- One :class:`kern._kern.Engine` per database URL per process, opened on first use and
  shared by every agent, team and workflow that names the same database. Opening one starts
  an executor: it claims this database's pending runs of the components registered in this
  process, including runs a previous process left unfinished (that is how a restarted script
  resumes them).
- Async user code (``async def`` steps, tools, evaluators) runs on an event loop kern owns, on
  a daemon thread: background and recovered runs have no caller loop, and the caller's loop
  may be closed (``asyncio.run`` returned) while its runs go on.
- At interpreter exit every engine stops: runs still executing are handed back to the queue
  (a stop is not a failure); they resume when a process with the same components opens the
  database again. ``KERN_SHUTDOWN_GRACE`` (seconds, default 0) lets them run a little longer
  first.
- Engines read two settings from the environment when they open: ``KERN_LEASE_SECONDS`` (how
  long a crashed process keeps its runs claimed before another resumes them; default 15) and
  ``KERN_MAX_CONCURRENT_RUNS`` (runs this process executes at once; default 1024), and the
  queue's bounds ``KERN_MAX_PENDING`` / ``KERN_MAX_PENDING_PER_COMPONENT`` (unset: unbounded;
  a background start beyond them raises ``kern.exceptions.QueueFullError``). A malformed value
  raises ``ValueError`` naming the variable instead of being ignored.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from typing import Dict, Optional

from kern import _kern

_lock = threading.Lock()
_engines: Dict[str, _kern.Engine] = {}
_loop: Optional[asyncio.AbstractEventLoop] = None
_loop_thread: Optional[threading.Thread] = None
_pid = os.getpid()
_stopped = False

_kern._init_logging()


def _check_process() -> None:
    if os.getpid() != _pid:
        raise _kern.KernError(
            "kern was imported in the parent of this forked process, and its engine threads "
            "do not survive fork(): import kern in the child instead (or use the 'spawn' "
            "multiprocessing start method)"
        )


def user_loop() -> asyncio.AbstractEventLoop:
    """The event loop that runs async user code, started on first use."""
    global _loop, _loop_thread
    _check_process()
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                # On the loop's own thread: the engine's wake-up channel into it.
                _kern._set_user_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="kern-asyncio", daemon=True)
            thread.start()
            ready.wait()
            _loop, _loop_thread = loop, thread
        return _loop


def engine(url: str) -> _kern.Engine:
    """The engine of the database at ``url``, opened (and its executor started) on first use."""
    _check_process()
    if _stopped:
        raise _kern.ShuttingDownError("kern is shutting down (the interpreter is exiting)")
    user_loop()
    with _lock:
        found = _engines.get(url)
        if found is None:
            found = _kern.Engine.open(url, _engine_settings())
            _engines[url] = found
        return found


def _engine_settings() -> Dict[str, object]:
    settings: Dict[str, object] = {}
    lease = os.environ.get("KERN_LEASE_SECONDS")
    if lease:
        try:
            settings["lease"] = float(lease)
        except ValueError:
            raise ValueError(
                f"KERN_LEASE_SECONDS must be a number of seconds, got {lease!r}"
            ) from None
    for name, key in (
        ("KERN_MAX_PENDING", "max_pending"),
        ("KERN_MAX_PENDING_PER_COMPONENT", "max_pending_per_component"),
    ):
        value = os.environ.get(name)
        if value:
            try:
                settings[key] = int(value)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {value!r}") from None
            if settings[key] < 1:  # type: ignore[operator]
                raise ValueError(f"{name} must be at least 1, got {value!r}")
    limit = os.environ.get("KERN_MAX_CONCURRENT_RUNS")
    if limit:
        try:
            settings["max_concurrent_runs"] = int(limit)
        except ValueError:
            raise ValueError(
                f"KERN_MAX_CONCURRENT_RUNS must be a whole number, got {limit!r}"
            ) from None
        if settings["max_concurrent_runs"] < 1:  # type: ignore[operator]
            raise ValueError(f"KERN_MAX_CONCURRENT_RUNS must be at least 1, got {limit!r}")
    return settings


def close_engine(url: str, grace: float = 0.0) -> None:
    """Stops the engine of ``url`` in this process (its running runs are handed back) and
    forgets it; the next use opens it again. For tests and programs that open many databases."""
    with _lock:
        found = _engines.pop(url, None)
    if found is not None:
        found.shutdown(grace)


def forget_engine(url: str) -> None:
    """Forgets the engine of ``url`` (already stopped elsewhere, e.g. by an AgentOS server)."""
    with _lock:
        _engines.pop(url, None)


def shutdown(grace: Optional[float] = None) -> None:
    """Stops every engine of this process: running runs get ``grace`` seconds (default
    ``KERN_SHUTDOWN_GRACE``, else 0), then are handed back to the queue, never failed. Called at
    interpreter exit; safe to call more than once."""
    global _stopped
    if os.getpid() != _pid:
        return
    if grace is None:
        try:
            grace = float(os.environ.get("KERN_SHUTDOWN_GRACE", "0"))
        except ValueError:
            grace = 0.0
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
        _stopped = True
    for e in engines:
        e.shutdown(grace)


def _at_exit() -> None:
    shutdown()
    loop = _loop
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)


atexit.register(_at_exit)
