"""A segment writer's gaps, floor and alarm (OPS-4): what :class:`recorder.segments.
SegmentWriter` records of the time its camera was not recorded, and why.

The writer opens a gap where its recording stops (an interruption, a full store, a
stop), closes it at the next packet written, and continues the one a previous run left
open (procedure 5). Nothing starts before the *floor*, where the camera's recording is
known to have got to, so spans never overlap. A gap is written under the camera's lease
token (INV-9): one that has passed on writes nothing here (the new holder's gaps are its
own), logged once per token. Apart from the segments themselves (:mod:`recorder.segments`,
which re-exports :class:`WriterStatus`); on the writer's own thread, like it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from recorder.recording import ADDED, TAKEOVER, RecordingLog
from recorder.recording_switch import RecordingSwitch
from vms.events import EventBus
from vms.leases import LeaseLost

# The writer's lines, under its logger's name as before this part had a module of its own.
log = logging.getLogger("recorder.segments")


@dataclass
class WriterStatus:
    segments: int = 0
    salvaged: int = 0
    kept: int = 0  # segments kept in the spool until the object store answers (4a)
    alarm: str | None = None
    gap_open: bool = False
    recording: bool = True


class SegmentGaps:
    """One camera's gaps, floor, alarm and recording state, kept by its segment writer."""

    def __init__(
        self, camera_id: str, recording: RecordingLog, events: EventBus, switch: RecordingSwitch
    ) -> None:
        self.camera_id = camera_id
        self.recording = recording
        self.events = events
        self._switch = switch
        self.status = WriterStatus()
        # The camera lease token this node records under (issue 13.1; None: no camera
        # ownership): each segment's ingest is fenced with it.
        self.fence: int | None = None
        self._lost_fence: int | None = None  # the token last found passed on (logged)
        # The media node this camera was taken over from (it let its lease run out
        # without handing it back): the start's gap is a ``takeover``, not a ``restart``.
        self.taken_from: str | None = None
        self._gap: int | None = None
        self._gap_cause: str | None = None
        # Where this camera's recording is known to have got to (segments and gaps, this
        # run's and before): nothing starts earlier, so spans never overlap (OPS-4) even
        # when two capture-time estimates disagree, e.g. a node that took the camera
        # over against the one that was behind on its stream (see SegmentWriter._begin).
        self._floor: dt.datetime | None = None
        # The camera's "no keyframes" alarm (SegmentWriter._cut); None: not known yet.
        self._no_keyframes: bool | None = None

    def _at_floor(self, at: dt.datetime) -> dt.datetime:
        return at if self._floor is None or at >= self._floor else self._floor

    def _raise_floor(self, at: dt.datetime) -> None:
        self._floor = self._at_floor(at)

    def _open_gap(
        self, at: dt.datetime, cause: str, detail: str, *, raise_floor: bool = True
    ) -> None:
        """``raise_floor`` False: a new camera's gap, before which nothing was recorded,
        does not hold its first segment back (its capture time estimated a little before
        the writer started)."""
        if self._gap is not None:
            return
        at = self._at_floor(at)
        if raise_floor:
            self._raise_floor(at)
        try:
            self._gap = self.recording.open_gap(self.camera_id, at, cause, detail, self.fence)
        except LeaseLost as exc:
            self._lease_lost(exc, f"no {cause!r} gap written from {at.isoformat()}")
            return
        self._gap_cause = cause
        self.status.gap_open = True
        self.events.publish(
            "recorder.gap", {"camera_id": self.camera_id, "cause": cause, "start": at.isoformat()}
        )

    def _close_gap(self, at: dt.datetime) -> None:
        if self._gap is None:
            return
        gap, cause = self._gap, self._gap_cause
        try:
            # A new camera's gap closed where it opened (its first packet came at once,
            # or was stamped before the writer started) missed nothing: no row.
            self.recording.close_gap(gap, at, self.fence, drop_empty=cause == ADDED)
            closed = True
        except LeaseLost as exc:
            # Left open for the new holder, which continues it (_resume_gap).
            self._lease_lost(exc, f"gap {gap} left open for it")
            closed = False
        self._gap, self._gap_cause = None, None
        self.status.gap_open = False
        if not closed:
            return
        # The alarm of the gap ends with it (issue 12.3).
        self.events.publish(
            "recorder.gap", {"camera_id": self.camera_id, "cause": cause, "end": at.isoformat()}
        )

    def _lease_lost(self, exc: LeaseLost, what: str) -> None:
        """Another node records this camera now (issue 13.1): its recording and its gaps
        are that node's, so a gap written here, from this node's last packet, would
        overlap the new holder's segments (OPS-4). Logged once per lease token."""
        if self._lost_fence != self.fence:
            self._lost_fence = self.fence
            log.warning("%s; %s", exc, what)  # the message names the camera

    def _disk_full(self, at: dt.datetime, detail: str) -> None:
        self._open_gap(at, "disk_full", detail)
        self._alarm(detail)

    def _alarm(self, detail: str) -> None:
        if self.status.alarm is None:
            log.error(
                "camera %s: ALARM recording stopped, media store full: %s", self.camera_id, detail
            )
            self.events.publish(
                "recorder.alarm",
                {"camera_id": self.camera_id, "alarm": "disk_full", "detail": detail},
            )
        self.status.alarm = detail

    def _clear_alarm(self) -> None:
        if self.status.alarm is not None:
            log.warning("camera %s: alarm cleared, recording resumed", self.camera_id)
            self.events.publish("recorder.alarm", {"camera_id": self.camera_id, "alarm": None})
            self.status.alarm = None

    def _keyframes_missing(self, detail: str) -> None:
        """The camera sends no keyframe: segments are cut without one (OPS-1, OPS-4).
        Published once (``recorder.keyframes``, the "no keyframes" alarm of
        :mod:`vms.alarms`) until a keyframe comes."""
        if self._no_keyframes is not True:
            log.error("camera %s: ALARM no keyframes: %s", self.camera_id, detail)
            self.events.publish(
                "recorder.keyframes",
                {"camera_id": self.camera_id, "active": True, "detail": detail},
            )
        self._no_keyframes = True

    def _keyframes_back(self) -> None:
        """A segment started at a keyframe: the alarm ends. The first one of a run says so
        once too, so an alarm left open by a previous run (a restart) is cleared."""
        if self._no_keyframes is not False:
            if self._no_keyframes:
                log.warning("camera %s: keyframes again, alarm cleared", self.camera_id)
            self.events.publish(
                "recorder.keyframes", {"camera_id": self.camera_id, "active": False}
            )
            self._no_keyframes = False

    def _recording_enabled(self, now: dt.datetime) -> bool:
        self.status.recording = self._switch.at(now)
        return self.status.recording

    def _resume_gap(self, now: dt.datetime, *, crashed: bool) -> None:
        """Continue the gap the previous run left open (gaps that recording resumed
        after, e.g. with a salvaged segment, are closed there); otherwise open one from
        the last packet actually written (``crash`` when spool files were left,
        ``takeover`` when the camera was taken from a media node that let its lease run
        out, else ``restart``), closed by the first packet of this run (OPS-4). A camera
        never recorded (nothing written, no gap) starts with one from ``now``: ``added``
        (``recording_off`` while its recording is off)."""
        try:
            still_open = self.recording.settle_open_gaps(self.camera_id, self.fence)
        except LeaseLost as exc:
            # Its gaps are the new holder's to continue; this run's segments are refused
            # by the same fence, and the engine's next round stops it.
            self._lease_lost(exc, "no gap settled or opened at the start")
            return
        last = self.recording.last_written(self.camera_id)
        if still_open is not None:
            self._gap, self._gap_cause, since = still_open
            self._floor = max(since, last) if last is not None else since
            self.status.gap_open = True
            return
        self._floor = last
        if last is None:
            # A new camera: nothing is recorded until its first keyframe, which a long
            # GOP refusing sync points sends minutes after it connected. That time was
            # in no gap (a restart's and a reconnection's are); the timeline shows it.
            if self._recording_enabled(now):
                detail = "camera added; not recorded before its first keyframe"
                self._open_gap(now, ADDED, detail, raise_floor=False)
            else:
                self._open_gap(now, "recording_off", "recording turned off", raise_floor=False)
        elif crashed:
            self._open_gap(last, "crash", "recorder crashed; spool salvaged")
        elif self.taken_from is not None:
            self._open_gap(
                last,
                TAKEOVER,
                f"media node {self.taken_from} stopped recording it without handing "
                "it over (killed, or cut off past its lease)",
            )
        else:
            self._open_gap(last, "restart", "recorder restarted")
