"""Dock-folder imports (TAG-5): ``<data_dir>/dock/<device_id>/<file>``.

A docking station or an officer's workstation drops files into the device's folder,
optionally with a sidecar ``<file>.json`` (``source``, ``officer_badge``, ``recorded_at``,
``title``, ``categories``, ``case_number``, ``pre_event_buffer_seconds`` (OPS-2) and
``markers`` (OPS-3: ``[{"kind", "at", "reason"}]``, vms/markers.py)). A file is taken once
neither it nor its sidecar has changed for ``dock_settle_seconds``; a sidecar written after
its file was taken goes to ``rejected/`` (below), never to the next file of its name. The
file goes through the single ingest path (INV-1); the stored copy is then read back and its
SHA-256 compared before the dock copy is removed, so the device copy is erased only after a
verified upload. The copy is removed while the item's row is held, and only when that item
is not gone or being purged (RET-13): bytes that duplicate an item purged meanwhile are
ingested again. Files that are refused move to ``<device>/rejected/`` with a ``.error.txt``
saying why (as ``<stem>.<n><suffix>`` when a refused file of their name is there already):
nothing is lost. A sidecar refused alone keeps its name there, its reason in
``<file>.json.error.txt``: one that came after its file was taken, or one with no file of
its name for ``dock_orphan_sidecar_seconds`` (reported, never deleted).

Whoever writes the dock folder may plant symbolic links, and swap a file or a folder for one
at any moment: each device folder, each file and ``rejected/`` is opened once without
following a link, and everything after is done through what was opened (INV-2, TAG-5).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from vms import dock_files
from vms.audit.log import SYSTEM_ROLE, Who
from vms.clock import Clock
from vms.db.models import CAPTURE_SOURCES, Device, MediaItem, PurgeIntent, SourceKind
from vms.dock_files import (
    changed_at,
    fd_path,
    free_name,
    identity,
    lstat_at,
    may_move_in,
    move_out_refused,
    open_file,
    put_back,
    rename_noreplace,
)
from vms.errors import (
    Conflict,
    DataLoss,
    FailedPrecondition,
    InsufficientStorage,
    InvalidArgument,
    NotFound,
    Unavailable,
    VMSError,
)
from vms.file_modes import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from vms.filenames import escaped
from vms.ingest import Ingestor, IngestRequest, Origin
from vms.markers import check_buffer, parse_markers
from vms.recorded_time import parse_recorded_at

log = logging.getLogger(__name__)

# What a file in a device folder that is a symbolic link is told (TAG-5, ACC-1): the bytes
# it leads to are not the device's (another device's original, anything the VMS may read).
_LINK = "a symbolic link, not a file the device wrote: not followed"

DOCK_ACTOR = Who("dock", SYSTEM_ROLE)
SIDECAR = ".json"
# A sidecar holds a few fields and markers: larger is refused before it is read (#10.4).
MAX_SIDECAR_BYTES = 1024 * 1024
REJECTED = "rejected"
# In rejected/, why: ``<file>.error.txt`` (a sidecar refused alone: ``<file>.json.error.txt``).
_REASON = ".error.txt"
# A file whose bytes matched an item purged meanwhile is ingested once more (RET-13); a
# second ingest meeting that again is a race the next scan settles.
INGEST_ATTEMPTS = 2
# Within _take only, never returned: a duplicate whose stored copy could not be read back.
_UNVERIFIED = "unverified"
# A folder opened as itself, never through a link (INV-2, TAG-5).
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW

# Which sidecar was read (device, inode, size, modification time in ns); None when there
# was none. Only that one is removed with its file, not one put under its name (TAG-5).
SidecarSeen = tuple[int, int, int, int] | None
# Which file was examined: (device, inode), or a sidecar's SidecarSeen.
Identity = tuple[int, ...]
# A file or sidecar being removed is first renamed to ``<_REMOVING><name>`` (hidden: no
# scan takes it), then what was renamed is checked (TAG-5, _move_checked).
_REMOVING = dock_files.REMOVING
# A device folder the service may not write (may_move_in): nothing of it is read (TAG-5).
_UNWRITABLE = "not writable by the service user: files left in place, none taken until it is"
# A device folder another scan holds (hold_folder): its files are that scan's (TAG-5).
_BUSY = "another scan (the jobs role's, or vms dock scan) is taking its files: left to it"


@dataclass(frozen=True)
class DockOutcome:
    path: Path
    # ingested | duplicate | rejected | deferred | stranded (under a name no scan takes,
    # not put back: for a person, _put_back) | unwritable (a device folder: _UNWRITABLE;
    # a file the service may not move out: move_out_refused)
    status: str
    detail: str

    def line(self) -> str:
        """``status: path detail`` on one line, for a person: a control or format
        character a device folder's writer put in a name (a newline that starts a line
        of its own, a right-to-left override) is shown escaped (TAG-5)."""
        return escaped(f"{self.status}: {self.path} {self.detail}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class DockScanner:
    def __init__(
        self,
        root: Path,
        ingestor: Ingestor,
        clock: Clock,
        settle_seconds: float,
        orphan_sidecar_seconds: float = 3600.0,
    ) -> None:
        """``settle_seconds``: how long a file and its sidecar must stay unchanged before
        the file is taken; ``orphan_sidecar_seconds``: how long a sidecar with no file of
        its name stays before it is reported (``[ingest] dock_settle_seconds``,
        ``dock_orphan_sidecar_seconds``)."""
        self.root = root
        self.ingestor = ingestor
        self.clock = clock
        self.settle_seconds = settle_seconds
        self.orphan_sidecar_seconds = max(orphan_sidecar_seconds, settle_seconds)

    def scan(self, by: Who = DOCK_ACTOR) -> list[DockOutcome]:
        """Take every settled file once; returns what happened to each. ``by``: who the
        ingests are audited as, the jobs role's ``dock`` by default; ``vms dock scan``
        gives the operating-system user running it (ACC-6)."""
        outcomes: list[DockOutcome] = []
        if not self.root.is_dir():
            return outcomes
        now = self.clock.now().timestamp()
        for device_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            # Opened once, without following a link, and every file reached through the
            # open folder: a device folder swapped for a link meanwhile (into the media
            # store, another device's folder) leads nowhere (INV-2, TAG-5).
            try:
                dir_fd = os.open(device_dir, _FOLDER_FLAGS)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                # A link leads out of the dock: its files are not the device's, and taking
                # one removes it (INV-2, TAG-5). Left alone, said so.
                log.warning(
                    "dock %s: a symbolic link, not a device folder: skipped", escaped(device_dir)
                )
                continue
            try:
                if dock_files.hold_folder(dir_fd):
                    outcomes.extend(self._scan_device(device_dir, dir_fd, now, by))
                else:
                    outcomes.append(_deferred(device_dir, _BUSY))
            finally:
                os.close(dir_fd)
        return outcomes

    def _scan_device(self, device_dir: Path, dir_fd: int, now: float, by: Who) -> list[DockOutcome]:
        outcomes = _put_back(os.listdir(dir_fd), dir_fd, device_dir)
        if not may_move_in(dir_fd):  # said once per scan, nothing read (_UNWRITABLE)
            log.warning("dock %s: %s", escaped(device_dir), _UNWRITABLE)
            return [*outcomes, DockOutcome(device_dir, "unwritable", _UNWRITABLE)]
        folder = os.fstat(dir_fd)
        names = sorted(os.listdir(dir_fd))
        for name in names:
            path = device_dir / name
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not _takes(name, info.st_mode):
                continue
            try:
                sidecar = lstat_at(name + SIDECAR, dir_fd)
                refused = move_out_refused(folder, ((name, info), (name + SIDECAR, sidecar)))
                if refused is not None:  # not read: said at each scan (TAG-5)
                    log.warning("dock %s: %s", escaped(device_dir), escaped(refused))
                    outcomes.append(DockOutcome(path, "unwritable", refused))
                    continue
                if stat.S_ISLNK(info.st_mode):
                    seen = _seen(name + SIDECAR, dir_fd)
                    outcomes.append(self._refuse(dir_fd, path, _LINK, _file(info), seen))
                    continue
                # The device may still be writing it, or its sidecar (written after the
                # file, or rewritten): taken without it, the sidecar would be left for
                # the next file of its name (TAG-5).
                newest = max(changed_at(info, now), changed_at(sidecar, now) if sidecar else 0)
                if now - newest < self.settle_seconds:
                    continue
                outcomes.append(self._take(device_dir.name, dir_fd, path, now, by))
            except Exception as exc:
                # One file must not stop the scan (issue #10.4): the others are
                # still taken, and this one is tried again next scan.
                log.exception("dock %s: deferred after an unexpected error", escaped(path))
                outcomes.append(DockOutcome(path, "deferred", f"{type(exc).__name__}: {exc}"))
        outcomes.extend(self._report_orphans(device_dir, dir_fd, names, now))
        return outcomes

    def _report_orphans(
        self, device_dir: Path, dir_fd: int, names: list[str], now: float
    ) -> list[DockOutcome]:
        """Sidecars with no file of their name (of ``names``, the folder's listing, nor
        since), unchanged for ``orphan_sidecar_seconds``: reported as refused files are
        (TAG-5), moved to ``rejected/`` with the reason, never deleted. Left, one would
        be applied to whichever file of its name came next."""
        outcomes: list[DockOutcome] = []
        for name in names:
            media = name[: -len(SIDECAR)]
            if name.startswith(".") or not name.endswith(SIDECAR):
                continue
            path = device_dir / name
            try:
                info = lstat_at(name, dir_fd)
                # A directory, a FIFO, rejected/ or a sidecar of that name is no file the
                # scan takes: the sidecar is applied to nothing, as when no file is there.
                if info is None or _taken_by_scan(media, dir_fd):
                    continue  # taken with its file meanwhile, or the file has come
                seen, alone = identity(info), now - changed_at(info, now)
                if alone < self.orphan_sidecar_seconds:
                    continue
                reason = (
                    f"{name}: a sidecar with no file {media} beside it for {alone:.0f} s "
                    f"([ingest] dock_orphan_sidecar_seconds {self.orphan_sidecar_seconds:g}): "
                    "applied to nothing; kept here (TAG-5)"
                )
                if self._reject(dir_fd, device_dir / media, reason, None, seen, sidecar_only=True):
                    outcomes.append(DockOutcome(path, "rejected", reason))
            except Exception as exc:
                # One sidecar must not stop the scan (#10.4): tried again next scan.
                log.exception("dock %s: not reported after an unexpected error", escaped(path))
                outcomes.append(DockOutcome(path, "deferred", f"{type(exc).__name__}: {exc}"))
        return outcomes

    def _source_for(self, device_id: str, sidecar: dict[str, object]) -> SourceKind:
        if "source" in sidecar:
            try:
                source = SourceKind(str(sidecar["source"]))
            except ValueError:
                raise InvalidArgument(f"sidecar source {sidecar['source']!r} is unknown") from None
            if source not in CAPTURE_SOURCES:
                raise InvalidArgument(f"sidecar source {source.value!r} is not a capture source")
            return source
        with self.ingestor.db.session() as s:
            kind = s.execute(select(Device.kind).where(Device.id == device_id)).scalar()
        return SourceKind(kind) if kind else SourceKind.BWC

    def _take(self, device_id: str, dir_fd: int, path: Path, now: float, by: Who) -> DockOutcome:
        # The file is opened once, without following a link (a FIFO put in its place
        # must not hang the scan), and that open file is what is ingested, verified and
        # removed: swapped for a link after the scan looked at it, it is not read through
        # the link (TAG-5, ACC-1).
        try:
            fd = open_file(path.name, dir_fd)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            link = _seen(path.name, dir_fd)
            sidecar = _seen(path.name + SIDECAR, dir_fd)
            return self._refuse(dir_fd, path, _LINK, link[:2] if link else None, sidecar)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return DockOutcome(path, "deferred", "not a regular file")
            for _attempt in range(INGEST_ATTEMPTS):
                outcome, seen = self._ingest(device_id, dir_fd, path, fd, info, now, by)
                if outcome.status not in ("ingested", "duplicate", _UNVERIFIED):
                    return outcome
                try:
                    if self._remove_if_kept(dir_fd, path, info, seen, outcome):
                        return outcome
                except Conflict as exc:
                    return _deferred(path, exc.message)
                except DataLoss as exc:
                    return self._refuse(dir_fd, path, exc.message, _file(info), seen)
                log.info(
                    "dock %s: item %s it duplicates was purged meanwhile; ingesting again",
                    escaped(path),
                    outcome.detail,
                )
        finally:
            os.close(fd)
        return _deferred(
            path,
            f"the items the bytes of {path.name} matched were purged while it was taken "
            "(RET-13): kept, taken again at the next scan",
        )

    def _remove_if_kept(
        self,
        dir_fd: int,
        path: Path,
        taken: os.stat_result,
        seen: SidecarSeen,
        outcome: DockOutcome,
    ) -> bool:
        """Remove the dock copy (TAG-5) while the item ``outcome`` names is held in a
        transaction (``FOR SHARE`` on PostgreSQL, the write lock on SQLite: a purge's
        deletion waits for it); False, the copy kept, when that item is gone.

        A duplicate names an item catalogued before: the purge (RET-13) may have
        destroyed it since the ingest found it, and the dock copy is then the only one
        left. Ingested again, its bytes are a new item, as the same file a moment later
        would be. An item whose destruction the purge has decided (its intent recorded,
        INV-3) cannot be replaced yet (one item per device and bytes): :class:`Conflict`,
        the copy kept for the next scan. An item still kept whose stored copy could not
        be read back (``_UNVERIFIED``): :class:`DataLoss`."""
        media_id = outcome.detail
        with self.ingestor.db.transaction() as s:
            held = s.execute(
                select(MediaItem.id).where(MediaItem.id == media_id).with_for_update(read=True)
            ).first()
            if held is None:
                return False
            if s.get(PurgeIntent, media_id) is not None:
                raise Conflict(
                    f"item {media_id}, which has the same bytes, is being purged (RET-13): "
                    f"{path.name} is kept and taken again at the next scan"
                )
            if outcome.status == _UNVERIFIED:
                raise DataLoss(
                    f"verification of {path} failed: the stored copy of item {media_id} is "
                    "missing; the dock copy is kept"
                )
            self._remove(dir_fd, path, taken, seen, media_id)
        return True

    def _ingest(
        self,
        device_id: str,
        dir_fd: int,
        path: Path,
        fd: int,
        taken: os.stat_result,
        now: float,
        by: Who,
    ) -> tuple[DockOutcome, SidecarSeen]:
        """The file open on ``fd`` (``taken``: its stat) ingested with its sidecar: what
        happened, and which sidecar was read. A sidecar written since the scan began
        (``now``) is not settled: the file is deferred (TAG-5). Refused, only that file
        and that sidecar go to ``rejected/``."""
        sidecar_name = path.name + SIDECAR
        opened = fd_path(fd)
        # Which sidecar is looked at: a refusal moves that one, and its reason is its own.
        info = lstat_at(sidecar_name, dir_fd)
        seen = None if info is None else identity(info)
        try:
            sidecar = _read_sidecar(sidecar_name, dir_fd, seen)
            if info is not None and now - changed_at(info, now) < self.settle_seconds:
                raise Conflict(f"sidecar {sidecar_name} is still being written")
            recorded = sidecar.get("recorded_at")
            categories = sidecar.get("categories") or []
            if not isinstance(categories, list):
                raise InvalidArgument("sidecar categories must be a list")
            request = IngestRequest(
                source=self._source_for(device_id, sidecar),
                device_id=device_id,
                officer_badge=_str(sidecar.get("officer_badge")),
                recorded_at=parse_recorded_at(recorded) if recorded else None,
                title=_str(sidecar.get("title")),
                categories=tuple(str(c) for c in categories),
                case_number=_str(sidecar.get("case_number")),
                original_filename=path.name,
                custody_details={"dock_path": f"{device_id}/{path.name}"},
                origin=Origin.USER,  # the folder and sidecar are a person's word (#10.1)
                pre_event_buffer_seconds=check_buffer(sidecar.get("pre_event_buffer_seconds")),
                markers=parse_markers(sidecar.get("markers")),  # OPS-3
            )
            result = self.ingestor.ingest(opened, request, by)
            try:
                stored = self.ingestor.store.hash_of(result.sha256)
            except (FileNotFoundError, NotFound):  # a local file; an S3 object
                if not result.duplicate:
                    raise
                # The item it duplicates may have been purged since the ingest found
                # it: told apart, under its row's lock, by the caller (RET-13).
                return DockOutcome(path, _UNVERIFIED, result.media_id), seen
            if stored != result.sha256 or _sha256(opened) != result.sha256:
                raise DataLoss(
                    f"verification of {path} failed: the stored copy does not match; "
                    "the dock copy is kept"
                )
        except (InsufficientStorage, Conflict, Unavailable) as exc:
            # No room yet, the device still writing the file, a service down: try later.
            return _deferred(path, exc.message), seen
        except (VMSError, ValueError, ArithmeticError) as exc:
            # Refused for good (bad file, bad sidecar, implausible time, a device the
            # dock may not claim; an arithmetic error is a value no rule can handle):
            # to rejected/ with the reason, nothing lost (issue #10.4).
            message = exc.message if isinstance(exc, VMSError) else f"{type(exc).__name__}: {exc}"
            return self._refuse(dir_fd, path, message, _file(taken), seen), seen
        status = "duplicate" if result.duplicate else "ingested"
        log.info("dock %s: %s as %s", escaped(path), status, result.media_id)
        return DockOutcome(path, status, result.media_id), seen

    def _remove(
        self, dir_fd: int, path: Path, taken: os.stat_result, seen: SidecarSeen, media_id: str
    ) -> None:
        """Remove the dock copy once verified (TAG-5): the file that was taken and the
        sidecar that was read (``seen``), not one put under either name since, which is
        left for the next scan: a device that put its next recording and that one's
        sidecar under the same names while this one was taken would lose the new
        sidecar's officer, case and title. A sidecar written (or rewritten) beside the
        taken file itself came too late for its item ``media_id``: it goes to
        ``rejected/`` saying so, not left for the next file of its name.

        The sidecar goes first. Killed between the two, the file is left, and the next
        scan finds it a duplicate of the item it became (catalogued with the sidecar's
        fields) and removes it. The other way round a sidecar was left alone, taken by
        nothing, and given to the next file of its name (devices reuse names): another
        recording catalogued with this one's officer, case and recorded time.

        Each is renamed to a hidden name (``_REMOVING``) before it is unlinked, and what
        was renamed is checked (:func:`_move_checked`): a file put under the name at any
        moment, even between a check and the unlink, is put back, never deleted. Killed
        between the rename and the unlink, the next scan puts it back (:func:`_put_back`)
        and takes it as above."""
        sidecar_name = path.name + SIDECAR
        # Renamed to a hidden name, then checked, then unlinked: a sidecar the device puts
        # under the name at any moment stays (_move_checked).
        if seen is not None and _move_checked(
            sidecar_name, dir_fd, _REMOVING + sidecar_name, dir_fd, seen
        ):
            os.unlink(_REMOVING + sidecar_name, dir_fd=dir_fd)
        # The file as it was taken, its size and modification time too: one rewritten in
        # place since its verification holds bytes no item has (TAG-5), and is left.
        whole = identity(taken)
        now = _seen(path.name, dir_fd)
        same = now == whole
        late = _seen(sidecar_name, dir_fd)
        if late is not None and same:
            self._reject(
                dir_fd,
                path,
                f"{path.name}{SIDECAR} was written after {path.name} was taken as item "
                f"{media_id}: not applied to it; kept here (TAG-5)",
                None,
                late,
                sidecar_only=True,
            )
        elif late is not None:
            log.warning("dock %s: its sidecar was replaced while it was taken: left", escaped(path))
        if same and _move_checked(path.name, dir_fd, _REMOVING + path.name, dir_fd, whole):
            os.unlink(_REMOVING + path.name, dir_fd=dir_fd)
        elif now is not None:
            log.warning("dock %s: replaced or changed while it was taken: left", escaped(path))

    def _refuse(
        self, dir_fd: int, path: Path, reason: str, file: Identity | None, sidecar: SidecarSeen
    ) -> DockOutcome:
        """``path`` refused for ``reason`` (:meth:`_reject`): rejected, or deferred when
        another file was put under its name meanwhile (left for the next scan)."""
        if self._reject(dir_fd, path, reason, file, sidecar):
            return DockOutcome(path, "rejected", reason)
        return _deferred(
            path,
            f"{path.name} was replaced while it was refused ({reason}): the new file is "
            "left for the next scan",
        )

    def _reject(
        self,
        dir_fd: int,
        path: Path,
        reason: str,
        file: Identity | None,
        sidecar: SidecarSeen,
        *,
        sidecar_only: bool = False,
    ) -> bool:
        """Move ``path`` and its sidecar (only the sidecar: ``sidecar_only``) to
        ``rejected/`` with a ``.error.txt`` giving ``reason`` (TAG-5: nothing lost).

        Only the file examined (``file``, its device and inode; None: none was) and the
        sidecar examined (``sidecar``; None: there was none) are moved: another put under
        either name since is not, and is left for the next scan (the reason is not its
        own). False, nothing moved, when the file (the sidecar: ``sidecar_only``) is no
        longer the one examined."""
        if sidecar_only:
            if sidecar is None or _seen(path.name + SIDECAR, dir_fd) != sidecar:
                return False
        else:
            now = _seen(path.name, dir_fd)
            if file is None or now is None or now[:2] != file:
                return False
        with contextlib.suppress(FileExistsError):
            os.mkdir(REJECTED, PRIVATE_DIR_MODE, dir_fd=dir_fd)
        try:
            target_fd = os.open(
                REJECTED, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd
            )
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            # Moving into it could replace any file it leads to, a stored original
            # among them (INV-2): the file stays, deferred, until a person removes it.
            raise FailedPrecondition(
                f"dock {path.parent / REJECTED} is a symbolic link: {path.name} is not "
                "moved into it"
            ) from None
        try:
            # Devices reuse names (FILE0001.MP4 after a reset): an earlier refused file of
            # this name stays, this one takes a free name beside it (nothing is lost).
            # A refused file takes no name a sidecar refused alone holds (its reason:
            # <name>.json.error.txt); a sidecar refused alone, no name whose sidecar is
            # there: a scan killed between moving a refused file's sidecar and the file
            # leaves that sidecar for the file, refused again under that name (TAG-5).
            # A refused file with a sidecar, no name whose sidecar is there (its own
            # goes there): that move raised Conflict at every scan, for ever.
            beside = (SIDECAR,) if sidecar_only else (SIDECAR + _REASON,)
            with_sidecar = (SIDECAR,) if sidecar is not None and not sidecar_only else ()
            kept = free_name(path.name, target_fd, *beside, *with_sidecar)
            # The reason, then the sidecar, then the file (TAG-5): killed in between, the
            # file is still in the device folder, refused again by the next scan under
            # the same free name, beside what was moved. The file first left its sidecar
            # alone in the device folder, for the next file of its name to take.
            # A reason file planted as a link would have the reason written through it.
            error = f"{kept}{SIDECAR if sidecar_only else ''}{_REASON}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(error, dir_fd=target_fd)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(error, flags, PRIVATE_FILE_MODE, dir_fd=target_fd)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(reason + "\n")
            # Each renamed, then checked (_move_checked): one put under the name since
            # the scan examined it stays in the device folder.
            sidecar_moved = sidecar is not None and _move_checked(
                path.name + SIDECAR, dir_fd, kept + SIDECAR, target_fd, sidecar
            )
            moved = (
                sidecar_moved
                if sidecar_only
                else file is not None and _move_checked(path.name, dir_fd, kept, target_fd, file)
            )
            if not moved and not sidecar_moved:
                os.unlink(error, dir_fd=target_fd)  # nothing here for it to explain
            if not moved:
                return False
        finally:
            os.close(target_fd)
        which = f"{path}{SIDECAR if sidecar_only else ''}"
        log.warning("dock %s: rejected, %s", escaped(which), escaped(reason))
        return True


def _deferred(path: Path, message: str) -> DockOutcome:
    """``path`` left for the next scan, for ``message`` (logged)."""
    log.warning("dock %s: deferred, %s", escaped(path), escaped(message))
    return DockOutcome(path, "deferred", message)


def _move_checked(name: str, dir_fd: int, to: str, to_fd: int, expected: Identity) -> bool:
    """Rename ``name`` (in the folder ``dir_fd``) to the free name ``to`` (in ``to_fd``;
    taken: :class:`Conflict`, nothing moved) when it is the file examined, ``expected``
    (its device and inode, or a sidecar's :data:`SidecarSeen`). Renamed first, then
    what was renamed is checked: no moment between a check and the rename lets a file
    put under ``name`` since be moved or removed in its stead (TAG-5). Another file is
    put back (:func:`put_back`: under ``name``, or beside it when a third file took the
    name meanwhile; a rename, which needs no ownership of the file, vms/dock_files.py)
    and False answered; False too when nothing is there."""
    try:
        # Never over a file: one under ``to`` (another scan's, between its rename and its
        # unlink or put-back) stays, and this move waits for the next scan (TAG-5).
        if not rename_noreplace(name, to, src_dir_fd=dir_fd, dst_dir_fd=to_fd):
            raise Conflict(f"{to} is taken (another scan?): {name} is left for the next scan")
    except FileNotFoundError:
        return False
    moved = _seen(to, to_fd)
    if moved is not None and moved[: len(expected)] == expected:
        return True
    back = put_back(to, to_fd, name, dir_fd)
    log.warning(
        "dock %s: replaced since it was examined: left for the next scan as %s",
        escaped(name),
        escaped(back),
    )
    return False


def _put_back(names: list[str], dir_fd: int, device_dir: Path) -> list[DockOutcome]:
    """A scan killed between renaming a file or a sidecar to remove it (``_REMOVING``)
    and unlinking it, or putting it back, left it under that hidden name: it goes back
    under its own (:func:`put_back`; beside it when that is taken), where the scan meets
    it again: a taken file is a duplicate of its item and removed with its sidecar
    (TAG-5). One that cannot be moved is answered ``stranded``, for a person."""
    stranded: list[DockOutcome] = []
    for name in names:
        if not name.startswith(_REMOVING):
            continue
        try:
            back = put_back(name, dir_fd, name[len(_REMOVING) :], dir_fd)
        except OSError as exc:
            message = (
                f"{name} (left by an interrupted removal) could not be put back under "
                f"{name[len(_REMOVING) :]}: {exc.strerror or exc}; no scan takes it under "
                "that name: move it back by hand (TAG-5)"
            )
            log.error("dock %s: %s", escaped(device_dir / name), escaped(message))
            stranded.append(DockOutcome(device_dir / name, "stranded", message))
            continue
        log.warning(
            "dock %s: put back as %s after an interrupted removal", escaped(name), escaped(back)
        )
    return stranded


def _file(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino)


def _takes(name: str, mode: int) -> bool:
    """Whether a scan takes (or, a link, refuses) what is under ``name``, of ``mode``
    (not following a link): a file or a link that is not hidden, not a sidecar, not
    ``rejected/``. The one rule: the scan takes by it, and a sidecar is applied to
    nothing (reported) by it, so no sidecar is both taken and reported, or neither."""
    if name.startswith(".") or name.endswith(SIDECAR) or name == REJECTED:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _taken_by_scan(name: str, dir_fd: int) -> bool:
    """:func:`_takes` for what is under ``name`` now (looked at without following a
    link or opening anything: a FIFO must not hang the scan)."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return False
    return _takes(name, mode)


def _seen(name: str, dir_fd: int) -> SidecarSeen:
    info = lstat_at(name, dir_fd)
    return None if info is None else identity(info)


def _read_sidecar(name: str, dir_fd: int, expected: SidecarSeen) -> dict[str, object]:
    """The sidecar ``name`` in the folder ``dir_fd`` (``{}`` when there is none), read
    without following a link; :class:`Conflict` when it is not the one looked at
    (``expected``): written meanwhile."""
    try:
        fd = open_file(name, dir_fd)
    except FileNotFoundError:
        if expected is not None:
            raise Conflict(f"sidecar {name} was removed while it was read") from None
        return {}
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidArgument(f"sidecar {name} is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if identity(info) != expected:
            raise Conflict(f"sidecar {name} was written while it was read")
        if not stat.S_ISREG(info.st_mode):
            raise InvalidArgument(f"sidecar {name} is not a regular file")
        text = f.read(MAX_SIDECAR_BYTES + 1)  # bounded: the dock's writer chose its size
    if len(text) > MAX_SIDECAR_BYTES:
        raise InvalidArgument(f"sidecar {name} is more than {MAX_SIDECAR_BYTES} bytes")
    try:
        sidecar = json.loads(text.decode("utf-8"))
    except ValueError as exc:
        raise InvalidArgument(f"sidecar {name} is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidArgument(f"sidecar {name} is nested too deeply to read") from None
    if not isinstance(sidecar, dict):
        raise InvalidArgument(f"sidecar {name} must be a JSON object")
    return sidecar


def _str(value: object) -> str | None:
    return None if value is None else str(value)
