"""Playback of a camera's recording across segments, by wall-clock time (issue 15.1;
docs/design/playback.md).

:meth:`PlaybackService.open` turns a window of a camera into a :class:`Playlist` (a
domain value; :meth:`Playlist.m3u8` writes it as an HLS media playlist): the camera's
recorded segments overlapping the window in time order, each with its wall-clock start
(``EXT-X-PROGRAM-DATE-TIME``) and a discontinuity where recording stopped. Opening is
the viewing: it is role-checked on every segment (ACC-1, ACC-7) and audited once
(``media.playback``, ACC-6). The playlist names its segments through a *playback
session*: a token signed with a key kept outside the database, bound to the user, the
camera, the window and an expiry. :meth:`PlaybackService.segment` checks the token and
the item again for every byte range and audits nothing more (refusals are audited).

Segment bytes are the stored files served as fMP4 without remuxing
(:mod:`vms.media.fmp4`): decode times are shifted so that every segment sits at its
recorded time on one timeline that starts at the session's ``origin``.

A camera with an endless GOP has segments that continue the one before them without a
keyframe (:mod:`vms.continued`): such a chain is one HLS segment, from the stored segment
that starts at its keyframe, named by its members' ids joined with
:data:`CHAIN_SEPARATOR` and served as their media runs one after another
(docs/design/playback.md, "Continued segments").
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import io
import json
import math
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from sqlalchemy import Select, String, or_, select, type_coerce

from vms.access import check_purpose
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor, ItemFacts, facts_of
from vms.catalog import fixed_segments_of, segments_from
from vms.clock import Clock, ensure_utc, isoformat
from vms.config import AccessConfig
from vms.continued import MAX_CHAIN, chain_before, continued_ids, undecodable_from
from vms.db.engine import Database
from vms.db.models import Device, MediaItem, SourceKind
from vms.errors import InvalidArgument, NotFound
from vms.media.fmp4 import Fmp4Layout, JoinedMedia, ShiftedMedia, read_init, read_layout
from vms.store import MediaStore

# Consecutive segments further apart than this (a hole or an overlap) are separated by
# a discontinuity: the recorder cuts segments back to back (next start == previous end),
# so anything wider is a stop of recording (OPS-4), never jitter.
GAP_TOLERANCE = dt.timedelta(seconds=0.5)
# How long a playlist's segment links work: long enough to watch a day's window at a
# few times real speed; after that the page is reloaded (a new, audited session).
SESSION_LIFETIME = dt.timedelta(hours=12)
# The most segments one playlist lists (24 h of 60 s segments is 1,440).
MAX_SEGMENTS = 20_000
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
# Joins the ids of a chain of segments continued without a keyframe in one HLS segment's
# name (not a character of a media id).
CHAIN_SEPARATOR = "~"


@dataclass(frozen=True)
class PlaybackWindow:
    """The command of :meth:`PlaybackService.open`: a camera from ``start`` to ``end``."""

    camera_id: str
    start: dt.datetime
    end: dt.datetime
    # ACC-4: why the reviewer opens it, one of ``[access] review_purposes`` (required outside
    # the reviewer's own scope: a fixed camera's segments are nobody's own).
    purpose: str | None = None


class SegmentPart(StrEnum):
    INIT = "init"  # the initialisation section (EXT-X-MAP)
    MEDIA = "media"  # the fragments


class PlaylistSegment(NamedTuple):
    """One segment of a playlist (a named tuple: 1,440 of them are made per 24 h playlist,
    and a tuple is made several times faster than a frozen dataclass)."""

    media_id: str  # a chain's: its members' ids joined with CHAIN_SEPARATOR
    start: dt.datetime
    duration: float  # seconds
    discontinuity: bool  # recording stopped before this segment
    # It starts at a keyframe: False for a continued segment whose chain's keyframe is
    # not in the playlist (a chain longer than MAX_CHAIN, or its start not catalogued).
    independent: bool = True


@dataclass(frozen=True)
class Playlist:
    """The recorded segments of ``camera_id`` overlapping ``start..end``, for one
    playback session (``session``: the signed token the segment links carry).
    ``start_offset``: where ``start`` falls on the playlist's timeline (seconds)."""

    camera_id: str
    start: dt.datetime
    end: dt.datetime
    session: str
    segments: tuple[PlaylistSegment, ...]
    start_offset: float
    # Set when a segment continues a chain whose keyframe is not in the playlist (longer
    # than MAX_CHAIN, or after a gap): its pictures up to the next keyframe do not
    # decode. Sent with the playlist (PLAYBACK_NOTICE_HEADER), shown by the page.
    notice: str | None = None

    @property
    def target_duration(self) -> int:
        # RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer is at most this.
        return max((math.floor(s.duration + 0.5) for s in self.segments), default=1) or 1

    def m3u8(self, segment_url: Callable[[str, SegmentPart], str]) -> str:
        """The HLS media playlist (RFC 8216, version 7: fMP4 with ``EXT-X-MAP``);
        ``segment_url(media_id, part)`` links one part of a segment."""
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f"#EXT-X-START:TIME-OFFSET={self.start_offset:.3f},PRECISE=YES",
        ]
        if all(s.independent for s in self.segments):  # RFC 8216 4.3.5.1
            lines.insert(6, "#EXT-X-INDEPENDENT-SEGMENTS")
        init, media, append = SegmentPart.INIT, SegmentPart.MEDIA, lines.append
        for segment in self.segments:
            if segment.discontinuity:
                append("#EXT-X-DISCONTINUITY")
            # One map per segment: a camera reconnect may change its parameters.
            append(
                f'#EXT-X-MAP:URI="{segment_url(segment.media_id, init)}"\n'
                f"#EXT-X-PROGRAM-DATE-TIME:{_pdt(segment.start)}\n"
                f"#EXTINF:{segment.duration:.3f},\n"
                f"{segment_url(segment.media_id, media)}"
            )
        lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def _pdt(at: dt.datetime) -> str:
    """ISO 8601 with milliseconds and ``Z`` (RFC 8216 4.3.2.6)."""
    if at.tzinfo is not dt.UTC:  # segment starts are UTC already (``_utc``)
        at = at.astimezone(dt.UTC)
    return at.isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass(frozen=True)
class SessionClaims:
    """What a playback token says: who may fetch which camera's window until when, and
    the timeline origin its segments are shifted to."""

    session_id: str
    username: str
    camera_id: str
    start: dt.datetime
    end: dt.datetime
    origin: dt.datetime
    expires: dt.datetime


def _micros(at: dt.datetime) -> int:
    delta = ensure_utc(at) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(value: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Playback tokens: ``base64url(claims JSON) . base64url(HMAC-SHA256)`` with a key
    kept outside the database (``secrets/playback.key``)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:20])

    def sign(self, claims: SessionClaims) -> str:
        body = {
            "s": claims.session_id,
            "u": claims.username,
            "c": claims.camera_id,
            "a": _micros(claims.start),
            "b": _micros(claims.end),
            "o": _micros(claims.origin),
            "x": _micros(claims.expires),
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str) -> SessionClaims:
        """The claims of a token this signer made; NotFound for anything else."""
        unknown = NotFound("no such playback session (the link is damaged or not ours)")
        payload, _, mac = token.partition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise unknown
        try:
            body: dict[str, Any] = json.loads(_unb64(payload))
            return SessionClaims(
                session_id=str(body["s"]),
                username=str(body["u"]),
                camera_id=str(body["c"]),
                start=_from_micros(int(body["a"])),
                end=_from_micros(int(body["b"])),
                origin=_from_micros(int(body["o"])),
                expires=_from_micros(int(body["x"])),
            )
        except (binascii.Error, ValueError, KeyError, TypeError, OverflowError):
            raise unknown from None


@dataclass(frozen=True)
class SegmentBytes:
    """One part of a segment, ready to serve: ``open()`` gives a seekable reader of
    ``length`` bytes (close it). ``release()`` frees what was held for it (the object
    store's copy, opened in advance): call it when the response ends, read or not."""

    media_id: str
    part: SegmentPart
    length: int
    open: Callable[[], io.IOBase]
    release: Callable[[], object] = lambda: None


class PlaybackService:
    """Playlists over a camera's recorded segments and the bytes they link."""

    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        signer: SessionSigner,
        max_window: dt.timedelta,
        purposes: Sequence[str] = AccessConfig().purpose_list,
    ) -> None:
        self.purposes = tuple(purposes)
        self.db = db
        self.store = store
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.signer = signer
        self.max_window = max_window

    def segments(self, camera_id: str, start: dt.datetime, end: dt.datetime) -> list[Any]:
        """Rows (id, recorded_start, recorded_end, duration, badge, restricted, privacy) of the
        camera's recorded segments overlapping ``start..end``, in time order.

        Two seeks on ``ix_media_items_device_time``: the last segment starting at or
        before ``start`` (the only one that can cover ``start``: one writer per camera,
        INV-9, so segments do not overlap), then the range from there to ``end``. Without
        the first, the range would scan every earlier segment of the camera.
        """
        with self.db.session() as s:
            floor = segments_from(s, camera_id, start)
            # Core execution: rows as the driver gives them (no ORM loading step).
            return list(s.connection().execute(segment_rows(camera_id, floor, start, end)).all())

    def _check_window(self, window: PlaybackWindow) -> tuple[dt.datetime, dt.datetime]:
        start, end = ensure_utc(window.start), ensure_utc(window.end)
        if end <= start:
            raise InvalidArgument(
                f"end {isoformat(end)} must be after start {isoformat(start)} (an empty or "
                "inverted window)"
            )
        if end - start > self.max_window:
            hours = self.max_window.total_seconds() / 3600
            raise InvalidArgument(
                f"the window {isoformat(start)}..{isoformat(end)} spans "
                f"{(end - start).total_seconds() / 3600:g} h; playback spans at most "
                f"{hours:g} h ([recorder] playback_max_hours)"
            )
        return start, end

    def open(
        self, actor: Actor, window: PlaybackWindow, *, remote: str, viewed: bool = True
    ) -> Playlist:
        """The playlist of ``window`` for ``actor``, audited once as ``media.playback``
        (``viewed=False``: the caller hands it to nobody, a HEAD: checked, not recorded).

        403 (audited): a role that may not view a fixed camera's media (asked first),
        or a segment it may not view (a restricted one, ACC-7); 400: an empty or
        inverted window, or one longer than the configured maximum; 404: an unknown
        camera, or no recording in the window.
        A window reaching past now plays what is recorded so far.
        """
        camera_id = window.camera_id
        target = f"camera:{camera_id}"
        # ACC-1: a fixed camera's segments carry no officer's badge; who may not view
        # them is refused before anything is looked up (a 404 "no recording" would tell
        # an officer or a supervisor when the camera recorded) or judged (a bad window's
        # 400 would be a refusal left out of the audit).
        self.authoriser.require(actor, Action.MEDIA_VIEW, target, ItemFacts(None, False))
        start, end = self._check_window(window)
        with self.db.session() as s:
            if s.get(Device, camera_id) is None:
                raise NotFound(f"camera {camera_id!r} does not exist")
        rows = self.segments(camera_id, start, end)
        if not rows:
            raise NotFound(
                f"camera {camera_id} has no recording between {isoformat(start)} and "
                f"{isoformat(end)}"
            )
        rows, continued = self._with_chain(camera_id, rows)
        if len(rows) > MAX_SEGMENTS:
            raise InvalidArgument(
                f"the window holds more than {MAX_SEGMENTS} segments: choose a shorter one"
            )
        # One decision per distinct (badge, restricted, privacy): a camera's rows share
        # them. A privacy-sensitive segment is refused to roles outside ACC-11's set. A
        # refusal names (and audits) the first segment refused.
        # (Rows by index: a SQLAlchemy row's attribute access is ten times slower.)
        for key in dict.fromkeys((r[4], bool(r[5]), bool(r[6])) for r in rows):
            facts = ItemFacts(officer_badge=key[0], restricted=key[1], privacy_sensitive=key[2])
            if not self.authoriser.allows(actor, Action.MEDIA_VIEW, facts):
                first = next(r for r in rows if (r[4], bool(r[5]), bool(r[6])) == key)
                self.authoriser.require(actor, Action.MEDIA_VIEW, f"media:{first[0]}", facts)
        purpose = window.purpose
        badges = {r[4] for r in rows}
        if purpose is not None or None in badges or not badges.issubset(actor.reachable_badges):
            purpose = check_purpose(purpose, self.purposes)
        segments = plan(rows, continued)
        if not segments:
            raise NotFound(
                f"camera {camera_id} has nothing playable between {isoformat(start)} and "
                f"{isoformat(end)} (segments without a duration)"
            )
        now = self.clock.now()
        origin = segments[0].start.replace(microsecond=0)
        claims = SessionClaims(
            session_id=str(uuid.uuid4()),
            username=actor.username,
            camera_id=camera_id,
            start=start,
            end=end,
            origin=origin,
            expires=now + SESSION_LIFETIME,
        )
        if viewed:
            with self.db.transaction() as s:
                self.audit.append(
                    s,
                    who(actor),
                    "media.playback",
                    target,
                    details={
                        "session": claims.session_id,
                        "start": isoformat(start),
                        "end": isoformat(end),
                        "segments": len(segments),
                        "first_media_id": segments[0].media_id.split(CHAIN_SEPARATOR)[0],
                        "last_media_id": segments[-1].media_id.split(CHAIN_SEPARATOR)[-1],
                        "remote_addr": remote,
                        **({"purpose": purpose} if purpose else {}),
                    },
                )
        return Playlist(
            camera_id=camera_id,
            start=start,
            end=end,
            session=self.signer.sign(claims),
            segments=tuple(segments),
            start_offset=_offset_of(segments, start),
            notice=_notice(segments),
        )

    def _with_chain(self, camera_id: str, rows: list[Any]) -> tuple[list[Any], set[str]]:
        """``rows`` (of :func:`segment_rows`) with the segments before the first that its
        frames depend on when it continues one without a keyframe, and the ids of those
        that continue one (:mod:`vms.continued`): a window starting inside such a segment
        plays from the keyframe its frames are decoded from."""
        with self.db.session() as s:
            chain = chain_before(s, camera_id, rows[0][0], _utc(rows[0][1]))
            continued = continued_ids(s, [r[0] for r in rows] + [c.id for c in chain])
        before = [
            (
                c.id,
                c.recorded_start,
                c.recorded_end,
                c.duration_seconds,
                c.officer_badge,
                c.restricted,
                c.privacy_sensitive,
            )
            for c in chain
        ]
        return before + rows, continued

    def segment(self, actor: Actor, token: str, media_id: str, part: SegmentPart) -> SegmentBytes:
        """One part of a segment of the session ``token``, for the user it was issued to;
        ``media_id`` names a chain of segments continued without a keyframe by its
        members' ids joined with :data:`CHAIN_SEPARATOR` (init: the first's; media: the
        members' media runs one after another).

        Not audited (the session's opening was); a refusal is. 404: a damaged token, or
        an item that is not one of the session's segments; 403: a role that may not view
        a fixed camera's segments (asked first, ACC-1: not a 404 for a damaged link),
        another user's or an expired session, or an item the user may no longer view."""
        members = media_id.split(CHAIN_SEPARATOR)
        target = f"media:{members[0]}"
        self.authoriser.require(actor, Action.MEDIA_VIEW, target, ItemFacts(None, False))
        claims = self.signer.verify(token)
        if claims.username != actor.username:
            self.authoriser.refuse(
                actor, Action.MEDIA_VIEW.value, target, "the playback session is another user's"
            )
        if self.clock.now() >= claims.expires:
            self.authoriser.refuse(  # INV-4: audited like every refusal
                actor,
                Action.MEDIA_VIEW.value,
                target,
                f"the playback session expired at {isoformat(claims.expires)}: reopen the playlist",
            )
        if len(members) > MAX_CHAIN + 1:
            raise NotFound(f"{len(members)} segments in one: at most {MAX_CHAIN + 1}")
        found: list[tuple[str, ItemFacts, str, dt.datetime]] = []
        with self.db.session() as s:
            for member in members:
                item = s.get(MediaItem, member)
                if (
                    item is None
                    or item.device_id != claims.camera_id
                    or item.source != SourceKind.FIXED.value
                    or item.recorded_start >= claims.end
                    # From the origin: a chain's keyframe may be before the window.
                    or (item.recorded_end is not None and item.recorded_end <= claims.origin)
                    or (found and item.recorded_start <= found[-1][3])
                ):
                    raise NotFound(f"media {member!r} is not a segment of this playback session")
                found.append((member, facts_of(item), item.sha256, item.recorded_start))
        for member, facts, _, _ in found:
            self.authoriser.require(actor, Action.MEDIA_VIEW, f"media:{member}", facts)
        for member, _, sha256, _ in found:
            self.store.servable(sha256, f"the file of media {member} is missing from the store")
        if part is SegmentPart.INIT:
            with self.store.local_copy(found[0][2]) as path:
                init = read_init(path, read_layout(path))
            return SegmentBytes(media_id, part, len(init), lambda: io.BytesIO(init))
        runs: list[tuple[Path | BinaryIO, Fmp4Layout, int]] = []
        try:
            for _, _, sha256, recorded_start in found:
                with self.store.local_copy(sha256) as path:
                    layout = read_layout(path)
                    ticks = (
                        (_micros(recorded_start) - _micros(claims.origin))
                        * layout.timescale
                        // 1_000_000
                    )
                    # Local disk: the original itself, opened when served. The object
                    # store's copy goes when this block ends: opened now.
                    source = path if self.store.remote is None else path.open("rb")
                    runs.append((source, layout, ticks - layout.first_decode_time))
        except BaseException:
            _close_held(runs)
            raise

        def media() -> io.IOBase:
            parts = [ShiftedMedia(*run) for run in runs]
            return parts[0] if len(parts) == 1 else JoinedMedia(parts)

        return SegmentBytes(
            media_id,
            part,
            sum(run[1].media_length for run in runs),
            media,
            release=lambda: _close_held(runs),
        )


def _close_held(runs: Sequence[tuple[Path | BinaryIO, Fmp4Layout, int]]) -> None:
    """Close the object store's copies opened for a segment's media (not paths)."""
    for source, _, _ in runs:
        if not isinstance(source, Path):
            source.close()


def segment_rows(
    camera_id: str, floor: dt.datetime, start: dt.datetime, end: dt.datetime
) -> Select[str, str, str, float | None, str | None, bool, bool]:
    """The query of :meth:`PlaybackService.segments`: the camera's segments starting in
    ``floor..end`` that end after ``start`` (one range on ``ix_media_items_device_time``)."""
    return (
        select(
            MediaItem.id,
            # Read as stored and turned into times by _utc: SQLAlchemy's per-value DateTime
            # processing (a regex parse on SQLite) was two thirds of a 24 h playlist's time
            # (bench/playlist.py).
            type_coerce(MediaItem.recorded_start, String).label("recorded_start"),
            type_coerce(MediaItem.recorded_end, String).label("recorded_end"),
            MediaItem.duration_seconds,
            MediaItem.officer_badge,
            MediaItem.restricted,
            MediaItem.privacy_sensitive,  # ACC-11
        )
        .where(
            fixed_segments_of(camera_id),
            MediaItem.recorded_start >= floor,
            MediaItem.recorded_start < end,
            or_(MediaItem.recorded_end.is_(None), MediaItem.recorded_end > start),
        )
        .order_by(MediaItem.recorded_start, MediaItem.id)
        .limit(MAX_SEGMENTS + 1)
    )


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _utc(value: Any) -> dt.datetime:
    """A stored time as read raw: SQLite's text (UTC by construction, INV-7) or a
    driver's datetime (PostgreSQL ``timestamptz``)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    if isinstance(value, dt.datetime):
        return ensure_utc(value)
    raise TypeError(f"not a stored time: {value!r}")


def plan(
    rows: Iterable[Iterable[Any]], continued: Collection[str] = frozenset()
) -> list[PlaylistSegment]:
    """Playlist segments from catalog rows ``(id, recorded_start, recorded_end,
    duration_seconds, ...)`` in time order (pure): durations from the recorded times, a
    discontinuity wherever the next segment does not start where the previous one ended
    (within :data:`GAP_TOLERANCE`). Rows without a duration are skipped (nothing to play).
    Times may be datetimes or stored text (:func:`_utc`). A row in ``continued`` (it
    continues the one before it without a keyframe) joins the segment before it, up to
    ``MAX_CHAIN + 1`` members (ids joined with :data:`CHAIN_SEPARATOR`): its frames
    decode only after that one's; one not joined is not ``independent``."""
    out: list[PlaylistSegment] = []
    append = out.append
    tolerance = GAP_TOLERANCE.total_seconds()
    previous_end: float | None = None  # seconds since the epoch
    # A segment's end is usually the next one's start, stored alike: parsed once.
    last_raw: Any = None
    last, last_at = EPOCH, 0.0
    members = 0  # in the last segment
    for media_id, start_raw, end_raw, duration, *_ in rows:
        if start_raw == last_raw:
            start, begin = last, last_at
        else:
            start = _utc(start_raw)
            begin = start.timestamp()
        if end_raw is not None:
            last_raw, last = end_raw, _utc(end_raw)
            last_at = last.timestamp()
            seconds = last_at - begin
        else:
            last_raw = None
            seconds = float(duration or 0.0)
        if seconds <= 0:
            continue
        gap = previous_end is not None and abs(begin - previous_end) > tolerance
        independent = True
        if media_id in continued:
            if out and not gap and members <= MAX_CHAIN:
                joined = out[-1]
                out[-1] = joined._replace(
                    media_id=joined.media_id + CHAIN_SEPARATOR + media_id,
                    duration=round(begin + seconds - joined.start.timestamp(), 6),
                )
                members += 1
                previous_end = begin + seconds
                continue
            independent = False
        append(PlaylistSegment(media_id, start, round(seconds, 6), gap, independent))
        members = 1
        previous_end = begin + seconds
    return out


def _notice(segments: Sequence[PlaylistSegment]) -> str | None:
    """What a playlist with a segment that does not start at a keyframe says (the first
    such; :func:`vms.continued.undecodable_from`), or None."""
    for segment in segments:
        if not segment.independent:
            return undecodable_from(segment.start)
    return None


def _offset_of(segments: list[PlaylistSegment], at: dt.datetime) -> float:
    """Where the instant ``at`` falls on the playlist's timeline (gaps take no time)."""
    elapsed = 0.0
    for segment in segments:
        end = segment.start + dt.timedelta(seconds=segment.duration)
        if at < segment.start:
            return elapsed  # in a gap or before the first: the next recorded instant
        if at < end:
            return elapsed + (at - segment.start).total_seconds()
        elapsed += segment.duration
    return elapsed
