"""Rows against files (docs/design/storage.md, "checks"), and the startup recovery.

``vms catalog check --level presence|size|hash`` compares catalog rows with the store:
rows whose file is *missing*, files with no row (*orphaned*), files whose size or hash
differ from their row (*corrupted*), and files set aside as unreadable (*quarantined*,
e.g. crash leftovers the recorder could not salvage): a person must look at those.
:func:`recover` runs at startup (and with ``--repair``): it removes abandoned ``.part``
files and moves orphaned originals to ``orphans/``, each only when no live ingest holds
its lock (INV-1).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import fcntl
import itertools
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from sqlalchemy import select

from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.clock import SystemClock
from vms.db.engine import Database
from vms.db.models import MediaItem
from vms.errors import DataLoss
from vms.store import ORPHAN_GRACE, MediaStore, StoredOriginal

# Stored originals looked up in the catalog per statement by the start-up recovery.
LOOKUP_BATCH = 500

log = logging.getLogger(__name__)

# Who the start-up recovery acts as in the audit log.
RECOVERY_WHO = Who("startup-recovery", SYSTEM_ROLE)


class Level(enum.StrEnum):
    PRESENCE = "presence"
    SIZE = "size"
    HASH = "hash"


@dataclass
class Repairs:
    """What :func:`recover` changed in the store (audited as ``catalog.repair``)."""

    temp_removed: list[str] = field(default_factory=list)  # store paths
    uploads_aborted: list[str] = field(default_factory=list)
    orphans_set_aside: list[dict[str, str]] = field(default_factory=list)  # sha256, moved_to

    def __bool__(self) -> bool:
        return bool(self.temp_removed or self.uploads_aborted or self.orphans_set_aside)


@dataclass
class CheckReport:
    rows: int = 0
    files: int = 0
    missing: list[str] = field(default_factory=list)  # media ids
    orphaned: list[str] = field(default_factory=list)  # store paths
    corrupted: list[str] = field(default_factory=list)  # media ids
    temp_files: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # store paths
    repaired: Repairs = field(default_factory=Repairs)  # by recover() before the check

    @property
    def clean(self) -> bool:
        return not (
            self.missing or self.orphaned or self.corrupted or self.temp_files or self.quarantined
        )


def check(
    db: Database,
    store: MediaStore,
    level: Level = Level.PRESENCE,
    *,
    now: dt.datetime | None = None,
) -> CheckReport:
    """Rows against stored originals, on either backend (local files or S3 objects).
    ``now`` (default: the system clock) judges the age of unfinished S3 uploads."""
    report = CheckReport()
    if store.remote is not None:
        _check_listed(db, store, level, (now or _now()) - ORPHAN_GRACE, report)
    else:
        _check_files(db, store, level, report)
    report.temp_files = [str(p.relative_to(store.root)) for p in store.iter_temp_files()]
    report.temp_files += store.stale_uploads(now or _now())
    report.quarantined = [str(p.relative_to(store.root)) for p in store.iter_quarantined()]
    return report


def _check_files(db: Database, store: MediaStore, level: Level, report: CheckReport) -> None:
    """Local disk: each row's file looked at (a stat), then the files walked for orphans."""
    expected: dict[str, int] = {}
    with db.session() as s:
        rows = s.execute(
            select(MediaItem.id, MediaItem.sha256, MediaItem.size_bytes).execution_options(
                yield_per=5000
            )
        )
        for media_id, sha256, size in rows:
            report.rows += 1
            expected[sha256] = size
            stored = store.stored_size(sha256)
            if stored is None:
                report.missing.append(media_id)
                continue
            if (level in (Level.SIZE, Level.HASH) and stored != size) or (
                level is Level.HASH and store.hash_of(sha256) != sha256
            ):
                report.corrupted.append(media_id)
    for sha256, _ in store.iter_stored_settled():
        report.files += 1
        if sha256 not in expected:
            report.orphaned.append(store.where(sha256))


def _check_listed(
    db: Database, store: MediaStore, level: Level, settled_before: dt.datetime, report: CheckReport
) -> None:
    """S3: the bucket's listing (key order, a thousand objects a request) merged with
    the catalog walked in the same order (by SHA-256): no HEAD request per row, no
    row's hash kept in memory. Only ``hash`` reads each object (GET). A young object
    without a row may be another node's ingest about to commit it: not an orphan."""

    def canonical() -> Iterator[StoredOriginal]:
        for listed in store.iter_listed(settled_before):
            if listed.canonical:
                yield listed
                continue
            report.files += 1  # not where an original is stored: no row can be its
            if listed.settled:
                report.orphaned.append(store.where(listed.sha256))

    listed = canonical()
    obj = next(listed, None)
    matched = False  # obj has a row
    last = ""

    def advance() -> None:
        nonlocal obj, matched
        assert obj is not None
        report.files += 1
        if obj.settled and not matched:
            report.orphaned.append(store.where(obj.sha256))
        previous, obj, matched = obj.sha256, next(listed, None), False
        if obj is not None and obj.sha256 <= previous:
            raise DataLoss(f"the store's listing is out of order at {obj.sha256}")

    with db.session() as s:
        rows = s.execute(
            select(MediaItem.id, MediaItem.sha256, MediaItem.size_bytes)
            .order_by(MediaItem.sha256, MediaItem.id)
            .execution_options(yield_per=5000)
        )
        for media_id, sha256, size in rows:
            report.rows += 1
            if sha256 < last:  # a collation that is not byte order would misreport
                raise DataLoss(f"the catalog's order by sha256 is not byte order at {sha256}")
            last = sha256
            while obj is not None and obj.sha256 < sha256:
                advance()
            if obj is None or obj.sha256 != sha256:
                report.missing.append(media_id)
                continue
            matched = True
            if (level in (Level.SIZE, Level.HASH) and obj.size != size) or (
                level is Level.HASH and store.hash_of(sha256) != sha256
            ):
                report.corrupted.append(media_id)
    while obj is not None:
        advance()


def _now() -> dt.datetime:
    # Only the age of a crashed writer's unfinished upload is judged by it (INV-7).
    return SystemClock().now()


def _unlocked(path: os.PathLike[str]) -> bool:
    """True when no process holds the flock on ``path`` (its writer is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def _ingest_locks(db: Database, store: MediaStore, sha256: str) -> Iterator[bool]:
    """The locks an ingest of ``sha256`` holds from placing its original until its row
    commits, taken without waiting: True when none is held. On S3 the database's too:
    another host's ingest holds no lock of this one, and the object's age is no proof
    that it is over (a multipart upload's object is dated when the upload began)."""
    with contextlib.ExitStack() as stack:
        locked = stack.enter_context(store.try_hash_lock(sha256))
        if locked and store.remote is not None:
            locked = stack.enter_context(db.hash_lock(sha256, wait=False))
        yield locked


def _catalogued(db: Database, shas: list[str]) -> set[str]:
    """Which of ``shas`` some catalog item has (``ix_media_items_sha256``)."""
    with db.session() as s:
        return set(s.execute(select(MediaItem.sha256).where(MediaItem.sha256.in_(shas))).scalars())


def recover(
    db: Database,
    store: MediaStore,
    *,
    now: dt.datetime | None = None,
    audit: AuditLog | None = None,
    by: Who = RECOVERY_WHO,
) -> CheckReport:
    """Finish what crashed ingests left: drop dead ``.part`` files, abort stale uploads,
    quarantine orphans. What it changed is audited (``catalog.repair``, as ``by``) when
    ``audit`` is given and something changed (ACC-6: a file leaving the store's objects
    is a change to the evidence store, whoever asked for it)."""
    repairs = Repairs()
    store.create_dirs()
    for path in store.iter_temp_files():
        if _unlocked(path):
            log.warning("removing abandoned temp file %s", path)
            path.unlink(missing_ok=True)
            repairs.temp_removed.append(str(path.relative_to(store.root)))
    now = now or _now()
    repairs.uploads_aborted = store.abort_stale_uploads(
        now, lambda sha256: _ingest_locks(db, store, sha256)
    )
    stored = store.iter_stored(settled_before=now - ORPHAN_GRACE)
    while batch := list(itertools.islice(stored, LOOKUP_BATCH)):
        # The catalogued ones in one statement: a city's store holds millions of
        # originals, and this runs at every start. Only the others are locked and
        # asked about again, under the locks an ingest holds until its row commits.
        for sha256 in sorted(set(batch) - _catalogued(db, batch)):
            with _ingest_locks(db, store, sha256) as locked:
                if not locked:
                    continue  # an ingest of these bytes is between rename and commit
                if _catalogued(db, [sha256]):
                    continue
                target = store.set_aside_original(sha256)
                log.warning("orphaned original %s moved to %s", sha256, target)
                repairs.orphans_set_aside.append({"sha256": sha256, "moved_to": str(target)})
    if audit is not None and repairs:
        audit.record(db, by, "catalog.repair", "store:originals", details=asdict(repairs))
    report = check(db, store, Level.PRESENCE, now=now)
    report.repaired = repairs
    return report
