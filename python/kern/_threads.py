"""The threads that run synchronous user code (sync steps, tools, evaluators).

They are Python's own daemon threads, not the engine's: a program may exit (or be stopped
with SIGTERM) while a synchronous step is still running, and the interpreter then finalizes
under it. CPython ends daemon threads that touch the interpreter after that point, which is
safe for threads it created and fatal for native ones (a Rust thread re-entering a finalizing
interpreter crashes the process). A stop hands the runs back to the queue first, so the work
those threads were doing is redone elsewhere; nothing waits for them.

The pool grows on demand (a call never waits for another to finish, as steps may block for
minutes) and a thread idle for ``IDLE_SECONDS`` ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from typing import Any, Callable, Optional, Tuple

IDLE_SECONDS = 10.0

_Job = Tuple[concurrent.futures.Future, Callable[..., Any], Tuple[Any, ...]]


class DaemonPool(concurrent.futures.Executor):
    """An executor of daemon threads, one per concurrent call, kept a while when idle."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Optional[_Job]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._count = 0
        self._shutdown = False

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future:
        if kwargs:
            raise TypeError("DaemonPool.submit takes positional arguments only")
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("the pool is shut down")
            self._jobs.put((future, fn, args))
            if self._idle > 0:
                self._idle -= 1
            else:
                self._count += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}-{self._count}", daemon=True
                ).start()
        return future

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # Taken as idle by a submit meanwhile: a job is on its way.
                    if self._idle == 0:
                        continue
                    self._idle -= 1
                    self._count -= 1
                return
            if job is None:
                return
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:  # handed to the awaiting side
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del job, future, fn, args
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            for _ in range(self._count):
                self._jobs.put(None)


_pool = DaemonPool("kern-sync")


async def call_in_thread(func: Callable[[Any], Any], arg: Any) -> Any:
    """``func(arg)`` on a daemon thread, awaited on kern's loop (the engine calls this)."""
    return await asyncio.wrap_future(_pool.submit(func, arg))
