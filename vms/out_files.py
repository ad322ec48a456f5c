"""Files the CLI writes for a person (a court package, an audit export, a monthly
report) when the destination fails: :func:`person_output` is
:func:`vms.file_modes.private_output` (whole or not at all, private, never through a
planted name) whose OS errors become ours, naming the file and what the OS said: a full
disk is ``insufficient_storage`` (exit status 9, one line, no traceback), anything else
``unavailable``; the temporary file is removed either way. And :func:`storage_full`,
what the web app and the CLI say when a disk fills where no check expected it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vms.db.engine import is_database_full
from vms.errors import InsufficientStorage, Unavailable, VMSError
from vms.file_modes import private_output
from vms.store import is_disk_full


def storage_full(exc: BaseException) -> InsufficientStorage | None:
    """Our error for a full disk met where no check expected it (an ``OSError`` ENOSPC
    or EDQUOT, e.g. a full inode table; the database saying its disk is full), or None
    for any other error. The web app answers it 507, the CLI exits 9 with one line."""
    if isinstance(exc, OSError) and is_disk_full(exc):
        return InsufficientStorage(f"storage is full ({exc.strerror}): free space and try again")
    if is_database_full(exc):
        return InsufficientStorage("the database's disk is full: free space and try again")
    return None


def write_error(out: Path, exc: OSError) -> VMSError:
    """Our error for ``exc``, met while writing ``out``."""
    message = f"{out}: {exc.strerror or exc}; nothing was written"
    if is_disk_full(exc):
        return InsufficientStorage(message)
    return Unavailable(message)


@contextlib.contextmanager
def person_output(out: Path) -> Iterator[BinaryIO]:
    """:func:`~vms.file_modes.private_output` for ``out``, its OS errors ours."""
    try:
        with private_output(out) as f:
            yield f
    except OSError as exc:
        raise write_error(out, exc) from None
