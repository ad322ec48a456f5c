"""``vms backup create``: a consistent, verifiable copy of an installation (docs/design/
backup.md): the catalog database as of one commit, the keys, every original the
snapshot names, and the files set aside for a person to decide on.

A set is **incremental**: originals never change (INV-2) and are named by their SHA-256,
so an original already in the folder is not copied again. A set moves **forward along one
audit chain**: a folder holding a set of another installation, or of a later state of
this one (a restored older catalog), is refused rather than overwritten. Originals the
new snapshot no longer names were purged since the last set (each with its destruction
record in the chain, RET-12): they leave the set too, so a backup never keeps footage
past the retention the agency's policy sets (RET-1).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from vms.audit.log import SYSTEM_ROLE, Who
from vms.backup import snapshot
from vms.backup.manifest import (
    CHUNK,
    MANIFEST,
    FileEntry,
    Manifest,
    hash_file,
    object_path,
    safe_relative,
)
from vms.db.models import AuditEntry, MediaItem
from vms.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, VMSError
from vms.file_modes import OBJECT_MODE, PRIVATE_DIR_MODE, private_output
from vms.services import Services
from vms.store import fsync_dir

log = logging.getLogger(__name__)

# A purge deletes an original before its transaction commits (retention/purge.py): a
# snapshot taken in between names an original that is gone. A later snapshot does not.
SNAPSHOT_ATTEMPTS = 3
SNAPSHOT_RETRY_SECONDS = 2.0
# Files of the media folder a person must decide on (kept, never deleted, by the VMS).
SET_ASIDE = ("quarantine", "orphans")
STORE_MARKER = ".vms-store-id"
LOCK = ".lock"
BACKUP_TOPIC = "backup.status"  # the backup_failed alarm (vms/alarms.py)
SCHEDULE_WHO = Who("scheduled-backup", SYSTEM_ROLE)


@dataclass
class BackupReport:
    folder: Path
    manifest: Manifest
    manifest_sha256: str
    copied: int = 0  # originals copied this time
    copied_bytes: int = 0
    kept: int = 0  # originals already in the set
    pruned: int = 0  # originals purged since the last set, removed from it
    skipped: list[str] = field(default_factory=list)  # files not copied, with why

    @property
    def complete(self) -> bool:
        return not (self.manifest.missing or self.manifest.corrupted)


def make_backup(services: Services, folder: Path, who: Who) -> BackupReport:
    """Write or bring up to date the backup set in ``folder``; audited ``system.backup``."""
    previous = _prepare(folder)
    with _writer(folder):
        return _make(services, folder, who, previous)


@contextlib.contextmanager
def _writer(folder: Path) -> Iterator[None]:
    """One writer of a set at a time (a second backup into the same folder would remove
    what the first is writing): an exclusive lock on ``folder/.lock``."""
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"another backup is writing the set in {folder} now") from None
        yield
    finally:
        os.close(fd)


def _make(services: Services, folder: Path, who: Who, previous: Manifest | None) -> BackupReport:
    config = services.config
    for leftover in (folder / "media" / "tmp").glob("*.part"):  # a run a crash cut short
        leftover.unlink()
    stamp = services.clock.now().strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    kind = snapshot.database_kind(config.effective_database_url)
    report = BackupReport(folder, _empty_manifest(), "")
    bad: dict[str, str] = {}
    for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
        suffix = "sqlite" if kind == "sqlite" else "pgdump"
        db_name = f"database/catalog-{stamp}-{attempt}.{suffix}"
        snap = snapshot.take(config.effective_database_url, folder / db_name)
        if previous is not None:
            _require_forward(services, previous, snap)
        bad = _copy_objects(services, folder, snap.objects, report)
        if not bad or attempt == SNAPSHOT_ATTEMPTS:
            break
        # An original named by the snapshot is gone: a purge in flight, most likely.
        (folder / db_name).unlink()
        time.sleep(SNAPSHOT_RETRY_SECONDS)
    created = services.clock.now().astimezone(dt.UTC)
    objects_name = f"objects-{stamp}.txt"
    present = {sha: size for sha, size in snap.objects.items() if sha not in bad}
    with private_output(folder / objects_name) as f:
        f.writelines(f"{sha} {present[sha]}\n".encode() for sha in sorted(present))
    fsync_dir(folder / "database")
    files: dict[str, FileEntry] = {
        db_name: hash_file(folder / db_name),
        objects_name: hash_file(folder / objects_name),
    }
    files.update(_copy_tree(config.secrets_dir, folder, "secrets", report))
    for group in SET_ASIDE:
        files.update(_copy_tree(config.media_dir / group, folder, f"media/{group}", report))
    marker = config.media_dir / STORE_MARKER
    if marker.is_file():
        files.update(_copy_files([(marker, f"media/{STORE_MARKER}")], folder))
    missing, corrupted = _media_of(services, bad)
    manifest = Manifest(
        created_at=created.isoformat().replace("+00:00", "Z"),
        database_kind=kind,
        database_file=db_name,
        revision=snap.revision,
        audit_seq=snap.audit_seq,
        audit_hash=snap.audit_hash,
        items=snap.items,
        objects_file=objects_name,
        objects=len(present),
        object_bytes=sum(present.values()),
        store_kind="s3" if services.store.remote is not None else "local",
        missing=missing,
        corrupted=corrupted,
        files=files,
    )
    with private_output(folder / MANIFEST) as f:
        f.write(manifest.to_json())
    fsync_dir(folder)
    report.manifest, report.manifest_sha256 = manifest, manifest.digest()
    report.pruned = _prune(folder, manifest, set(present))
    services.audit.record(
        services.db,
        who,
        "system.backup",
        f"backup:{report.manifest_sha256[:16]}",
        outcome="ok" if report.complete else "incomplete",
        details={
            "folder": str(folder.resolve()),
            "manifest_sha256": report.manifest_sha256,
            "audit_seq": manifest.audit_seq,
            "items": manifest.items,
            "objects": manifest.objects,
            "object_bytes": manifest.object_bytes,
            "copied": report.copied,
            "pruned": report.pruned,
            "missing": manifest.missing,
            "corrupted": manifest.corrupted,
        },
    )
    return report


def scheduled_backup(services: Services) -> BackupReport | None:
    """The jobs role's run (``[backup] folder``, every ``interval_hours``, one node under
    the ``backup`` lease): a failed or incomplete set raises the ``backup_failed`` alarm,
    a complete one clears it; a failure is audited, as a set is."""
    folder = Path(services.config.backup.folder)
    try:
        report = make_backup(services, folder, SCHEDULE_WHO)
    except (VMSError, OSError) as exc:
        message = exc.message if isinstance(exc, VMSError) else f"{exc.strerror}: {exc.filename}"
        log.error("the scheduled backup into %s failed: %s", folder, message)
        services.audit.record(
            services.db,
            SCHEDULE_WHO,
            "system.backup",
            f"backup:{folder}",
            outcome="failed",
            details={"folder": str(folder), "error": message},
        )
        _backup_alarm(services, folder, f"the backup into {folder} failed: {message}")
        return None
    m = report.manifest
    if report.complete:
        _backup_alarm(services, folder, None)
    else:
        _backup_alarm(
            services,
            folder,
            f"the set in {folder} is incomplete: {len(m.missing)} original(s) missing from "
            f"the store, {len(m.corrupted)} corrupted (vms catalog check)",
        )
    return report


def _backup_alarm(services: Services, folder: Path, detail: str | None) -> None:
    services.events.publish(
        BACKUP_TOPIC, {"folder": str(folder), "active": detail is not None, "detail": detail}
    )


def _empty_manifest() -> Manifest:
    return Manifest("", "sqlite", "", "", 0, "", 0, "", 0, 0, "local")


def _prepare(folder: Path) -> Manifest | None:
    """Make ``folder`` ready: new (0700), or an earlier set of ours. Returns that set."""
    try:
        st = folder.lstat()
    except FileNotFoundError:
        folder.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
        st = folder.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"the backup folder {folder} is not a folder (or is a link)")
    if st.st_uid != os.getuid():
        raise FailedPrecondition(
            f"the backup folder {folder} belongs to uid {st.st_uid}, not to this user: "
            "another user could read or change the set"
        )
    os.chmod(folder, PRIVATE_DIR_MODE)  # the set holds the keys and the evidence
    # What others planted while the folder was open to them stays there after the chmod
    # (``secrets`` a link to a folder of theirs: the keys copied where they swap them).
    for entry in folder.iterdir():
        st = entry.lstat()
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
            raise FailedPrecondition(
                f"the backup folder holds {entry}, a link or another user's (uid "
                f"{st.st_uid}): another user could read or change the set; remove it"
            )
    previous = Manifest.read(folder) if (folder / MANIFEST).exists() else None
    if previous is None and any(not _ours(p.name) for p in folder.iterdir()):
        # (A first set a crash cut short holds only our own names: it is finished now.)
        raise InvalidArgument(
            f"the backup folder {folder} is not empty and holds no backup set ({MANIFEST})"
        )
    for sub in ("database", "secrets", "media/objects", "media/tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    return previous


def _ours(name: str) -> bool:
    """A name a backup writes at the top of its folder."""
    return name in ("database", "secrets", "media", LOCK) or (
        name.startswith(("objects-", f".{MANIFEST}.")) and name.endswith((".txt", ".tmp"))
    )


def _require_forward(services: Services, previous: Manifest, snap: snapshot.Snapshot) -> None:
    """The new snapshot continues the chain the folder's set ends in (else refuse)."""
    with services.db.session() as s:
        stored = s.execute(
            select(AuditEntry.hash).where(AuditEntry.seq == previous.audit_seq)
        ).scalar_one_or_none()
    if snap.audit_seq < previous.audit_seq or (
        previous.audit_seq and stored != previous.audit_hash
    ):
        raise FailedPrecondition(
            f"the backup folder holds a set whose audit chain (entry {previous.audit_seq}, "
            f"{previous.created_at}) this catalog does not continue: a set of another "
            "installation or of a later state; use a new folder"
        )


def _copy_objects(
    services: Services, folder: Path, objects: dict[str, int], report: BackupReport
) -> dict[str, str]:
    """Copy the originals not yet in the set, each checked against its name. Returns the
    ones that could not be: sha256 -> "missing" | "corrupted"."""
    bad: dict[str, str] = {}
    tmp_dir = folder / "media" / "tmp"
    touched: set[Path] = set()
    for sha in sorted(objects):
        target = folder / object_path(sha)
        try:
            held = target.lstat()
            if held.st_size == objects[sha] and stat.S_ISREG(held.st_mode):
                report.kept += 1
                continue
        except FileNotFoundError:
            pass
        if services.store.stored_size(sha) is None:
            bad[sha] = "missing"
            continue
        tmp = tmp_dir / f"{sha}.part"
        tmp.unlink(missing_ok=True)
        h, size = hashlib.sha256(), 0
        try:
            with open(tmp, "xb") as out:
                for chunk in services.store.read(sha):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (FileNotFoundError, NotFound):  # purged between the size and the read
            tmp.unlink(missing_ok=True)
            bad[sha] = "missing"
            continue
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if h.hexdigest() != sha:
            tmp.unlink()
            bad[sha] = "corrupted"
            continue
        os.chmod(tmp, OBJECT_MODE)
        target.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        target.unlink(missing_ok=True)  # a short file a crash left
        os.rename(tmp, target)
        touched.add(target.parent)
        report.copied += 1
        report.copied_bytes += size
    # Each folder that gained an original once, before a manifest names them: a power cut
    # must not leave a manifest listing originals whose names were never written down.
    for parent in sorted(touched):
        fsync_dir(parent)
    return bad


def _copy_tree(
    source: Path, folder: Path, under: str, report: BackupReport
) -> dict[str, FileEntry]:
    """Every regular file below ``source`` (no links followed; dot files, which are locks
    and temporary files, left out) copied to ``folder/under``."""
    if not source.is_dir():
        return {}
    pairs: list[tuple[Path, str]] = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        if path.is_symlink() or not path.is_file():
            if path.is_symlink():
                report.skipped.append(f"{path}: a link, not followed")
            continue
        try:
            pairs.append((path, safe_relative(f"{under}/{relative}")))
        except ValueError:
            report.skipped.append(f"{path}: a name the set cannot hold")
    return _copy_files(pairs, folder)


def _copy_files(pairs: Iterable[tuple[Path, str]], folder: Path) -> dict[str, FileEntry]:
    files: dict[str, FileEntry] = {}
    for source, name in pairs:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as src, private_output(target) as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        fsync_dir(target.parent)
        files[name] = hash_file(target)
    return files


def _media_of(services: Services, bad: dict[str, str]) -> tuple[list[str], list[str]]:
    """The media ids behind the originals that could not be copied."""
    if not bad:
        return [], []
    with services.db.session() as s:
        rows = s.execute(
            select(MediaItem.id, MediaItem.sha256).where(MediaItem.sha256.in_(list(bad)))
        ).all()
    missing = sorted(mid for mid, sha in rows if bad[sha] == "missing")
    corrupted = sorted(mid for mid, sha in rows if bad[sha] == "corrupted")
    return missing, corrupted


def _prune(folder: Path, manifest: Manifest, objects: set[str]) -> int:
    """Remove what the new manifest does not name: earlier snapshots and lists, keys and
    set-aside files since removed, and originals purged since (RET-1)."""
    named = set(manifest.files)
    for sub in ("database", "secrets", "media/quarantine", "media/orphans"):
        root = folder / sub
        if root.is_dir():
            for path in sorted(root.rglob("*"), reverse=True):
                relative = path.relative_to(folder).as_posix()
                if path.is_file() and relative not in named and not path.name.startswith("."):
                    path.unlink()
    for path in folder.glob("objects-*.txt"):
        if path.name not in named:
            path.unlink()
    pruned = 0
    objects_dir = folder / "media" / "objects"
    for path in sorted(objects_dir.rglob("*")):
        if path.is_file() and path.name not in objects:
            path.unlink()
            pruned += 1
    return pruned
