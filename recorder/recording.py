"""Recording facts in the database: gaps (OPS-4), on/off state (audited), the timeline.

Services own their transactions and write the audit entry in them (ACC-6). Gaps are
opened when recording stops for a cause and closed (``end`` set) when the next segment
starts; an open gap shows as ongoing in the timeline.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor, ItemFacts, Scope, scope_of
from vms.catalog import fixed_segments_of, segments_from
from vms.clock import Clock, ensure_utc, isoformat
from vms.db.engine import Database, poll_in, poll_keys
from vms.db.models import CustodyEvent, MediaItem, RecordingGap, RecordingState, SourceKind
from vms.errors import InvalidArgument, NotFound
from vms.leases import LeaseLost, check_camera_fence

if TYPE_CHECKING:
    from recorder.engine import EngineStatus

log = logging.getLogger(__name__)

MAX_TIMELINE = dt.timedelta(days=31)
#: The cause of the gap a media node opens when it takes a camera over from a node that
#: let its lease run out (recorder/segments.py, ``_resume_gap``).
TAKEOVER = "takeover"
#: The cause of the gap a camera never recorded before starts with: from its writer's
#: start (recording on) to its first segment, which waits for the camera's first
#: keyframe (recorder/segment_gaps.py, ``_resume_gap``).
ADDED = "added"
#: Causes that say only that the recorder itself was not recording the camera (yet):
#: a new camera's start, a restart, a crash, a takeover, a stop, a hand-over, a
#: reconfiguration. Such a gap gives way to the camera's own cause the moment one is
#: known (a connection failing: ``camera_down``; recording turned off): it is closed
#: there and a gap with that cause opened, so a gap's cause says why the footage is
#: missing for as long as it is (OPS-4; recorder/segments.py, ``_item``).
RECORDER_CAUSES = frozenset(
    {ADDED, TAKEOVER, "crash", "restart", "stopped", "handed over", "reconfigured"}
)
#: The cause of the span of a segment the object store did not take (503, a timeout, a
#: refused connection): kept in the node's spool and ingested again when the store
#: answers, which takes the gap back out of the timeline (recorder/pending.py).
STORE_UNAVAILABLE = "store_unavailable"
RECORDER = Who("recorder", "system")
# The segment writers' every-second read (RecordingLog.enabled_all), built once: building
# a statement costs about as much as running it. A hundred cameras a statement.
_ENABLED = select(RecordingState.camera_id, RecordingState.enabled).where(
    poll_in(RecordingState.camera_id)
)


@dataclass(frozen=True)
class SetRecording:
    """Turn a camera's recording on (``enabled``) or off, saying why (``reason``, kept
    in the audit entry)."""

    enabled: bool
    reason: str = ""


@dataclass(frozen=True)
class RecordingSetting:
    """Whether a camera is recorded, and who last changed that when (None: never
    changed, recording by default). ``engine``: the media engine's reading, when the
    reader has one (the live API adds it)."""

    camera_id: str
    recording: bool
    changed_at: dt.datetime | None
    changed_by: str | None
    engine: EngineStatus | None = None


@dataclass(frozen=True)
class TimelineWindow:
    """The stretch of a timeline asked for; None: ``end`` now, ``start`` an hour before
    ``end``."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass(frozen=True)
class TimelineSegment:
    media_id: str
    start: dt.datetime
    end: dt.datetime | None
    size_bytes: int
    mask_version: int
    masked: bool


@dataclass(frozen=True)
class TimelineGap:
    start: dt.datetime
    end: dt.datetime | None  # None: still open
    cause: str
    detail: str | None


@dataclass(frozen=True)
class Timeline:
    """A camera's recorded segments and gaps overlapping ``start..end``."""

    camera_id: str
    start: dt.datetime
    end: dt.datetime
    segments: tuple[TimelineSegment, ...]
    gaps: tuple[TimelineGap, ...]


class RecordingLog:
    """Gaps, recording state and the per-camera timeline."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock, authoriser: Authoriser) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser

    # -- gaps (OPS-4) ---------------------------------------------------------------------

    def open_gap(
        self,
        camera_id: str,
        start: dt.datetime,
        cause: str,
        detail: str,
        fence: int | None = None,
        *,
        end: dt.datetime | None = None,
    ) -> int:
        """A gap of ``camera_id`` from ``start``, open (or closed at ``end``). ``fence``:
        the camera lease token the caller records under (LeaseLost once it has passed to
        another node, which records the camera now; issue 13.1, OPS-4); None: not
        fenced."""
        with self.db.transaction() as s:
            if fence is not None:
                check_camera_fence(s, camera_id, fence, "gap", "written")
            gap = RecordingGap(
                camera_id=camera_id,
                start=ensure_utc(start),
                end=None if end is None else max(ensure_utc(end), ensure_utc(start)),
                cause=cause,
                detail=detail[:500] or None,
            )
            s.add(gap)
            s.flush()
            gap_id = gap.id
        log.warning(
            "camera %s: recording gap %d opened at %s (%s: %s)",
            camera_id,
            gap_id,
            start.isoformat(),
            cause,
            detail,
        )
        return gap_id

    def close_gap(
        self, gap_id: int, end: dt.datetime, fence: int | None = None, *, drop_empty: bool = False
    ) -> None:
        """Close gap ``gap_id`` at ``end``; ``fence`` as for :meth:`open_gap` (the new
        holder of the camera continues a gap left open, and closes it). ``drop_empty``:
        a gap that would close at or before its start is removed (nothing was missed)."""
        with self.db.transaction() as s:
            gap = s.get(RecordingGap, gap_id)
            if gap is None:
                raise NotFound(f"recording gap {gap_id} does not exist")
            if fence is not None:
                check_camera_fence(s, gap.camera_id, fence, "gap", "closed")
            camera_id, cause, start = gap.camera_id, gap.cause, gap.start
            if drop_empty and ensure_utc(end) <= ensure_utc(start):
                s.delete(gap)
                log.info("camera %s: empty recording gap %d (%s) removed", camera_id, gap_id, cause)
                return
            gap.end = max(ensure_utc(end), gap.start)
        log.info(
            "camera %s: recording gap %d (%s) closed, %.1f s",
            camera_id,
            gap_id,
            cause,
            (end - start).total_seconds(),
        )

    def open_gaps(self, camera_id: str) -> list[RecordingGap]:
        with self.db.session() as s:
            return list(
                s.execute(
                    select(RecordingGap)
                    .where(RecordingGap.camera_id == camera_id, RecordingGap.end.is_(None))
                    .order_by(RecordingGap.start)
                ).scalars()
            )

    def last_written(self, camera_id: str) -> dt.datetime | None:
        """Where the camera's recording is known to have stopped: the latest end of a
        segment or of a closed gap (a gap ends at the first packet of a segment, which a
        crash may then have lost). A restart's gap starts here, so gaps never overlap
        segments or each other (OPS-4)."""
        with self.db.session() as s:
            segment = s.execute(
                select(func.max(MediaItem.recorded_end)).where(
                    MediaItem.device_id == camera_id, MediaItem.source == SourceKind.FIXED.value
                )
            ).scalar_one_or_none()
            gap = s.execute(
                select(func.max(RecordingGap.end)).where(RecordingGap.camera_id == camera_id)
            ).scalar_one_or_none()
        known = [ensure_utc(t) for t in (segment, gap) if t is not None]
        return max(known) if known else None

    def settle_open_gaps(
        self, camera_id: str, fence: int | None = None
    ) -> tuple[int, str, dt.datetime] | None:
        """After a crash: close every open gap that recording resumed after (at the
        start of the next segment or gap; e.g. a salvaged segment) and return the id,
        cause and start of the one still open, if any, for the new run to continue
        (OPS-4). ``fence`` as for :meth:`open_gap`: a run started under a lease that has
        passed on settles nothing (LeaseLost); the gaps are the new holder's."""
        remaining: tuple[int, str, dt.datetime] | None = None
        with self.db.transaction() as s:
            if fence is not None:
                check_camera_fence(s, camera_id, fence, "gap", "settled")
            open_gaps = s.execute(
                select(RecordingGap)
                .where(RecordingGap.camera_id == camera_id, RecordingGap.end.is_(None))
                .order_by(RecordingGap.start, RecordingGap.id)
                .with_for_update()
            ).scalars()
            for gap in list(open_gaps):
                resumed = [
                    t
                    for t in (
                        s.execute(
                            select(func.min(MediaItem.recorded_start)).where(
                                MediaItem.device_id == camera_id,
                                MediaItem.source == SourceKind.FIXED.value,
                                MediaItem.recorded_start >= gap.start,
                            )
                        ).scalar_one_or_none(),
                        s.execute(
                            select(func.min(RecordingGap.start)).where(
                                RecordingGap.camera_id == camera_id,
                                RecordingGap.id != gap.id,
                                RecordingGap.start >= gap.start,
                            )
                        ).scalar_one_or_none(),
                    )
                    if t is not None
                ]
                if resumed:
                    gap.end = ensure_utc(min(resumed))
                    log.info(
                        "camera %s: recording gap %d (%s) closed at %s, where recording resumed",
                        camera_id,
                        gap.id,
                        gap.cause,
                        gap.end.isoformat(),
                    )
                else:
                    remaining = (gap.id, gap.cause, ensure_utc(gap.start))
        return remaining

    @staticmethod
    def fill_takeover_gap(
        s: Session,
        camera_id: str,
        lost: LeaseLost,
        start: dt.datetime,
        end: dt.datetime | None,
    ) -> dict[str, str]:
        """In the catalog transaction of a crash leftover recorded under a lease another
        node has claimed since (``lost``; the lease row locked by the fence check, so
        no holder catalogues a segment or writes a gap meanwhile): let the segment
        ``start``..``end`` in only if it provably overlaps nothing another holder
        recorded, i.e. it lies inside one closed ``takeover`` gap, which runs from the
        last thing catalogued to the new holder's first packet (that closed it), and
        overlaps no segment and no other gap. The gap is split around the segment: its
        row keeps the dead time after it (cause and detail unchanged), a row with the
        same cause keeps any time before it (OPS-4). Otherwise LeaseLost, saying why
        (procedure 5.6 of docs/design/recording.md; INV-9). Returns the custody facts."""

        def refuse(why: str) -> NoReturn:
            raise LeaseLost(f"{lost}; {why}") from lost

        if end is None or end <= start:
            refuse("it has no span to place")
        start, end = ensure_utc(start), ensure_utc(end)
        around = list(
            s.execute(
                select(RecordingGap)
                .where(
                    RecordingGap.camera_id == camera_id,
                    RecordingGap.start < end,
                    or_(RecordingGap.end.is_(None), RecordingGap.end > start),
                )
                .order_by(RecordingGap.start, RecordingGap.id)
                .with_for_update()
            ).scalars()
        )
        if len(around) != 1 or around[0].cause != TAKEOVER:
            refuse(
                "its span is not inside one takeover gap of the new holder "
                f"({', '.join(g.cause for g in around) or 'no gap'} there)"
            )
        [gap] = around
        if gap.end is None:
            refuse(f"the new holder's takeover gap {gap.id} is open: its first packet is unknown")
        gap_start, gap_end = ensure_utc(gap.start), ensure_utc(gap.end)
        if gap_start > start or gap_end < end:
            refuse(
                f"it runs past takeover gap {gap.id} ({gap_start.isoformat()} to "
                f"{gap_end.isoformat()}, the new holder's first packet)"
            )
        overlapping = s.execute(
            select(func.count(MediaItem.id)).where(
                MediaItem.device_id == camera_id,
                MediaItem.source == SourceKind.FIXED.value,
                MediaItem.recorded_start < end,
                or_(MediaItem.recorded_end.is_(None), MediaItem.recorded_end > start),
            )
        ).scalar_one()
        if overlapping:
            refuse(f"it overlaps {overlapping} catalogued segment(s)")
        if gap_start < start:
            s.add(
                RecordingGap(
                    camera_id=camera_id,
                    start=gap_start,
                    end=start,
                    cause=gap.cause,
                    detail=gap.detail,
                )
            )
        gap.start = end
        log.warning(
            "camera %s: takeover gap %d %s..%s -> %s..%s: a crash leftover of a lease "
            "claimed since (%s) is catalogued before the new holder's first packet",
            camera_id,
            gap.id,
            gap_start.isoformat(),
            gap_end.isoformat(),
            end.isoformat(),
            gap_end.isoformat(),
            lost,
        )
        return {
            "lease": f"claimed since by another media node; catalogued in takeover gap "
            f"{gap.id}, before the new holder's first packet at {gap_end.isoformat()}"
        }

    def unavailable_gap(
        self,
        camera_id: str,
        start: dt.datetime,
        end: dt.datetime,
        detail: str,
        fence: int | None = None,
    ) -> None:
        """The span of a spool file the start's salvage keeps because the object store
        does not answer, as a closed ``store_unavailable`` gap, unless one starts there
        already (a start before kept it too). ``fence`` as for :meth:`open_gap`."""
        with self.db.transaction() as s:
            if fence is not None:
                check_camera_fence(s, camera_id, fence, "gap", "written")
            start = ensure_utc(start)
            there = s.execute(
                select(RecordingGap.id).where(
                    RecordingGap.camera_id == camera_id,
                    RecordingGap.cause == STORE_UNAVAILABLE,
                    RecordingGap.start == start,
                )
            ).first()
            if there is not None:
                return
            s.add(
                RecordingGap(
                    camera_id=camera_id,
                    start=start,
                    end=max(ensure_utc(end), start),
                    cause=STORE_UNAVAILABLE,
                    detail=detail[:500] or None,
                )
            )

    @staticmethod
    def take_back_unavailable(
        s: Session, camera_id: str, start: dt.datetime, end: dt.datetime | None
    ) -> None:
        """In the catalog transaction of a segment kept for retry while the object store
        did not answer (or salvaged after): its span ``start``..``end`` is footage now,
        so the ``store_unavailable`` gaps are cut out of it, what they had outside it
        kept (OPS-4: gaps never overlap segments)."""
        if end is None or end <= start:
            return
        start, end = ensure_utc(start), ensure_utc(end)
        around = s.execute(
            select(RecordingGap)
            .where(
                RecordingGap.camera_id == camera_id,
                RecordingGap.cause == STORE_UNAVAILABLE,
                RecordingGap.start < end,
                or_(RecordingGap.end.is_(None), RecordingGap.end > start),
            )
            .with_for_update()
        ).scalars()
        for gap in list(around):
            gap_start = ensure_utc(gap.start)
            after = gap.end is None or ensure_utc(gap.end) > end
            if gap_start < start and after:
                s.add(
                    RecordingGap(
                        camera_id=camera_id,
                        start=gap_start,
                        end=start,
                        cause=gap.cause,
                        detail=gap.detail,
                    )
                )
                gap.start = end
            elif gap_start < start:
                gap.end = start
            elif after:
                gap.start = end
            else:
                s.delete(gap)
            log.info(
                "camera %s: %s gap %d from %s: the segment %s..%s kept for it is catalogued",
                camera_id,
                STORE_UNAVAILABLE,
                gap.id,
                gap_start.isoformat(),
                start.isoformat(),
                end.isoformat(),
            )

    def quarantined(self, camera_id: str, file: str, size: int, reason: str) -> None:
        """Audit that a spool file the recorder could not (fully) read was set aside in
        the store's quarantine (never deleted; ``vms catalog check`` lists it)."""
        self.audit.record(
            self.db,
            RECORDER,
            "recording.quarantine",
            f"camera:{camera_id}",
            details={"file": file, "size_bytes": size, "reason": reason[:300]},
        )

    # -- on/off ---------------------------------------------------------------------------

    def enabled(self, camera_id: str) -> bool:
        """Whether ``camera_id`` is recorded (one indexed lookup on the process's poll
        connection, ``Database.poll``)."""
        return self.enabled_all((camera_id,))[camera_id]

    def enabled_all(self, camera_ids: Iterable[str]) -> dict[str, bool]:
        """:meth:`enabled` of each of ``camera_ids`` in one read transaction (the
        recorder asks every second for all its cameras at once: ``recorder.polls``)."""
        cameras = list(dict.fromkeys(camera_ids))
        out = dict.fromkeys(cameras, True)
        with self.db.poll() as c:
            for params in poll_keys(cameras):
                out.update((str(camera_id), bool(on)) for camera_id, on in c.all(_ENABLED, params))
        return out

    def state(self, actor: Actor, camera_id: str) -> RecordingSetting:
        """Whether ``camera_id`` is recorded (``live.view``)."""
        self.authoriser.require(actor, Action.LIVE_VIEW, f"camera:{camera_id}")
        with self.db.session() as s:
            row = s.get(RecordingState, camera_id)
            if row is None:
                return RecordingSetting(camera_id, True, None, None)
            return RecordingSetting(camera_id, row.enabled, row.changed_at, row.changed_by)

    def wall_states(self, actor: Actor, camera_ids: list[str]) -> dict[str, str]:
        """One line per camera for the wall's tiles (``live.view``): "recording",
        "recording off", or the cause of the gap open now (OPS-4), from the database, so
        a web role without the media engine shows it too."""
        self.authoriser.require(actor, Action.LIVE_VIEW, "live")
        with self.db.session() as s:
            off = set(
                s.execute(
                    select(RecordingState.camera_id).where(
                        RecordingState.camera_id.in_(camera_ids),
                        RecordingState.enabled.is_(False),
                    )
                ).scalars()
            )
            open_gaps = {
                g.camera_id: g
                for g in s.execute(
                    select(RecordingGap)
                    .where(RecordingGap.camera_id.in_(camera_ids), RecordingGap.end.is_(None))
                    .order_by(RecordingGap.start)
                ).scalars()
            }
        out = {}
        for camera_id in camera_ids:
            gap = open_gaps.get(camera_id)
            if camera_id in off:
                out[camera_id] = "recording off"
            elif gap is not None:
                cause = gap.cause.replace("_", " ")
                out[camera_id] = f"not recording since {gap.start:%H:%M:%S} UTC ({cause})"
            else:
                out[camera_id] = "recording"
        return out

    def set_enabled(
        self, actor: Actor | Who, camera_id: str, command: SetRecording
    ) -> RecordingSetting:
        """Turn recording on or off (admins; audited with the old and new state)."""
        if isinstance(actor, Actor):
            self.authoriser.require(actor, Action.CAMERAS_MANAGE, f"camera:{camera_id}")
            by = who(actor)
        else:
            by = actor
        enabled = command.enabled
        now = self.clock.now()
        with self.db.transaction() as s:
            row = s.get(RecordingState, camera_id, with_for_update=True)
            old = True if row is None else row.enabled
            if row is None:
                row = RecordingState(
                    camera_id=camera_id, enabled=enabled, changed_at=now, changed_by=by.name
                )
                s.add(row)
            else:
                row.enabled, row.changed_at, row.changed_by = enabled, now, by.name
            self.audit.append(
                s,
                by,
                "recording.set",
                f"camera:{camera_id}",
                details={"old": old, "new": enabled, "reason": command.reason[:200]},
            )
        log.info(
            "camera %s: recording %s -> %s by %s",
            camera_id,
            "on" if old else "off",
            "on" if enabled else "off",
            by.name,
        )
        return RecordingSetting(camera_id, enabled, now, by.name)

    # -- timeline -------------------------------------------------------------------------

    def timeline(self, actor: Actor, camera_id: str, window: TimelineWindow) -> Timeline:
        """Segments and gaps of ``camera_id`` overlapping the window (metadata; the same
        role check as catalog search); at most 31 days."""
        self.authoriser.require(actor, Action.MEDIA_SEARCH, f"camera:{camera_id}")
        end = window.end or self.clock.now()
        start = window.start or end - dt.timedelta(hours=1)
        if end <= start:
            raise InvalidArgument(f"end {end.isoformat()} must be after start {start.isoformat()}")
        if end - start > MAX_TIMELINE:
            raise InvalidArgument("a timeline spans at most 31 days")
        scoped = bool(_search_scope(actor))
        with self.db.session() as s:
            items = s.execute(
                # The columns shown, not the catalog item: its categories and expiry
                # (eager loads, 500 ids a statement) would grow with the window.
                select(
                    MediaItem.id,
                    MediaItem.recorded_start,
                    MediaItem.recorded_end,
                    MediaItem.size_bytes,
                    CustodyEvent.details,
                )
                .join(
                    CustodyEvent,
                    and_(
                        CustodyEvent.media_id == MediaItem.id,
                        CustodyEvent.action == "ingested",
                    ),
                )
                .where(
                    fixed_segments_of(camera_id),
                    # Seek to the segment covering ``start`` (one writer per camera,
                    # INV-9): bounded by ``end`` alone, the range read the camera's
                    # whole history before the window.
                    MediaItem.recorded_start >= segments_from(s, camera_id, start),
                    MediaItem.recorded_start < end,
                    or_(MediaItem.recorded_end.is_(None), MediaItem.recorded_end > start),
                    *_search_scope(actor),
                )
                .order_by(MediaItem.recorded_start)
                .limit(5000)
            ).all()
            gaps = s.execute(
                select(RecordingGap)
                .where(
                    RecordingGap.camera_id == camera_id,
                    RecordingGap.start < end,
                    or_(RecordingGap.end.is_(None), RecordingGap.end > start),
                )
                .order_by(RecordingGap.start)
            ).scalars()
            timeline = Timeline(
                camera_id,
                start,
                end,
                tuple(
                    TimelineSegment(
                        media_id=media_id,
                        start=began,
                        end=ended,
                        size_bytes=size,
                        mask_version=int((details or {}).get("mask_version", 0)),
                        masked=(details or {}).get("masked") == "true",
                    )
                    for media_id, began, ended, size, details in items
                ),
                tuple(
                    TimelineGap(g.start, g.end, g.cause, g.detail)
                    for g in gaps
                    # Gaps are the camera's, not an item's: a role scoped to its own
                    # items (an officer) sees none of a fixed camera's (issue 10.13).
                    if not scoped
                ),
            )
        # ACC-6: a metadata view is audited with what it showed.
        self.audit.record(
            self.db,
            who(actor),
            "recording.timeline",
            f"camera:{camera_id}",
            details={
                "start": isoformat(start),
                "end": isoformat(end),
                "media_ids": [seg.media_id for seg in timeline.segments],
                "gaps": len(timeline.gaps),
            },
        )
        return timeline

    def segment_at(self, actor: Actor, camera_id: str, at: dt.datetime) -> tuple[str, float]:
        """The segment covering ``at`` and the offset into it (seconds), or the next one
        after ``at`` (offset 0) when ``at`` falls into a gap.

        ACC-1: ``actor`` must be able to view a fixed camera's footage (its segments carry
        no officer's badge) before anything is looked up, else 403 (audited): a 404 "no
        recording" would tell a dispatcher or an officer when the camera recorded. The
        segment found is checked again when served (restricted, privacy-sensitive)."""
        self.authoriser.require(
            actor, Action.MEDIA_VIEW, f"camera:{camera_id}", ItemFacts(None, False)
        )
        with self.db.session() as s:
            item = s.execute(
                select(MediaItem)
                .where(
                    MediaItem.device_id == camera_id,
                    MediaItem.source == SourceKind.FIXED.value,
                    MediaItem.recorded_start <= at,
                    MediaItem.recorded_end > at,
                )
                .order_by(MediaItem.recorded_start.desc())
                .limit(1)
            ).scalar_one_or_none()
            if item is not None:
                return item.id, (at - item.recorded_start).total_seconds()
            nxt = s.execute(
                select(MediaItem)
                .where(
                    MediaItem.device_id == camera_id,
                    MediaItem.source == SourceKind.FIXED.value,
                    MediaItem.recorded_start > at,
                )
                .order_by(MediaItem.recorded_start)
                .limit(1)
            ).scalar_one_or_none()
            if nxt is None:
                raise NotFound(f"camera {camera_id} has no recording at or after {at.isoformat()}")
            return nxt.id, 0.0


def _search_scope(actor: Actor) -> list[Any]:
    """The catalog search's scope as conditions (ACC-1): roles that search only their
    own (or supervised) items see only segments carrying one of their badges, i.e.
    none of a fixed camera's."""
    scope = scope_of(actor.role, Action.MEDIA_SEARCH)
    if scope is Scope.OWN or scope is Scope.SUPERVISED:
        return [MediaItem.officer_badge.in_(sorted(actor.reachable_badges))]
    return []
