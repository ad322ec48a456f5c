"""The copy-while-hashing machinery of the ingest path (INV-1 step 2): SHA-256 computed in a
second thread while the next buffer is read and written, a named background thread for
the probe of a file at rest, and the check that a file did not change while it was
copied. Used only by :mod:`vms.ingest`."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from vms.errors import Conflict

T = TypeVar("T")


class Background(Generic[T]):
    """Run ``fn()`` in a named thread; :meth:`result` returns or re-raises."""

    def __init__(self, name: str, fn: Callable[[], T]) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name)
        self._thread.start()

    def _run(self, fn: Callable[[], T]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def require_unchanged(path: Path, before: os.stat_result, copied: int) -> None:
    """Refuse a file that changed while it was being ingested (a device still writing)."""
    after = path.stat()
    same = (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    if not same or after.st_size != copied:
        raise Conflict(
            f"{path.name} changed while it was being ingested "
            f"({before.st_size} -> {after.st_size} bytes); try again once it is complete"
        )


class PipelinedHash:
    """SHA-256 of a stream of buffers, computed in a named thread.

    The copy loop takes a free buffer, fills and writes it, then submits it; the hash
    thread updates the digest and hands the buffer back. A few buffers in rotation bound
    the memory (``BUFFERS`` x buffer size).
    """

    BUFFERS = 8

    def __init__(self, buffer_bytes: int) -> None:
        self._digest = hashlib.sha256()
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(self.BUFFERS):
            self._free.put(bytearray(buffer_bytes))
        self._work: queue.SimpleQueue[tuple[bytes | bytearray, int] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ingest-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            data, n = item
            self._digest.update(memoryview(data)[:n])
            if isinstance(data, bytearray):
                self._free.put(data)

    def free_buffer(self) -> bytearray:
        return self._free.get()

    def give_back(self, buf: bytearray) -> None:
        self._free.put(buf)

    def submit(self, data: bytes | bytearray, n: int) -> None:
        self._work.put((data, n))

    def finish(self) -> str:
        self._work.put(None)
        self._thread.join()
        return self._digest.hexdigest()
