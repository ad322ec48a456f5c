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

import datetime as dt
import enum
import fcntl
import logging
import os
from dataclasses import dataclass, field

from sqlalchemy import select

from vms.clock import SystemClock
from vms.db.engine import Database
from vms.db.models import MediaItem
from vms.store import ORPHAN_GRACE, MediaStore

log = logging.getLogger(__name__)


class Level(enum.StrEnum):
    PRESENCE = "presence"
    SIZE = "size"
    HASH = "hash"


@dataclass
class CheckReport:
    rows: int = 0
    files: int = 0
    missing: list[str] = field(default_factory=list)  # media ids
    orphaned: list[str] = field(default_factory=list)  # store paths
    corrupted: list[str] = field(default_factory=list)  # media ids
    temp_files: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # store paths

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
    # A young object without a row may be another node's ingest about to commit it.
    for sha256, settled in store.iter_stored_settled((now or _now()) - ORPHAN_GRACE):
        report.files += 1
        if settled and sha256 not in expected:
            report.orphaned.append(store.where(sha256))
    report.temp_files = [str(p.relative_to(store.root)) for p in store.iter_temp_files()]
    report.temp_files += store.stale_uploads(now or _now())
    report.quarantined = [str(p.relative_to(store.root)) for p in store.iter_quarantined()]
    return report


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


def recover(db: Database, store: MediaStore, *, now: dt.datetime | None = None) -> CheckReport:
    """Finish what crashed ingests left: drop dead ``.part`` files, quarantine orphans."""
    store.create_dirs()
    for path in store.iter_temp_files():
        if _unlocked(path):
            log.warning("removing abandoned temp file %s", path)
            path.unlink(missing_ok=True)
    now = now or _now()
    store.abort_stale_uploads(now)
    for sha256 in list(store.iter_stored(settled_before=now - ORPHAN_GRACE)):
        with store.try_hash_lock(sha256) as locked:
            if not locked:
                continue  # an ingest of these bytes is between rename and commit
            with db.session() as s:
                known = s.execute(
                    select(MediaItem.id).where(MediaItem.sha256 == sha256).limit(1)
                ).scalar()
            if known is None:
                target = store.set_aside_original(sha256)
                log.warning("orphaned original %s moved to %s", sha256, target)
    return check(db, store, Level.PRESENCE, now=now)
