"""The asyncio loop that all ONVIF traffic of a process runs on.

onvif-zeep-async is asynchronous and keeps aiohttp sessions bound to the loop that made
them, while our services are called from Flask threads and jobs. So one named daemon
thread owns one loop; synchronous callers submit coroutines and wait with a bound.
Nothing starts at import: :class:`OnvifRuntime` starts its thread on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from vms.errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class OnvifRuntime:
    """One event loop in one daemon thread named ``name``; started lazily."""

    def __init__(self, name: str = "onvif-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, starting the thread if needed."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                # Cancelling a task that awaits asyncio.to_thread leaves its thread
                # running: wait for it, so that no database call outlives stop() (it
                # would return its connection to a pool already disposed, and the
                # connection would be left open for the garbage collector).
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        thread = threading.Thread(target=run, name=self.name, daemon=True)
        thread.start()
        if not ready.wait(10.0):
            raise RuntimeError(f"ONVIF loop thread {self.name} did not start")
        self._loop, self._thread = loop, thread

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and return its result; ``timeout`` bounds the wait.

        The coroutines given here already carry their own (adapter) timeout; this bound
        is a backstop so a caller thread can never hang on a stuck loop.
        """
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("OnvifRuntime.run called from its own loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Unavailable(
                f"the ONVIF loop did not finish a call within {timeout:g} s"
            ) from None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` without waiting (the pose tracker's poll loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and join the thread (bounded); idempotent."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop, self._thread = None, None
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("ONVIF loop thread %s did not stop within %.1f s", self.name, timeout)
