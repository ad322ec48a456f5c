"""The purge (INV-3, RET-13): delete expired, unheld items without ever losing held media.

The procedure, numbered as in docs/design/retention.md ("Purge"):

0. finish the intents an interrupted run left (startup replay; every run starts with it);
1. in one transaction: select a batch of items whose stored expiry has passed, taking
   their row locks (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite's ``BEGIN IMMEDIATE``),
   decide again from fresh facts (holds, cases, tags), and write a purge intent (the
   garbage row) for each item still expired; commit (durable);
2. take the store's hash locks of the batch without waiting (an ingest of the same bytes
   between rename and commit keeps its file; a busy lock defers the item to the next run);
3. in one transaction: lock the rows again, keep only items whose intent is still there
   (a hold placed in between cancelled it: the hold wins) and that are still expired when
   decided again (a tag or case made since can keep them too), unlink each file no other
   row references, fsync each directory once;
4. in the same transaction: delete the rows and intents, write a destruction record per
   item and one audit entry for the batch; commit.

A crash after 1 leaves intents: step 0 of the next run finishes them. A crash inside 3-4
rolls the transaction back with some files unlinked: their intents remain, step 0
finishes them (unlinking a missing file is a no-op). A hold meeting an intent whose file
is gone reports the item as purged, never as pinned.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, exists, insert, select, tuple_, union
from sqlalchemy.orm import Session

from retention.clock_guard import PurgeClockGuard
from retention.expiry import ExpiryService, Row, lock_rows, write_expiries
from retention.rules import is_expired
from vms import ids
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import DestructionRecord, MediaExpiry, MediaItem, MediaLink, PurgeIntent
from vms.events import EventBus
from vms.faults import crash_point
from vms.store import MediaStore, fsync_dir
from vms.store_guard import StoreGuard

log = logging.getLogger(__name__)

PURGE_WHO = Who("retention-purge", SYSTEM_ROLE)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PurgeCandidate:
    """An item a dry run would purge."""

    media_id: str
    source: str
    rule: str
    expired_at: dt.datetime


@dataclass
class PurgeReport:
    """What one run did (or, with ``dry_run``, would do)."""

    run_id: str
    dry_run: bool
    now: dt.datetime
    purged: int = 0
    bytes_freed: int = 0
    files_unlinked: int = 0
    replayed: int = 0  # intents of an interrupted run finished (step 0)
    kept: int = 0  # stored expiry had passed, but fresh facts keep the item (INV-3)
    deferred: int = 0  # hash lock busy or derived items: next run
    # Dry run only: the candidates, unless the run was given a sink for them
    # (``on_candidate``: ``vms purge --dry-run`` prints each as it is decided).
    would_purge: list[PurgeCandidate] = field(default_factory=list)
    candidates: int = 0  # dry run only: how many would be purged
    free_bytes: int | None = None
    disk_alarm: bool = False
    # Who the run's audit entries name: the job, or whoever started it by hand.
    by: Who = PURGE_WHO


_COLUMNS = (
    MediaItem.id,
    MediaItem.source,
    MediaItem.recorded_start,
    MediaItem.evidence,
    MediaItem.case_number,
    MediaItem.ingested_at,
    MediaItem.sha256,
    MediaExpiry.expires_at,
    MediaExpiry.retention_rule,
)


class Purger:
    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        expiry: ExpiryService,
        *,
        batch_size: int = 500,
        alarm_free_bytes: int = 0,
        guard: StoreGuard | None = None,
        clock_guard: PurgeClockGuard | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.clock = clock
        self.events = events
        self.expiry = expiry
        self.batch_size = batch_size
        self.alarm_free_bytes = alarm_free_bytes
        self.guard = guard
        self.clock_guard = clock_guard
        self.alarm_active = False
        self._io = ThreadPoolExecutor(max_workers=16, thread_name_prefix="purge-io")

    # -- the run ---------------------------------------------------------------------

    def run(
        self,
        *,
        dry_run: bool = False,
        by: Who = PURGE_WHO,
        confirm_clock: bool = False,
        on_candidate: Callable[[PurgeCandidate], None] | None = None,
    ) -> PurgeReport:
        """Purge everything expired at the clock's ``now`` (RET-13); ``dry_run`` only
        lists what would go: in ``report.would_purge``, or to ``on_candidate`` as each
        batch is decided, so a run of millions holds none of them. Audited as ``by``:
        the job, or ``vms purge``'s OS user. ``confirm_clock``: an operator says the
        clock is right although it reads far past the previous run
        (``vms purge --confirm-clock``, audited; RET-1, INV-3)."""
        now = self.clock.now()
        report = PurgeReport(run_id=ids.new_id(), dry_run=dry_run, now=now, by=by)
        sink = on_candidate if on_candidate is not None else report.would_purge.append
        if self.store.remote is not None:
            # A missing original counts as already unlinked (an interrupted run's): with
            # a wrong bucket every original would, and each expired item would be
            # recorded destroyed while its footage stays (RET-13, RET-1).
            self.store.remote.require_bucket()
        if not dry_run:
            self._require_store()
            if self.clock_guard is not None:
                # RET-1, INV-3: a clock set ahead would make everything expired at once.
                self.clock_guard.check(now, confirmed=confirm_clock, by=by)
            self.replay(report)  # 0.
            self.expiry.recompute_all(only_missing=True)
        cursor: tuple[dt.datetime, str] | None = None
        while True:
            decided, cursor = self._decide(now, cursor, report, sink)  # 1.
            if cursor is None:
                break
            if decided and not dry_run:
                self._destroy(decided, report)  # 2.-4.
        self.check_disk(report)
        if not dry_run:
            log.info(
                "purge %s: %d items purged (%d bytes, %d files), %d replayed, %d kept, %d deferred",
                report.run_id,
                report.purged,
                report.bytes_freed,
                report.files_unlinked,
                report.replayed,
                report.kept,
                report.deferred,
            )
        return report

    def replay(self, report: PurgeReport) -> int:
        """Step 0: finish every intent left by an interrupted run (INV-3 startup replay)."""
        done = 0
        after = ""
        while True:
            with self.db.session() as s:
                pending = list(
                    s.execute(
                        select(PurgeIntent.media_id)
                        .where(PurgeIntent.media_id > after)
                        .order_by(PurgeIntent.media_id)
                        .limit(self.batch_size)
                    ).scalars()
                )
            if not pending:
                break
            after = pending[-1]
            before = report.purged
            self._destroy(pending, report)
            done += report.purged - before
        report.replayed += done
        if done:
            log.warning("purge: finished %d items of an interrupted purge", done)
        return done

    # -- 1. decide and record the intent ---------------------------------------------

    def _decide(
        self,
        now: dt.datetime,
        cursor: tuple[dt.datetime, str] | None,
        report: PurgeReport,
        sink: Callable[[PurgeCandidate], None],
    ) -> tuple[list[str], tuple[dt.datetime, str] | None]:
        stmt = (
            select(*_COLUMNS)
            .select_from(MediaExpiry)
            .join(MediaItem, MediaItem.id == MediaExpiry.media_id)
            .where(
                MediaExpiry.expires_at <= now,
                ~exists().where(PurgeIntent.media_id == MediaExpiry.media_id),
            )
            .order_by(MediaExpiry.expires_at, MediaExpiry.media_id)
            .limit(self.batch_size)
        )
        if cursor is not None:
            # Row-value comparison: both databases walk ix_media_expiry_expires with it.
            stmt = stmt.where(
                tuple_(MediaExpiry.expires_at, MediaExpiry.media_id) > tuple_(*cursor)
            )
        with self._transaction(read_only=report.dry_run) as s:
            if lock_rows(s) and not report.dry_run:
                # Rows a hold is working on are skipped, not waited for: next run.
                stmt = stmt.with_for_update(skip_locked=True, of=MediaItem)
            raw = s.execute(stmt).all()
            if not raw:
                return [], None
            rows = [Row.of(r) for r in raw]
            decisions = self.expiry.decide(s, rows)  # INV-3: fresh facts, same transaction
            parents = self._with_derived(s, [r.id for r in raw])
            intents: list[dict[str, Any]] = []
            stale: list[dict[str, Any]] = []
            for r in raw:
                expiry = decisions[r.id]
                if not is_expired(expiry, now):
                    report.kept += 1
                    stale.append(
                        {"b_id": r.id, "b_expires": expiry.expires_at, "b_rule": expiry.rule}
                    )
                    continue
                if r.id in parents:
                    # Derived copies (court copies, redactions) were made from it (INV-2).
                    report.deferred += 1
                    continue
                assert expiry.expires_at is not None
                if report.dry_run:
                    report.candidates += 1
                    sink(PurgeCandidate(r.id, r.source, expiry.rule, expiry.expires_at))
                    continue
                intents.append(
                    {
                        "media_id": r.id,
                        "sha256": r.sha256,
                        "rule": expiry.rule,
                        "expired_at": expiry.expires_at,
                        "created_at": now,
                        "run_id": report.run_id,
                    }
                )
            if not report.dry_run:
                if stale:
                    write_expiries(s, stale)
                if intents:
                    s.execute(insert(PurgeIntent), intents)
            tail = raw[-1]
            next_cursor = (tail.expires_at, tail.id)
        if intents and not report.dry_run:
            crash_point("purge.after-intent")
        return [i["media_id"] for i in intents], next_cursor

    @contextlib.contextmanager
    def _transaction(self, *, read_only: bool) -> Iterator[Session]:
        if read_only:
            with self.db.session() as s:
                yield s
        else:
            with self.db.transaction() as s:
                yield s

    def _with_derived(self, s: Session, media_ids: Sequence[str]) -> set[str]:
        """Which of ``media_ids`` derived items were made from (INV-2, REL-2): their
        ``derived_from_id`` names only the first original; ``media_links`` names every
        one (a clip cut across two segments, an export of several items). A link goes
        with its derived item (``ON DELETE CASCADE``), so a link is a derived copy still
        catalogued."""
        ids = list(media_ids)
        first = select(MediaItem.derived_from_id).where(MediaItem.derived_from_id.in_(ids))
        linked = select(MediaLink.source_id).where(MediaLink.source_id.in_(ids))
        return {parent for parent in s.execute(union(first, linked)).scalars() if parent}

    # -- 2.-4. unlink and record -----------------------------------------------------

    def _destroy(self, media_ids: Sequence[str], report: PurgeReport) -> None:
        with contextlib.ExitStack() as stack:
            shas = self._shas(media_ids)
            prefixes: dict[str, bool] = {}
            ready: list[str] = []
            for media_id in media_ids:
                sha = shas.get(media_id)
                if sha is None:
                    continue  # gone meanwhile (another purge process finished it)
                prefix = sha[:2]
                if prefix not in prefixes:
                    # 2. never wait for a hash lock: an ingest holding it may be waiting
                    # for the database we are about to lock.
                    prefixes[prefix] = stack.enter_context(self.store.try_hash_lock(sha))
                    if prefixes[prefix] and self.store.remote is not None:
                        # A bucket shared by several hosts: their ingests take the
                        # database's hash lock, which this host's file lock does not see.
                        prefixes[prefix] = stack.enter_context(self.db.hash_lock(sha, wait=False))
                if prefixes[prefix]:
                    ready.append(media_id)
                else:
                    report.deferred += 1
            if ready:
                self._unlink_and_record(ready, report)

    def _shas(self, media_ids: Sequence[str]) -> dict[str, str]:
        with self.db.session() as s:
            return dict(
                s.execute(
                    select(PurgeIntent.media_id, PurgeIntent.sha256).where(
                        PurgeIntent.media_id.in_(list(media_ids))
                    )
                ).all()
            )

    def _unlink_and_record(self, media_ids: Sequence[str], report: PurgeReport) -> None:
        self._require_store()  # before each batch: a volume can go away mid-run
        now = self.clock.now()
        with self.db.transaction() as s:
            stmt = (
                select(
                    MediaItem.id,
                    MediaItem.sha256,
                    MediaItem.source,
                    MediaItem.device_id,
                    MediaItem.officer_badge,
                    MediaItem.recorded_start,
                    MediaItem.recorded_end,
                    MediaItem.size_bytes,
                    MediaItem.case_number,
                    MediaItem.evidence,
                    MediaItem.ingested_at,
                )
                .where(MediaItem.id.in_(list(media_ids)))
                .order_by(MediaItem.id)
            )
            if lock_rows(s):
                stmt = stmt.with_for_update(of=MediaItem)
            items = {r.id: r for r in s.execute(stmt).all()}
            # 3. only intents still standing: a hold may have cancelled some (INV-3).
            intents = {
                i.media_id: i
                for i in s.execute(
                    select(PurgeIntent).where(PurgeIntent.media_id.in_(list(items)))
                ).scalars()
            }
            parents = self._with_derived(s, list(intents))
            if parents:
                s.execute(delete(PurgeIntent).where(PurgeIntent.media_id.in_(sorted(parents))))
                report.deferred += len(parents)
            todo = [items[m] for m in sorted(intents) if m not in parents]
            todo = self._still_expired(s, todo, report)
            if not todo:
                return
            todo_ids = [r.id for r in todo]
            shas = {r.sha256 for r in todo}
            # Several rows may share one file (same bytes, different devices): unlink
            # only when no row outside this batch still references it.
            shared = set(
                s.execute(
                    select(MediaItem.sha256).where(
                        MediaItem.sha256.in_(sorted(shas)), MediaItem.id.not_in(todo_ids)
                    )
                ).scalars()
            )
            unlinked = sorted(shas - shared)
            if self.store.remote is not None:
                # S3: release the object's legal hold, then delete every version of it
                # (docs/design/storage.md, "S3 backend"); in parallel, like the unlinks.
                report.files_unlinked += sum(self._each(self._remove_object, unlinked))
                crash_point("purge.after-unlink")
                crash_point("purge.after-fsync")
            else:
                paths = [self.store.path_for(sha) for sha in unlinked]
                # Unlinks and fsyncs run in parallel threads: each waits on the file
                # system's journal, and concurrent ones share its commits (several times
                # faster than one after another on ext4).
                report.files_unlinked += sum(self._each(_unlink, paths))
                crash_point("purge.after-unlink")
                dirs = {path.parent for path in paths}
                self._each(fsync_dir, sorted(dirs))  # one fsync per directory
                crash_point("purge.after-fsync")
            removed = set(unlinked)
            # 4. rows out, destruction records in, one audit entry: one commit.
            s.execute(delete(PurgeIntent).where(PurgeIntent.media_id.in_(todo_ids)))
            s.execute(delete(MediaExpiry).where(MediaExpiry.media_id.in_(todo_ids)))
            s.execute(delete(MediaItem).where(MediaItem.id.in_(todo_ids)))
            s.execute(
                insert(DestructionRecord),
                [
                    {
                        "media_id": r.id,
                        "sha256": r.sha256,
                        "source": r.source,
                        "device_id": r.device_id,
                        "officer_badge": r.officer_badge,
                        "recorded_start": r.recorded_start,
                        "recorded_end": r.recorded_end,
                        "size_bytes": r.size_bytes,
                        "case_number": r.case_number,
                        "rule": intents[r.id].rule,
                        "expired_at": intents[r.id].expired_at,
                        "purged_at": now,
                        "run_id": report.run_id,
                        "file_unlinked": r.sha256 in removed,
                    }
                    for r in todo
                ],
            )
            freed = sum(r.size_bytes for r in todo if r.sha256 in removed)
            self.audit.append(
                s,
                report.by,
                "retention.purge",
                f"purge:{report.run_id}",
                details={"items": len(todo), "bytes": freed, "media_ids": todo_ids},
            )
        crash_point("purge.after-commit")
        report.purged += len(todo)
        report.bytes_freed += freed

    def _each(self, step: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``step`` of every item in parallel (the I/O threads); the results in order once
        **all** have ended, then the first error raised. Never sooner: the caller holds
        the batch's hash locks, and an ingest of the same bytes let in while another
        deletion of the batch is still under way would catalogue a row on an object
        about to go (INV-1, INV-3)."""
        futures = [self._io.submit(step, one) for one in items]
        wait(futures)
        return [future.result() for future in futures]

    def _still_expired(self, s: Session, rows: Sequence[Any], report: PurgeReport) -> list[Any]:
        """3. Decide again under the row locks, just before unlinking (INV-3): since the
        intent was written the item may have become evidence (a TAG-6 category) or part
        of an open case, which cancel no intent by themselves. Their intents go; an item
        whose file an interrupted run already unlinked cannot be kept and is recorded."""
        decisions = self.expiry.decide(s, [Row.of(r) for r in rows])
        keep: list[str] = []
        out: list[Any] = []
        for r in rows:
            expiry = decisions[r.id]
            if is_expired(expiry, report.now):
                out.append(r)
            elif self.store.exists(r.sha256):
                keep.append(r.id)
            else:
                log.error(
                    "purge: media %s is kept now (%s), but an interrupted purge already "
                    "unlinked its file; recording its destruction",
                    r.id,
                    expiry.rule,
                )
                out.append(r)
        if keep:
            s.execute(delete(PurgeIntent).where(PurgeIntent.media_id.in_(keep)))
            report.kept += len(keep)
            log.info("purge: %d items kept after all (decided again): %s", len(keep), keep)
        return out

    def _require_store(self) -> None:
        """The local media folder is the catalog's store (RET-1, INV-3): a missing
        original counts as one an interrupted run already unlinked, so with the store's
        volume not mounted every expired item would be recorded destroyed while its
        footage stays on the volume (vms/store_guard.py)."""
        if self.guard is not None:
            self.guard.require("purge")

    # -- disk pressure ---------------------------------------------------------------

    def check_disk(self, report: PurgeReport) -> None:
        """After purging what expired: if free space is still below the threshold, only
        held or unexpired media remain, and nothing more may be deleted (INV-3). Raise
        the alarm (log, Socket.IO event, audit on each change); ingest refuses new
        recordings below its reserve, so recording stops instead of evidence going."""
        try:
            free = self.store.free_bytes()
        except FileNotFoundError:
            return
        report.free_bytes = free
        alarm = free < self.alarm_free_bytes
        report.disk_alarm = alarm
        if report.dry_run:
            return
        if alarm:
            log.error(
                "DISK ALARM: media store %s has %d bytes free (threshold %d) and nothing "
                "expired is left to purge; held media is never deleted for space (INV-3)",
                self.store.root,
                free,
                self.alarm_free_bytes,
            )
            self.events.publish(
                "retention.disk_alarm",
                {"free_bytes": free, "threshold_bytes": self.alarm_free_bytes, "active": True},
            )
        if alarm != self.alarm_active:
            self.alarm_active = alarm
            self.audit.record(
                self.db,
                PURGE_WHO,
                "retention.disk_alarm",
                f"store:{self.store.root}",
                outcome="raised" if alarm else "cleared",
                details={"free_bytes": free, "threshold_bytes": self.alarm_free_bytes},
            )
            if not alarm:
                self.events.publish(
                    "retention.disk_alarm",
                    {"free_bytes": free, "threshold_bytes": self.alarm_free_bytes, "active": False},
                )

    def _remove_object(self, sha256: str) -> bool:
        """Release the legal hold of a stored object and delete it (S3); False when it
        was already gone (a replay after a crash). The intent row is written and the
        item decided again under its row lock before this runs (INV-3)."""
        if not self.store.exists(sha256):
            return False
        self.store.release_hold(sha256)
        crash_point("purge.after-release")
        self.store.remove(sha256)
        return True


def _unlink(path: Path) -> bool:
    """Unlink ``path``; False when it was already gone (a replay after a crash)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
