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


def require_unchanged(
    path: Path, before: os.stat_result, copied: int, name: str | None = None
) -> None:
    """Refuse a file that changed while it was being ingested (a device still writing);
    ``name``: the file's name in the message (default: the path's)."""
    after = path.stat()
    same = (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    if not same or after.st_size != copied:
        raise Conflict(
            f"{name or path.name} changed while it was being ingested "
            f"({before.st_size} -> {after.st_size} bytes); try again once it is complete"
        )


class PipelinedHash:
    """SHA-256 of a stream of buffers, computed in a named thread.

    The copy loop takes a free buffer, fills and writes it, then submits it; the hash
    thread updates the digest and hands the buffer back. A few buffers in rotation bound
    the memory (``BUFFERS`` x buffer size).

    With ``part_bytes`` (the S3 backend's part size) a second thread also computes the
    SHA-256 of every ``part_bytes`` slice from the same buffers, on the other core while
    the first hashes the next buffer: the multipart upload then sends these as the
    parts' checksums, so the server verifies each part against the very bytes the
    object's name was computed from, and the upload hashes nothing again
    (docs/design/storage.md, "S3 backend").
    """

    BUFFERS = 8

    def __init__(self, buffer_bytes: int, part_bytes: int | None = None) -> None:
        self._digest = hashlib.sha256()
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(self.BUFFERS):
            self._free.put(bytearray(buffer_bytes))
        self._work: queue.SimpleQueue[tuple[bytes | bytearray, int] | None] = queue.SimpleQueue()
        self._parts: PartHashes | None = None
        self._part_work: queue.SimpleQueue[tuple[bytes | bytearray, int] | None] | None = None
        self._part_thread: threading.Thread | None = None
        if part_bytes is not None:
            self._parts = PartHashes(part_bytes)
            self._part_work = queue.SimpleQueue()
            self._part_thread = threading.Thread(
                target=self._run_parts, name="ingest-sha256-parts", daemon=True
            )
            self._part_thread.start()
        self._thread = threading.Thread(target=self._run, name="ingest-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            data, n = item
            self._digest.update(memoryview(data)[:n])
            if self._part_work is not None:
                self._part_work.put(item)  # the parts thread frees it
            elif isinstance(data, bytearray):
                self._free.put(data)
        if self._part_work is not None:
            self._part_work.put(None)

    def _run_parts(self) -> None:
        assert self._part_work is not None and self._parts is not None
        while (item := self._part_work.get()) is not None:
            data, n = item
            self._parts.update(memoryview(data)[:n])
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
        if self._part_thread is not None:
            self._part_thread.join()
        return self._digest.hexdigest()

    @property
    def parts(self) -> tuple[bytes, ...] | None:
        """The SHA-256 digests of the ``part_bytes`` slices (after :meth:`finish`), or
        None without ``part_bytes``."""
        return None if self._parts is None else self._parts.finish()


class PartHashes:
    """SHA-256 of each consecutive ``part_bytes`` slice of a stream fed in pieces of any
    size (the checksums of a multipart upload's parts)."""

    def __init__(self, part_bytes: int) -> None:
        if part_bytes <= 0:
            raise ValueError(f"part size {part_bytes}")
        self.part_bytes = part_bytes
        self._done: list[bytes] = []
        self._current = hashlib.sha256()
        self._filled = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            take = min(len(view), self.part_bytes - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.part_bytes:
                self._done.append(self._current.digest())
                self._current, self._filled = hashlib.sha256(), 0

    def finish(self) -> tuple[bytes, ...]:
        tail = (self._current.copy().digest(),) if self._filled else ()
        return (*self._done, *tail)
