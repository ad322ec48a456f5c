"""Moving files in the dock folder without ever replacing one (TAG-5: nothing lost).

The dock moves what a device wrote: aside to a hidden name before removing it, into
``rejected/``, and back under its name when it turns out to be another file than the one
examined. Each move is a rename that fails when the target name is taken (Linux
``renameat2(RENAME_NOREPLACE)``; the standard library has no wrapper), so a file put
under the target meanwhile stays, and no moment lies between a check and the move.

A hard link and an unlink did the same before, and still do where the file system does
not offer the flag (EINVAL): the old name is renamed aside before it is unlinked, so a
file put under it after the link is put back, not removed. A link needs more than a rename: with
``fs.protected_hardlinks = 1`` (Debian's default) the kernel refuses (EPERM) to link a
file the process does not own and may not write, which is every file a docking station
running as another user writes (``rsync -a`` as root keeps the camera volume's owner).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

RENAME_NOREPLACE = 1
# A file the dock removes is first renamed to ``<REMOVING><name>`` (hidden: no scan takes
# it; a scan puts back what a killed one left under it, vms/dock.py _put_back).
REMOVING = ".removing."
# The filesystem, or the kernel, does not offer RENAME_NOREPLACE: link and unlink.
_NOT_OFFERED = (errno.EINVAL, errno.ENOSYS)
CAP_FOWNER = 3  # linux/capability.h
# How many ``<stem>.<n><suffix>`` names a file put back beside a taken name tries.
FREE_NAME_TRIES = 10_000


@functools.cache
def _renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None  # not Linux, or a C library without it (glibc before 2.28)
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[[int, bytes, int, bytes, int], int], function)


def rename_noreplace(src: str, dst: str, *, src_dir_fd: int, dst_dir_fd: int) -> bool:
    """Rename ``src`` (in the folder ``src_dir_fd``) to ``dst`` (in ``dst_dir_fd``) unless
    ``dst`` is taken: False then, nothing moved. Raises what the rename raises otherwise
    (FileNotFoundError: no ``src``); with no RENAME_NOREPLACE, a link then an unlink
    (module doc: EPERM for a file of another user)."""
    function = _renameat2()
    if function is not None:
        if (
            function(src_dir_fd, os.fsencode(src), dst_dir_fd, os.fsencode(dst), RENAME_NOREPLACE)
            == 0
        ):
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in _NOT_OFFERED:
            raise OSError(err, os.strerror(err), src, None, dst)
    try:
        os.link(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd, follow_symlinks=False)
    except FileExistsError:
        return False
    _unlink_if_linked(src, src_dir_fd, dst, dst_dir_fd)
    return True


def _unlink_if_linked(src: str, src_dir_fd: int, dst: str, dst_dir_fd: int) -> None:
    """Remove the name ``src`` of the file just linked as ``dst``, not another file put
    under ``src`` since the link: a plain unlink removed that one, a device's next
    recording under the name being moved (TAG-5). ``src`` is renamed aside to a hidden
    name of this call's own, checked, then unlinked; another file is put back under
    ``src`` (:func:`put_back`). Killed before, the file aside has the ``REMOVING``
    prefix: the next scan puts it back (under the random rest of its name) and takes it."""
    linked = os.stat(dst, dir_fd=dst_dir_fd, follow_symlinks=False)
    aside = f"{REMOVING}{secrets.token_hex(8)}"
    try:
        os.rename(src, aside, src_dir_fd=src_dir_fd, dst_dir_fd=src_dir_fd)
    except FileNotFoundError:
        return  # removed meanwhile by whoever put it there
    moved = os.stat(aside, dir_fd=src_dir_fd, follow_symlinks=False)
    if (moved.st_dev, moved.st_ino) == (linked.st_dev, linked.st_ino):
        os.unlink(aside, dir_fd=src_dir_fd)
    else:
        put_back(aside, src_dir_fd, src, src_dir_fd)


def hold_folder(dir_fd: int) -> bool:
    """Take the folder ``dir_fd`` for one scan: an exclusive ``flock`` on it, held until
    ``dir_fd`` is closed; False, without waiting, when another scan holds it (the jobs
    role's and ``vms dock scan``, or two jobs processes). Two scans of one folder both
    refused a file under the same name in ``rejected/``: one replaced the other's reason,
    the other then removed it, and the file was left there with none (TAG-5). Not
    waiting: whoever writes the dock may hold the lock too, and stops only its own
    folder's scans so."""
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def may_move_in(dir_fd: int) -> bool:
    """Whether this process may rename files in the folder ``dir_fd`` (write and search
    it), judged by the kernel with its effective ids and capabilities (``faccessat``
    with ``AT_EACCESS``). A device folder a docking station created as its own user
    (0755) lets the service read its files but move none out: none removed, none
    refused (TAG-5)."""
    return os.access(".", os.W_OK | os.X_OK, dir_fd=dir_fd, effective_ids=True)


def move_out_refused(
    folder: os.stat_result, entries: Iterable[tuple[str, os.stat_result | None]]
) -> str | None:
    """Why this process may not rename or remove one of ``entries`` (a file and its
    sidecar, by name with what is under it, None: nothing) out of the folder ``folder``
    describes; None when it may. The kernel's rule for a folder with the sticky bit (a
    drop folder shared like ``/tmp``, mode 1777): only the file's owner, the folder's
    owner or a holder of CAP_FOWNER may. The service user may write such a folder
    (:func:`may_move_in`) and still fail on every file a docking station wrote as its
    own user: taken, it would be ingested and hashed again at every scan, and never
    removed (TAG-5)."""
    if not folder.st_mode & stat.S_ISVTX:
        return None
    uid = os.geteuid()
    for name, entry in entries:
        if entry is None or uid in (entry.st_uid, folder.st_uid) or _capable(CAP_FOWNER):
            continue
        return (
            f"{name}: owned by uid {entry.st_uid} in a device folder with the sticky bit "
            f"(mode {stat.S_IMODE(folder.st_mode):04o}): the service user (uid {uid}) may "
            "not move it out, so it is left in place and not taken until the file is the "
            "service user's or the folder loses its sticky bit"
        )
    return None


def _capable(bit: int) -> bool:
    """Whether the calling thread holds the capability ``bit`` (Linux keeps them per
    thread: ``/proc/thread-self/status``); elsewhere, whether it runs as root."""
    try:
        status = Path("/proc/thread-self/status").read_text(encoding="ascii")
    except OSError:
        return os.geteuid() == 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> bit & 1)
    return os.geteuid() == 0


def free_name(name: str, dir_fd: int, *beside: str) -> str:
    """``name``, or ``<stem>.<n><suffix>`` when the folder ``dir_fd`` holds a file of that
    name already, or one of that name followed by one of ``beside`` (in ``rejected/``: a
    refused file's reason, or a sidecar). Devices reuse names (FILE0001.MP4 after a
    reset): an earlier refused file of the name stays, a later one takes a free name
    beside it."""
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 0
    while any(_exists(candidate + end, dir_fd) for end in ("", *beside)):
        n += 1
        candidate = f"{stem}.{n}{suffix}"
    return candidate


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def put_back(src: str, src_dir_fd: int, name: str, dir_fd: int) -> str:
    """Put ``src`` (in ``src_dir_fd``) back under ``name`` in the folder ``dir_fd``, or,
    that name taken, beside it as ``<stem>.<n><suffix>``, where a scan takes it (never
    over a file, never under a hidden name). Answers the name it is under; raises
    OSError when it cannot be moved (module doc), ``src`` then where it was."""
    stem, suffix = os.path.splitext(name)
    candidates = [name] + [f"{stem}.{n}{suffix}" for n in range(1, FREE_NAME_TRIES)]
    for candidate in candidates:
        if rename_noreplace(src, candidate, src_dir_fd=src_dir_fd, dst_dir_fd=dir_fd):
            return candidate
    raise FileExistsError(
        errno.EEXIST, f"{name} and {FREE_NAME_TRIES - 1} names beside it are taken"
    )


def open_file(name: str, dir_fd: int) -> int:
    """``name`` in the folder ``dir_fd`` opened for reading; a link is ELOOP."""
    return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)


def fd_path(fd: int) -> Path:
    """A path to the file open on ``fd`` (Linux's ``/proc/self/fd``): every open and stat
    of it reaches that file, whatever is under its dock name by then. The ingest opens it
    again to copy and to probe it, which a path lets it do as for any file at rest."""
    return Path(f"/proc/self/fd/{fd}")


def identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def lstat_at(name: str, dir_fd: int) -> os.stat_result | None:
    """What is under ``name`` in the folder ``dir_fd`` now (not following a link)."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def changed_at(info: os.stat_result, now: float) -> float:
    """When the file ``info`` describes last changed, for the settle rules (TAG-5): its
    modification time, unless that is later than ``now`` (set ahead by its writer, or a
    device's clock a station kept): then its status change time, which the kernel sets
    and no writer can. A time in the future never settles: such a file was never taken,
    nor reported."""
    modified = info.st_mtime_ns / 1e9
    return modified if modified <= now else info.st_ctime_ns / 1e9
