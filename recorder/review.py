"""The investigators' review of a time window across sources (issue 15.2;
docs/design/review.md).

:meth:`ReviewService.window` answers "what was recorded between A and B that I may
see?": every fixed camera with segments overlapping the window and every body-worn,
dash or handheld item overlapping it, each with its recorded spans (segments merged
where they follow each other) and, for cameras, the recording interruptions with their
cause (OPS-4). It is metadata: the role check is the catalog search's (``media.search``,
scoped as the catalog scopes it: an officer sees only their own items, so no fixed
camera), and whether each source may be *played* (``media.view``, ACC-7) is told, not
enforced here: the playlist and content routes enforce it when the page asks for the
video. The reading is audited (``review.view``) with the ids of the sources shown
(ACC-6); refusals are audited by the authoriser (INV-4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recorder.playback import GAP_TOLERANCE
from recorder.recording import _search_scope
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor, ItemFacts, facts_of
from vms.bounded import shown
from vms.clock import ensure_utc, isoformat
from vms.db.engine import Database
from vms.db.models import (
    Camera,
    Device,
    MediaItem,
    MediaMarker,
    MediaType,
    RecordingGap,
    SourceKind,
)
from vms.devices import is_registered_camera
from vms.errors import InvalidArgument, NotFound
from vms.names import ItemNames, load_names

# The items a review offers beside fixed cameras: what officers and vehicles record.
ITEM_SOURCES = (SourceKind.BWC.value, SourceKind.DASH.value, SourceKind.HANDHELD.value)
PLAYABLE_TYPES = (MediaType.VIDEO.value, MediaType.AUDIO.value)
# How far before the window an item may start and still be found (an index range on
# recorded_start needs a lower bound): a body-camera recording longer than this that
# started before the window is not offered. Fixed segments are cut at the configured
# length (a keyframe later at most), so twice that bounds them.
ITEM_LOOKBACK = dt.timedelta(hours=24)
# The most sources listed (the selected ones always are) and segment rows read.
MAX_SOURCES = 200
MAX_SEGMENT_ROWS = 100_000
MAX_SELECTED = 16


CAMERA = "camera"  # ReviewSource.kind of a fixed camera
ITEM = "item"  # ReviewSource.kind of one recording


@dataclass(frozen=True)
class ReviewQuery:
    """The command of :meth:`ReviewService.window`: a window and the sources chosen in
    it (fixed cameras by id, items by media id; none: nothing chosen yet)."""

    start: dt.datetime
    end: dt.datetime
    camera_ids: tuple[str, ...] = ()
    media_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of continuous recording."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class Interruption:
    """A recording gap the recorder logged, with its cause (OPS-4); ``end`` None while
    it lasts."""

    start: dt.datetime
    end: dt.datetime | None
    cause: str
    detail: str | None


@dataclass(frozen=True)
class ReviewMarker:
    """A device marker of an item (OPS-3): mute, deactivation and their ends."""

    kind: str
    at: dt.datetime
    reason: str | None


@dataclass(frozen=True)
class ReviewSource:
    """One source of the window: a fixed camera (``kind`` ``camera``, ``id`` its camera
    id) or one item (``item``, ``id`` its media id), named as people know it."""

    kind: str
    id: str
    source: str  # fixed | bwc | dash | handheld
    device_id: str
    name: str  # the camera's or device's name, else its id
    location: str | None
    officer_label: str | None
    title: str
    spans: tuple[Span, ...]  # in time order; empty: nothing recorded in the window
    interruptions: tuple[Interruption, ...]
    restricted: bool
    playable: bool  # media.view allows every recording of it in the window
    refusal: str | None  # why not, when not
    selected: bool
    markers: tuple[ReviewMarker, ...] = ()  # an item's device markers, time order (OPS-3)
    title_at: dt.datetime | None = None  # a made-up title's time (vms/names.py), not in the API


@dataclass(frozen=True)
class ReviewWindow:
    start: dt.datetime
    end: dt.datetime
    sources: tuple[ReviewSource, ...]  # selected first, then cameras, then items
    truncated: bool  # more sources overlap the window than are listed


@dataclass
class _Camera:
    camera_id: str
    rows: list[Any]


class ReviewService:
    """What overlaps a window, for the review page and ``GET /api/v1/review``."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        authoriser: Authoriser,
        *,
        max_window: dt.timedelta,
        segment_seconds: float,
    ) -> None:
        self.db = db
        self.audit = audit
        self.authoriser = authoriser
        self.max_window = max_window
        self.segment_lookback = dt.timedelta(seconds=max(2 * segment_seconds, 120.0))

    def _check_window(self, query: ReviewQuery) -> tuple[dt.datetime, dt.datetime]:
        start, end = ensure_utc(query.start), ensure_utc(query.end)
        if end <= start:
            raise InvalidArgument(
                f"end: {isoformat(end)!r} must be after start {isoformat(start)!r} (an empty "
                "or inverted window)",
                field="end",
            )
        if end - start > self.max_window:
            raise InvalidArgument(
                f"end: the window {isoformat(start)}..{isoformat(end)} spans "
                f"{(end - start).total_seconds() / 3600:g} h; a review spans at most "
                f"{self.max_window.total_seconds() / 3600:g} h ([recorder] playback_max_hours)",
                field="end",
            )
        chosen = len(query.camera_ids) + len(query.media_ids)
        if chosen > MAX_SELECTED:
            raise InvalidArgument(
                f"{chosen} sources were chosen; a review shows at most {MAX_SELECTED}",
                field="camera",
            )
        return start, end

    def window(self, actor: Actor, query: ReviewQuery) -> ReviewWindow:
        """The sources ``actor`` may see overlapping ``query``'s window (audited
        ``review.view`` with their ids).

        400: an empty or inverted window, one longer than ``[recorder]
        playback_max_hours``, a chosen item that is not a camera recording (fixed,
        BWC, dash, handheld audio or video) or lies outside the window; 404: a chosen
        camera or item that does not exist; 403 (audited): a role that may not search
        media, or a chosen source it may not see (an officer and a fixed camera)."""
        start, end = self._check_window(query)
        self.authoriser.require(actor, Action.MEDIA_SEARCH, "review")
        cameras = tuple(dict.fromkeys(query.camera_ids))
        media_ids = tuple(dict.fromkeys(query.media_ids))
        scope = _search_scope(actor)
        with self.db.session() as s:
            chosen_items = self._check_chosen(s, actor, cameras, media_ids, start, end)
            by_camera: dict[str, _Camera] = {c: _Camera(c, []) for c in cameras}
            for row in self._segment_rows(s, start, end, scope):
                by_camera.setdefault(row.device_id, _Camera(row.device_id, [])).rows.append(row)
            items = self._item_rows(s, start, end, scope)
            recorded = sum(1 for c in by_camera.values() if c.rows)
            truncated = len(items) > MAX_SOURCES or recorded > MAX_SOURCES
            listed = {i.id: i for i in items[:MAX_SOURCES]}
            listed.update({i.id: i for i in chosen_items})
            items = [i for i in listed.values() if _overlaps(_item_span(i), start, end)]

            camera_list = self._cameras_listed(by_camera, cameras)
            interruptions = self._interruptions(s, [c.camera_id for c in camera_list], start, end)
            if scope:  # the camera's gaps, not an item's: none for own-items roles (10.13)
                interruptions = {}
            names = load_names(s, items)
            markers = _device_markers(s, [i.id for i in items])
            camera_names = _camera_names(s, [c.camera_id for c in camera_list])
            sources = [
                self._camera_source(actor, c, camera_names.get(c.camera_id), interruptions, cameras)
                for c in camera_list
            ] + [
                self._item_source(actor, i, names[i.id], media_ids, markers.get(i.id, ()))
                for i in items
            ]
        sources.sort(key=lambda src: (not src.selected, src.kind != "camera"))
        self.audit.record(
            self.db,
            who(actor),
            "review.view",
            "review",
            details={
                "start": isoformat(start),
                "end": isoformat(end),
                "camera_ids": [src.id for src in sources if src.kind == "camera"],
                "media_ids": [src.id for src in sources if src.kind == "item"],
                "selected": [f"{src.kind}:{src.id}" for src in sources if src.selected],
            },
        )
        return ReviewWindow(start, end, tuple(sources), truncated)

    def _check_chosen(
        self,
        s: Session,
        actor: Actor,
        cameras: tuple[str, ...],
        media_ids: tuple[str, ...],
        start: dt.datetime,
        end: dt.datetime,
    ) -> list[MediaItem]:
        """Check the chosen cameras and items (404, 403 audited, 400); the items."""
        for camera_id in cameras:
            if "\x00" in camera_id or not is_registered_camera(s, camera_id):
                raise NotFound(f"camera {shown(camera_id)} does not exist", field="camera")
            # A fixed camera's recordings carry no officer's badge: the roles that see
            # only their own (or supervised) items may not review it (ACC-2).
            self.authoriser.require(
                actor, Action.MEDIA_SEARCH, f"camera:{camera_id}", ItemFacts(None, False)
            )
        items: list[MediaItem] = []
        for media_id in media_ids:
            item = None if "\x00" in media_id else s.get(MediaItem, media_id)
            if item is None:
                raise NotFound(f"media {shown(media_id)} does not exist", field="media_id")
            self.authoriser.require(
                actor,
                Action.MEDIA_SEARCH,
                f"media:{media_id}",
                ItemFacts(item.officer_badge, item.restricted),
            )
            self._check_chosen_item(item, start, end)
            items.append(item)
        return items

    def _segment_rows(
        self, s: Session, start: dt.datetime, end: dt.datetime, scope: list[Any]
    ) -> list[Any]:
        """Every camera's segments overlapping the window (in the actor's scope), by
        camera and time; one range on ``ix_media_items_source_time``."""
        rows = list(
            s.execute(
                select(
                    MediaItem.id,
                    MediaItem.device_id,
                    MediaItem.recorded_start,
                    MediaItem.recorded_end,
                    MediaItem.duration_seconds,
                    MediaItem.officer_badge,
                    MediaItem.restricted,
                    MediaItem.privacy_sensitive,  # ACC-11
                )
                .where(
                    MediaItem.source == SourceKind.FIXED.value,
                    MediaItem.recorded_start >= start - self.segment_lookback,
                    MediaItem.recorded_start < end,
                    or_(MediaItem.recorded_end.is_(None), MediaItem.recorded_end > start),
                    *scope,
                )
                .order_by(MediaItem.device_id, MediaItem.recorded_start, MediaItem.id)
                .limit(MAX_SEGMENT_ROWS + 1)
            ).all()
        )
        if len(rows) > MAX_SEGMENT_ROWS:
            raise InvalidArgument(
                f"end: the window {isoformat(start)}..{isoformat(end)} holds more than "
                f"{MAX_SEGMENT_ROWS} recorded segments: choose a shorter one",
                field="end",
            )
        return rows

    @staticmethod
    def _item_rows(
        s: Session, start: dt.datetime, end: dt.datetime, scope: list[Any]
    ) -> list[MediaItem]:
        """Body-worn, dash and handheld recordings overlapping the window (in the
        actor's scope), at most MAX_SOURCES + 1, in time order."""
        return list(
            s.execute(
                select(MediaItem)
                .where(
                    MediaItem.source.in_(ITEM_SOURCES),
                    MediaItem.media_type.in_(PLAYABLE_TYPES),
                    MediaItem.recorded_start >= start - ITEM_LOOKBACK,
                    MediaItem.recorded_start < end,
                    or_(MediaItem.recorded_end.is_(None), MediaItem.recorded_end > start),
                    *scope,
                )
                .order_by(MediaItem.recorded_start, MediaItem.id)
                .limit(MAX_SOURCES + 1)
            ).scalars()
        )

    @staticmethod
    def _check_chosen_item(item: MediaItem, start: dt.datetime, end: dt.datetime) -> None:
        if item.source not in ITEM_SOURCES or item.media_type not in PLAYABLE_TYPES:
            raise InvalidArgument(
                f"media_id: {item.id} is a {item.source} {item.media_type} item; a review "
                "shows fixed cameras (camera=) and body-worn, dash and handheld recordings",
                field="media_id",
            )
        span = _item_span(item)
        if not _overlaps(span, start, end):
            raise InvalidArgument(
                f"media_id: {item.id} was recorded {isoformat(span.start)}.."
                f"{isoformat(span.end)}, outside the window {isoformat(start)}..{isoformat(end)}",
                field="media_id",
            )

    @staticmethod
    def _cameras_listed(by_camera: dict[str, _Camera], chosen: tuple[str, ...]) -> list[_Camera]:
        """The chosen cameras, then the others with recording, at most MAX_SOURCES."""
        first = [by_camera[c] for c in chosen]
        others = [c for cid, c in sorted(by_camera.items()) if cid not in chosen and c.rows]
        return first + others[: max(0, MAX_SOURCES - len(first))]

    @staticmethod
    def _interruptions(
        s: Session, camera_ids: list[str], start: dt.datetime, end: dt.datetime
    ) -> dict[str, list[Interruption]]:
        found: dict[str, list[Interruption]] = {}
        if not camera_ids:
            return found
        for gap in s.execute(
            select(RecordingGap)
            .where(
                RecordingGap.camera_id.in_(camera_ids),
                RecordingGap.start < end,
                or_(RecordingGap.end.is_(None), RecordingGap.end > start),
            )
            .order_by(RecordingGap.camera_id, RecordingGap.start)
            .limit(MAX_SEGMENT_ROWS)
        ).scalars():
            found.setdefault(gap.camera_id, []).append(
                Interruption(gap.start, gap.end, gap.cause, gap.detail)
            )
        return found

    def _camera_source(
        self,
        actor: Actor,
        camera: _Camera,
        names: tuple[str, str | None] | None,
        interruptions: dict[str, list[Interruption]],
        chosen: tuple[str, ...],
    ) -> ReviewSource:
        refusal = None
        facts = {
            (r.officer_badge, bool(r.restricted), bool(r.privacy_sensitive)) for r in camera.rows
        }
        for badge, restricted, private in sorted(facts, key=lambda f: (f[0] or "", f[1], f[2])):
            decision = self.authoriser.decide(
                actor, Action.MEDIA_VIEW, ItemFacts(badge, restricted, privacy_sensitive=private)
            )
            if not decision.allowed:
                refusal = decision.reason
                break
        if not camera.rows:
            refusal = refusal or "nothing was recorded in this window"
        return ReviewSource(
            kind=CAMERA,
            id=camera.camera_id,
            source=SourceKind.FIXED.value,
            device_id=camera.camera_id,
            name=names[0] if names else camera.camera_id,
            location=names[1] if names else None,
            officer_label=None,
            title=names[0] if names else camera.camera_id,
            spans=tuple(merge_spans(camera.rows)),
            interruptions=tuple(interruptions.get(camera.camera_id, ())),
            restricted=any(restricted for _badge, restricted, _private in facts),
            playable=refusal is None,
            refusal=refusal,
            selected=camera.camera_id in chosen,
        )

    def _item_source(
        self,
        actor: Actor,
        item: MediaItem,
        names: ItemNames,
        chosen: tuple[str, ...],
        markers: tuple[ReviewMarker, ...],
    ) -> ReviewSource:
        decision = self.authoriser.decide(actor, Action.MEDIA_VIEW, facts_of(item))
        return ReviewSource(
            kind=ITEM,
            id=item.id,
            source=item.source,
            device_id=item.device_id,
            name=names.device_name or item.device_id,
            location=names.device_location,
            officer_label=names.officer_label,
            title=names.display_title,
            title_at=names.title_at,
            spans=(_item_span(item),),
            interruptions=(),
            restricted=item.restricted,
            playable=decision.allowed,
            refusal=None if decision.allowed else decision.reason,
            selected=item.id in chosen,
            markers=markers,
        )


def _device_markers(s: Session, media_ids: list[str]) -> dict[str, tuple[ReviewMarker, ...]]:
    """The device markers of the listed items (OPS-3), by item, in time order."""
    found: dict[str, list[ReviewMarker]] = {}
    if media_ids:
        rows = s.execute(
            select(MediaMarker)
            .where(MediaMarker.media_id.in_(media_ids))
            .order_by(MediaMarker.media_id, MediaMarker.at, MediaMarker.id)
        ).scalars()
        for m in rows:
            found.setdefault(m.media_id, []).append(ReviewMarker(m.kind, m.at, m.reason))
    return {media_id: tuple(listed) for media_id, listed in found.items()}


def _camera_names(s: Session, camera_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """Each camera's name and location (the camera's, else its device's name)."""
    if not camera_ids:
        return {}
    return {
        device_id: (camera_name or device_name or device_id, location)
        for device_id, device_name, camera_name, location in s.execute(
            select(Device.id, Device.name, Camera.name, Camera.location)
            .outerjoin(Camera, Camera.id == Device.id)
            .where(Device.id.in_(camera_ids))
        )
    }


def _item_span(item: MediaItem) -> Span:
    start = ensure_utc(item.recorded_start)
    if item.recorded_end is not None:
        return Span(start, ensure_utc(item.recorded_end))
    return Span(start, start + dt.timedelta(seconds=item.duration_seconds or 0.0))


def _overlaps(span: Span, start: dt.datetime, end: dt.datetime) -> bool:
    return span.start < end and (span.end > start or span.start >= start)


def merge_spans(rows: Iterable[Any]) -> list[Span]:
    """Spans of continuous recording from segment rows in time order (pure): a segment
    that starts where the previous one ended (within the playlist's
    :data:`~recorder.playback.GAP_TOLERANCE`) extends it; one without an end or a
    duration (still being written) is skipped."""
    spans: list[Span] = []
    for row in rows:
        start = ensure_utc(row.recorded_start)
        if row.recorded_end is not None:
            end = ensure_utc(row.recorded_end)
        elif row.duration_seconds:
            end = start + dt.timedelta(seconds=row.duration_seconds)
        else:
            continue
        if end <= start:
            continue
        if spans and start - spans[-1].end <= GAP_TOLERANCE:
            spans[-1] = Span(spans[-1].start, max(end, spans[-1].end))
        else:
            spans.append(Span(start, end))
    return spans
