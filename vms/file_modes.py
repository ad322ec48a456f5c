"""Who may read the VMS's files on its own machine (issue 10, item 12).

The data folder holds evidence, the catalog with password hashes, and the keys that sign
the audit chain and sessions: no other local user may read any of it. So:

- the process creates everything with umask 077 (:func:`restrict_umask`, called when the
  services open), and the places that create files or folders give modes explicitly too:
  folders 0700, files 0600, stored media 0400 (read-only for INV-2, for the owner only);
- at start, :func:`check_data_dir` looks at the data folder, its first-level folders and
  files (the database and its WAL, ``secrets/``, ``media/``, ``uploads/``, ``dock/``) and
  the SQLite file wherever it is; anything readable or writable by group or others is
  reported with its path and mode, and narrowed to the owner when the file is ours.

The media objects themselves are not walked at start (a store holds millions): with the
data folder at 0700 no other user can reach them whatever their mode, and every object
stored from now on is 0400.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vms.errors import FailedPrecondition

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
OBJECT_MODE = 0o400  # INV-2: originals never change; only the VMS's user reads them
UMASK = 0o077
# Permission bits nobody but the owner may have.
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO


def restrict_umask() -> None:
    """Make every file and folder this process creates private to its user."""
    os.umask(UMASK)


@dataclass(frozen=True)
class ModeProblem:
    path: Path
    mode: int  # the permission bits found
    fixed_mode: int | None  # what they were changed to; None: could not change them
    error: str | None = None

    def message(self) -> str:
        kind = "folder" if self.path.is_dir() else "file"
        found = f"{kind} {self.path} had mode {self.mode:04o} (open to other local users)"
        if self.fixed_mode is not None:
            return f"{found}: changed to {self.fixed_mode:04o}"
        return f"{found} and could not be changed ({self.error}): restrict it by hand"


def sqlite_files(database: Path) -> list[Path]:
    """The SQLite database file and the WAL and shared-memory files beside it."""
    return [
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ]


def _candidates(data_dir: Path, extra: Iterable[Path]) -> Iterator[Path]:
    yield data_dir
    try:
        children = sorted(data_dir.iterdir())
    except OSError:
        children = []
    for child in children:
        yield child
        if child.is_dir() and not child.is_symlink():
            try:
                yield from sorted(child.iterdir())
            except OSError:
                continue
    yield from extra


def check_data_dir(
    data_dir: Path, *, extra: Iterable[Path] = (), fix: bool = True
) -> list[ModeProblem]:
    """Paths under ``data_dir`` (two levels) and ``extra`` open to group or others; each
    is narrowed to its owner (``fix``) when this process may: the owner keeps exactly
    the bits it had (a read-only object stays read-only, INV-2)."""
    problems: list[ModeProblem] = []
    seen: set[Path] = set()
    # The folder the VMS uses when ``data_dir`` is a link (to the disk with the evidence);
    # links found inside it are still skipped.
    data_dir = data_dir.resolve()
    for path in _candidates(data_dir, extra):
        if path in seen:
            continue
        seen.add(path)
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) or not (
            stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)
        ):
            continue
        mode = stat.S_IMODE(info.st_mode)
        if not mode & OPEN_BITS:
            continue
        if not fix:
            problems.append(ModeProblem(path, mode, None, "not asked to fix"))
            continue
        narrowed = mode & ~OPEN_BITS
        try:
            path.chmod(narrowed)
        except OSError as exc:
            problems.append(ModeProblem(path, mode, None, exc.strerror or str(exc)))
        else:
            problems.append(ModeProblem(path, mode, narrowed))
    return problems


def require_owned(data_dir: Path) -> None:
    """Refuse a data folder holding what another local user planted: its entries and
    the keys in ``secrets/`` must be the folder owner's (the service user's) or root's.
    One planted while the folder was open to others (made under umask 002) cannot be
    narrowed for good (its owner changes it back) and would be used: their audit key,
    our new keys written into their folder. ``dock/`` is left out: its device folders
    are the stations'."""
    data_dir = data_dir.resolve()
    service = data_dir.stat().st_uid
    paths: list[Path] = []
    for folder in (data_dir, data_dir / "secrets"):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            paths.extend(sorted(p for p in folder.iterdir() if p.name != "dock"))
    for path in paths:
        try:
            owner = path.lstat().st_uid
        except FileNotFoundError:
            continue
        if owner not in (service, 0):
            raise FailedPrecondition(
                f"{path} belongs to uid {owner}, not to the data folder's owner (uid "
                f"{service}) or root: another local user could read or change it; "
                "remove it or give it to the VMS's user"
            )


def secure_data_dir(data_dir: Path, *, extra: Iterable[Path] = ()) -> list[ModeProblem]:
    """At start: umask 077, then :func:`check_data_dir`, each finding logged as a warning."""
    restrict_umask()
    problems = check_data_dir(data_dir, extra=extra)
    for problem in problems:
        log.warning("%s", problem.message())
    return problems


@contextlib.contextmanager
def private_output(out: Path) -> Iterator[BinaryIO]:
    """Write ``out`` (a file an operator named, often in a shared folder) whole or not at
    all and private to this user (0600): through a temporary file of a random name in its
    folder, created exclusively (never a link or a file someone else planted under a name
    they could guess), fsynced, then renamed over ``out`` (a link there is replaced, not
    followed)."""
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
