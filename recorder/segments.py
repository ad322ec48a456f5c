"""Segment writer: the hub's packets -> keyframe-aligned MP4 segments -> the single
ingest path (INV-1), and gaps with their cause (OPS-4).

Runs in a named thread (``segments-<camera>``) fed by a queue from the hub, so writing
and ingesting never hold up the pipeline. The thread drains the queue every
``drain_seconds`` (0.2 s) rather than being woken for each packet, so the pipeline's
thread hands a packet over with a deque append, no lock and no futex wake (the writer's
own CPU is about the same either way: bench/README.md, session 13). A fragment is written
only at the next keyframe anyway, so a crash loses at most ``drain_seconds`` more.
Procedure per segment (numbered as in docs/design/recording.md):

1. a segment starts only at a keyframe, and only when the media store has room
   (``require_free``); otherwise the packets are dropped and a ``disk_full`` gap is
   open (alarm raised once);
2. packets go to ``<data_dir>/recorder/spool/<camera>/<start>.mp4`` (fragmented MP4:
   every complete fragment stays playable if we crash);
3. at the first keyframe after ``segment_seconds`` (or when the mask version changes,
   or the stream is interrupted) the file is closed and ingested through
   ``Ingestor.ingest`` as a ``fixed`` item with the exact start and end and the mask
   version in its custody details; then the spool file is removed;
4. a failed ingest for lack of space removes the spool file, records a ``disk_full``
   gap over the lost span and raises the alarm; no half rows exist (INV-1 guarantees
   nothing or a complete item); an ingest refused for any other reason, or failing with
   an error of no kind of ours (``ingest failed: ...``, e.g. ENOSPC from a full inode
   table, which raises the alarm too), moves the file to the store's quarantine instead
   (footage is never deleted for a refusal), audited, and the gap says where it is;
   4a. an ingest failing because the object store does not answer (``StoreUnavailable``: a
   503, a timeout, a refused connection; each upload bounded by ``[store]
   segment_timeout_seconds`` x ``segment_attempts``) refused nothing: the file stays
   in the spool, its span a ``store_unavailable`` gap, and is ingested again when the
   store answers, which takes the gap back (:mod:`recorder.pending`);
5. at start-up, spool files a crash left behind are salvaged (:mod:`recorder.salvage`:
   what is readable is ingested, marked ``salvaged``, fenced with the lease token in
   its name (INV-9), or placed in the takeover gap of a node that claimed the lease
   since when it provably ends before that node's first packet; what is not, or may
   overlap what that node recorded, goes to quarantine, never deleted), then one gap
   runs from the last packet
   actually written to the first packet of the new run (``crash`` or ``restart``; a
   camera never recorded: ``added``, from the start), unless the previous run left a
   gap open, which continues.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recorder.fanout import EncodedPacket, Interruption, Item, PacketHub
from recorder.open_segment import CLOCK_STEP as CLOCK_STEP
from recorder.open_segment import OpenSegment
from recorder.pending import KeptSegment, PendingSegments
from recorder.recording import RECORDER, RECORDER_CAUSES, STORE_UNAVAILABLE, RecordingLog
from recorder.recording_switch import RecordingSwitch
from recorder.salvage import SalvageReport, SpoolSalvage
from recorder.segment_gaps import SegmentGaps
from recorder.segment_gaps import WriterStatus as WriterStatus
from recorder.spool import SpoolName, segment_request
from vms.clock import Clock
from vms.config import SEGMENT_QUEUE_PACKETS
from vms.errors import DataLoss, InsufficientStorage, StoreUnavailable, Unavailable, VMSError
from vms.events import EventBus
from vms.ingest import Ingestor
from vms.leases import LeaseLost
from vms.media.mp4 import Mp4Writer
from vms.store import MediaStore, is_disk_full

log = logging.getLogger(__name__)

#: Packets queued for one writer before new ones are dropped (a gap records the loss):
#: over three minutes of a 15 fps camera; [store] segment uploads are bounded to fit it.
MAX_QUEUED = SEGMENT_QUEUE_PACKETS


#: A segment is cut at this many times ``segment_seconds`` even without a keyframe (a
#: camera with an endless GOP): it is catalogued, its size bounded, and the next one
#: continues it from the very next packet (docs/design/recording.md, "Segments without
#: keyframes"). Twice the point where a keyframe is asked for (1.5x), so a camera that
#: answers the request is never cut.
SEGMENT_LIMIT_FACTOR = 3.0


@dataclass(frozen=True)
class StopReason:
    """Why a writer stops: the cause and detail of the gap opened at its last packet,
    closed at ``closed_at`` when recording is not expected to resume (camera removed)."""

    cause: str = "stopped"
    detail: str = "recorder stopped"
    closed_at: dt.datetime | None = None


class SegmentWriter(SegmentGaps):
    """Writes one camera's segments (see the module doc for the procedure; its gaps,
    floor and alarm: :class:`~recorder.segment_gaps.SegmentGaps`)."""

    def __init__(
        self,
        camera_id: str,
        hub: PacketHub,
        spool: Path,
        ingestor: Ingestor,
        store: MediaStore,
        recording: RecordingLog,
        events: EventBus,
        clock: Clock,
        *,
        segment_seconds: float = 60.0,
        reserve_bytes: Callable[[], int] | None = None,
        state_poll_seconds: float = 1.0,
        drain_seconds: float = 0.2,
        enabled: Callable[[str], bool] | None = None,
        retry_seconds: float = 10.0,
        stall_seconds: float | None = None,
        keyframe: Callable[[], None] | None = None,
    ) -> None:
        """``enabled``: where the writer reads its camera's recording state every
        ``state_poll_seconds`` (the engine's ``CameraPolls.enabled``, which reads every
        camera's in one transaction a second; None: ``recording.enabled``, a read of
        its own). ``retry_seconds``: how often segments kept while the object store
        does not answer are ingested again (4a)."""
        super().__init__(
            camera_id,
            recording,
            events,
            RecordingSwitch(
                camera_id, enabled or recording.enabled, dt.timedelta(seconds=state_poll_seconds)
            ),
        )
        self.hub = hub
        self.spool = spool
        self.ingestor = ingestor
        self.store = store
        self.clock = clock
        self.segment_seconds = segment_seconds
        self._reserve = reserve_bytes or (lambda: ingestor.reserve_bytes)
        # Appended by the pipeline thread, drained by this writer's (deque appends and
        # pops are atomic); None asks the writer to stop.
        self._items: collections.deque[Item | None] = collections.deque()
        self._wake = threading.Event()
        self._drain_seconds = drain_seconds
        # A segment that got no packet for this many drain rounds ends with a stalled
        # gap (see _idle); None: never (counted in rounds: no clock read, no per-packet cost).
        self._stall_rounds = (
            max(1, round(stall_seconds / drain_seconds))
            if stall_seconds is not None and drain_seconds > 0
            else None
        )
        self._stall_seconds = stall_seconds
        self._keyframe = keyframe
        self._idle_rounds = 0
        # 4a: counted in drain rounds, so no clock is read for it (INV-7).
        self.pending = PendingSegments(
            camera_id,
            ingestor,
            store,
            self._set_aside,
            round(retry_seconds / drain_seconds) if drain_seconds > 0 else 1,
        )
        self._overloaded = False  # packets are being dropped (pipeline thread only)
        self._dropped = 0
        self._thread: threading.Thread | None = None
        self._open: OpenSegment | None = None
        self._stop_reason = StopReason()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        report = self.salvage()
        # Files of a lease another node claimed since are no loss in this camera's
        # recording, which went on there, its takeover gap the loss (INV-9, OPS-4):
        # without others, no crash gap.
        self._resume_gap(
            self.clock.now(),
            crashed=report.files > len(report.superseded) + len(report.taken_over),
        )
        self.hub.subscribe(self._offer)
        self._thread = threading.Thread(
            target=self._run, name=f"segments-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0, reason: StopReason | None = None) -> None:
        """Finish the open segment (ingested) and stop; a gap with ``reason``'s cause
        opens at the last packet written."""
        self.hub.unsubscribe(self._offer)
        self._stop_reason = reason or StopReason()
        self._items.append(None)
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _offer(self, item: Item) -> None:  # pipeline thread: never block it
        if len(self._items) < MAX_QUEUED:
            if self._overloaded:
                # The overload is over at the first packet taken after the loss (its
                # interruption queued before it), not when the writer next empties its
                # queue: a writer held again while catching up would otherwise drop the
                # next overload's packets with no gap, a segment over the hole (OPS-4).
                log.error(
                    "camera %s: segment writer dropped %d packets while behind (a gap)",
                    self.camera_id,
                    self._dropped,
                )
                self._overloaded, self._dropped = False, 0
            self._items.append(item)  # no wake-up: the writer drains every drain_seconds
            return
        self._dropped += 1
        if not self._overloaded:
            # Once per overload: the segment ends and a gap opens where packets were lost.
            log.error("camera %s: segment writer is behind; dropping packets", self.camera_id)
            self._overloaded = True
            self._items.append(Interruption("error", "segment writer overloaded", self.clock.now()))

    def _run(self) -> None:
        while True:
            self._wake.wait(self._drain_seconds)
            if not self._items:
                self._idle()
            else:
                self._idle_rounds = 0
            while self._items:
                item = self._items.popleft()
                if item is None:
                    self._stopped()
                    return
                self._item(item)
            self._overdue()
            if self.pending:
                self._retry_kept(self.pending.tick)

    def _item(self, item: Item) -> None:
        try:
            if isinstance(item, Interruption):
                # The stream may have stopped well before the interruption was noticed (a
                # stall: read_timeout_seconds): the segment ends, and the gap starts,
                # after the last packet written (OPS-4).
                at = self._last_written() or self._at_floor(item.at)
                self._finish(at)
                if self._gap_cause in RECORDER_CAUSES and item.cause != self._gap_cause:
                    # The gap of the recorder's own start (a new camera's wait for its
                    # first keyframe, a restart's, a crash's, a stop's continued) ends
                    # where the camera's own reason is known: the gap says why from here
                    # (and raises its alarm). Before, a camera down after a restart was
                    # a `crash` or `stopped` gap (the latter quiet) for as long as it
                    # was down (OPS-4).
                    self._close_gap(at)
                self._open_gap(at, item.cause, item.detail)
            else:
                self._packet(item)
        except Exception:
            # Never lose the thread: log, drop the segment in progress, go on.
            log.exception("camera %s: segment writer failed", self.camera_id)
            self._abort("error", "segment writer failed")

    def _idle(self) -> None:
        """A drain round with nothing to drain. A camera trickling bytes keeps FFmpeg's
        read waiting for a whole packet without its socket timeout firing (PyAV's
        per-read timeout costs too much: vms/media/stream.py), so no Interruption comes:
        after ``stall_seconds`` without a packet the segment in progress ends at its last
        packet and a ``stalled`` gap opens there (OPS-4), as if one had. Checked once a
        round, on this writer's thread: nothing is added per packet."""
        if self._stall_rounds is None or self._open is None:
            return
        self._idle_rounds += 1
        if self._idle_rounds >= self._stall_rounds:
            self._idle_rounds = 0
            detail = f"no packet from the camera for {self._stall_seconds:g} s"
            self._item(Interruption("stalled", detail, self.clock.now()))

    def _overdue(self) -> None:
        """A segment ends only at a keyframe: once the open one holds half again
        ``segment_seconds`` of video, the camera is asked for one (``keyframe``: the engine's
        request_keyframe), once per segment. A camera sending P frames only after its
        first keyframe otherwise kept one segment open without end, growing past the
        reserve checked at its start, none of it catalogued. Checked once a drain round:
        nothing per packet."""
        current = self._open
        if self._keyframe is None or current is None or current.keyframe_asked:
            return
        # Half again its length: a camera whose GOP only makes it end a little late (a
        # few seconds) is not asked at every segment.
        if current.last - current.start < dt.timedelta(seconds=1.5 * self.segment_seconds):
            return
        self._ask_keyframe(current)

    def _ask_keyframe(self, current: OpenSegment) -> None:
        if self._keyframe is None or current.keyframe_asked:
            return
        current.keyframe_asked = True
        log.info("camera %s: segment due to end, no keyframe yet; asking for one", self.camera_id)
        try:
            self._keyframe()
        except Exception:  # asking is a help, not a duty: the segment goes on
            log.exception("camera %s: asking for a keyframe failed", self.camera_id)

    def _stopped(self) -> None:
        when = self._last_written()
        self._finish(when)
        reason = self._stop_reason
        if when is not None:
            self._open_gap(when, reason.cause, reason.detail)
        if reason.closed_at is not None:
            self._close_gap(reason.closed_at)
        if self.pending:  # a last try; what is still kept waits for the next start's salvage
            self._retry_kept(self.pending.retry)

    def _retry_kept(self, retry: Callable[[], None]) -> None:
        try:
            retry()
        except Exception:  # the set-aside's audit failing, ...: the thread goes on
            log.exception("camera %s: retry of kept segments failed", self.camera_id)
        self.status.segments += self.pending.catalogued
        self.pending.catalogued = 0
        self.status.kept = len(self.pending)

    def _last_written(self) -> dt.datetime | None:
        """The end of the last packet written to the open segment, if one is open."""
        return self._open.last + self._open.frame if self._open is not None else None

    # -- packets --------------------------------------------------------------------------

    def _packet(self, packet: EncodedPacket) -> None:
        if self._open is not None and (
            self._goes_back(self._open, packet) or self._open.media_jump(packet)
        ):
            self._timestamps_jumped(self._open, packet)
        if self._open is not None and (step := self._open.follow_step(packet.capture, packet.pts)):
            log.warning(
                "camera %s: capture times stepped %+.1f s at %s (the clock was set); the "
                "segment's times follow its media time over the step (INV-7, OPS-4)",
                self.camera_id,
                step.total_seconds(),
                packet.capture.isoformat(),
            )
        if not self._recording_enabled(packet.capture):
            if self._open is not None:
                self._finish(self._open.placed(packet.capture))
            elif self._gap is not None and self._gap_cause != "recording_off":
                # A packet came: whatever the open gap said (a new camera's wait for its
                # first keyframe, a restart, the camera down) is over, and recording off
                # is why from here. Before, the open gap swallowed it: recording turned
                # off during the start's `added` gap stayed `added` until it was turned
                # on again (OPS-4).
                self._close_gap(self._at_floor(packet.capture))
            self._open_gap(packet.capture, "recording_off", "recording turned off")
            return
        current = self._open
        if current is not None:
            if packet.keyframe:
                at = current.placed(packet.capture)
                rotate = (
                    at - current.start >= dt.timedelta(seconds=self.segment_seconds)
                    or packet.mask_version != current.mask_version
                    or packet.info != current.info
                    or current.continued  # back on keyframes: segments start at them again
                )
                if rotate:
                    self._finish(at)
                    current = None
            elif current.last >= current.limit:  # the one comparison added per packet
                current = self._cut(current, packet)
                if current is None:
                    return
        if current is None:
            if not packet.keyframe:
                return
            current = self._begin(packet)
            if current is None:
                return
        self._write(current, packet)

    def _cut(self, current: OpenSegment, packet: EncodedPacket) -> OpenSegment | None:
        """``current`` reached its limit without a keyframe (the camera was asked for one
        at 1.5x, see :meth:`_overdue`): it ends after its last packet and is catalogued,
        and ``packet`` starts a segment that continues it, so nothing is dropped while
        the camera sends no keyframe (OPS-4). The "no keyframes" alarm is raised (OPS-1).
        Returns the new segment (None: it could not start; see :meth:`_begin`)."""
        end = current.last + current.frame
        log.warning(
            "camera %s: no keyframe for %.0f s; segment %s..%s cut without one, the next "
            "continues it (OPS-4)",
            self.camera_id,
            (current.last - current.start).total_seconds(),
            current.start.isoformat(),
            end.isoformat(),
        )
        # Not asked yet when the packets came in a burst (a backlog): within a drain round.
        self._ask_keyframe(current)
        self._finish(end)
        self._keyframes_missing(
            f"no keyframe from the camera for {self.limit_seconds:g} s: its segments are "
            "cut without one, each playable only after the one before it"
        )
        if packet.mask_version != current.mask_version or packet.info != current.info:
            # Cannot happen for a camera's own stream (a new mask version or new codec
            # parameters come with a keyframe): nothing to continue, wait for one.
            return None
        return self._begin(packet, current)

    @property
    def limit_seconds(self) -> float:
        """The longest a segment runs without a keyframe."""
        return SEGMENT_LIMIT_FACTOR * self.segment_seconds

    def _begin(
        self, packet: EncodedPacket, continues: OpenSegment | None = None
    ) -> OpenSegment | None:
        """Start a segment at ``packet``: a keyframe, or the packet after ``continues``,
        a segment cut at its limit without one (:meth:`_cut`)."""
        # 1. room for it? (the same check the ingest makes, before we spend the disk)
        try:
            self.store.require_free(0, self._reserve())
        except InsufficientStorage as exc:
            self._disk_full(packet.capture, str(exc))
            return None
        start = self._at_floor(packet.capture)
        if start - packet.capture > dt.timedelta(seconds=0.5):
            log.warning(
                "camera %s: segment start moved from %s to %s, where the recording before "
                "it ends (the capture-time estimates disagree by %.2f s; OPS-4)",
                self.camera_id,
                packet.capture.isoformat(),
                start.isoformat(),
                (start - packet.capture).total_seconds(),
            )
        # The lease token in the name: a crash leftover is salvaged under it (INV-9).
        continued = continues is not None  # said in the name: a crash's salvage reads it
        name = SpoolName(start, packet.mask_version, packet.masked, self.fence, continued)
        path = self.spool / name.file_name()
        # A continued segment's MP4 takes its codec parameters from the keyframe the
        # one it continues took them from (its own first packet has none).
        template = packet.data if continues is None else continues.template
        try:
            writer = Mp4Writer(path, packet.info, template)
        except (DataLoss, Unavailable) as exc:
            if _disk_full_error(exc):
                self._disk_full(packet.capture, str(exc))
                return None
            raise
        frame = dt.timedelta(seconds=1.0 / max(packet.info.fps, 1.0))
        shift = start - packet.capture  # how far the floor moved it (INV-7, OPS-4)
        limit = start + dt.timedelta(seconds=self.limit_seconds)
        self._open = OpenSegment(
            path,
            writer,
            name,
            start,
            frame,
            packet.info,
            limit,
            template,
            continued=continued,
            shift=shift,
        )
        # A continued segment starts at a packet the decoder may show after later ones
        # (B frames): based on its DTS, no presentation time is before its first.
        self._base = (packet.pts, packet.dts) if continues is None else (packet.dts, packet.dts)
        self._close_gap(start)
        if continues is None:
            self._keyframes_back()
        return self._open

    def _goes_back(self, current: OpenSegment, packet: EncodedPacket) -> bool:
        """Whether ``packet`` cannot follow the segment's packets: its DTS does not
        increase (the muxer refuses it)."""
        return current.last_dts is not None and packet.dts - self._base[1] <= current.last_dts

    def _timestamps_jumped(self, current: OpenSegment, packet: EncodedPacket) -> None:
        """The camera's timestamps went back or jumped while its frames kept coming (its
        clock restarted, or it is broken or hostile): the segment ends before the packet
        and is catalogued, a gap opens, and the next keyframe starts a new segment on
        the new timestamps at its capture time (OPS-4, INV-7). A DTS going back used to
        reach the muxer, whose refusal dropped the whole segment, file and all; a jump
        was taken for a step of the server's clock, moving the recording in time by it."""
        end = current.last + current.frame
        log.warning(
            "camera %s: stream timestamps jumped (pts %d after %d); the segment ends at %s "
            "and the next keyframe starts another (OPS-4)",
            self.camera_id,
            packet.pts,
            current.last_pts,
            end.isoformat(),
        )
        self._finish(end)
        self._open_gap(end, "stream_error", "the camera's timestamps jumped")

    def _write(self, current: OpenSegment, packet: EncodedPacket) -> None:
        pts0, dts0 = self._base
        try:
            current.writer.write(packet.raw, packet.pts - pts0, packet.dts - dts0)
        except (DataLoss, Unavailable) as exc:
            if _disk_full_error(exc):
                self._abort("disk_full", str(exc))
                self._alarm(str(exc))
                return
            raise
        current.packets += 1
        current.last = max(current.placed(packet.capture), current.start)
        current.last_capture, current.last_pts = packet.capture, packet.pts
        current.last_dts = packet.dts - dts0

    # -- segment end ----------------------------------------------------------------------

    def _finish(self, end: dt.datetime | None) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        end = end if end is not None and end > current.start else current.last + current.frame
        try:
            current.writer.close()
        except (DataLoss, Unavailable) as exc:
            self._discard(current, "disk_full" if _disk_full_error(exc) else "error", str(exc))
            return
        request = segment_request(
            self.camera_id, current.name, end, current.packets, fence=self.fence
        )
        try:
            with self.store.bounded_writes():  # a hung store: seconds, not minutes (4a)
                result = self.ingestor.ingest(current.path, request, RECORDER)  # INV-1
        except InsufficientStorage as exc:
            self._discard(current, "disk_full", str(exc))
            self._alarm(str(exc))
            return
        except LeaseLost as exc:
            # Another node records this camera now (issue 13.1): the footage is kept, and
            # it is no gap in the camera's recording, which goes on there.
            self._set_aside(
                current.path, current.start, f"ingest refused the segment: {exc}", False
            )
            return
        except StoreUnavailable as exc:
            # 4a: the object store did not answer, or the media store's volume is not
            # mounted (StoreNotThere, vms/store_guard.py: its quarantine would be a folder
            # under the bare mount point, hidden once the volume is back); nothing was
            # refused of the segment.
            self._keep(current, end, str(exc))
            return
        except VMSError as exc:
            self._set_aside(current.path, current.start, f"ingest refused the segment: {exc}")
            return
        except Exception as exc:
            # Not one of our kinds (an OSError such as ENOSPC from a full inode table, a
            # database error): the open segment is already cleared, so the writer's
            # catch-all would record nothing. The footage is kept like a refused
            # segment's and its span is a gap at once (OPS-4), not a hole in the
            # timeline until the next start's salvage.
            log.exception("camera %s: ingest of a segment failed", self.camera_id)
            self._set_aside(current.path, current.start, f"ingest failed: {exc}")
            if isinstance(exc, OSError) and is_disk_full(exc):
                self._alarm(str(exc))
            return
        current.path.unlink(missing_ok=True)
        self._raise_floor(end)
        self.status.segments += 1
        self._clear_alarm()
        log.info(
            "camera %s: segment %s..%s -> media %s (mask version %d)",
            self.camera_id,
            current.start.isoformat(),
            end.isoformat(),
            result.media_id,
            current.mask_version,
        )

    def _keep(self, current: OpenSegment, end: dt.datetime, reason: str) -> None:
        """4a: the segment stays in the spool for :attr:`pending` to ingest again; its
        span is a closed ``store_unavailable`` gap until then (OPS-4)."""
        self.pending.keep(KeptSegment(current.path, current.name, end, current.packets))
        self.status.kept = len(self.pending)
        self._raise_floor(end)
        log.error(
            "camera %s: segment %s..%s kept in the spool until the object store answers (%s)",
            self.camera_id,
            current.start.isoformat(),
            end.isoformat(),
            reason,
        )
        detail = f"{reason}; kept in the spool for retry: {current.path.name}"
        try:
            self.recording.open_gap(
                self.camera_id, current.start, STORE_UNAVAILABLE, detail, self.fence, end=end
            )
        except LeaseLost as exc:
            self._lease_lost(exc, f"no {STORE_UNAVAILABLE!r} gap written")
            return
        self.events.publish(
            "recorder.gap",
            {
                "camera_id": self.camera_id,
                "cause": STORE_UNAVAILABLE,
                "start": current.start.isoformat(),
                "end": end.isoformat(),
            },
        )

    def _set_aside(self, path: Path, start: dt.datetime, reason: str, gap: bool = True) -> None:
        """A complete segment the ingest refused is footage all the same: it moves to the
        store's quarantine (never deleted, audited ``recording.quarantine``, listed by
        ``vms catalog check``) and its span is a gap naming where it is (INV-1, OPS-4),
        unless ``gap`` is False (the camera is recorded elsewhere meanwhile).
        If even the move fails, the file stays in the spool for the next start's salvage."""
        try:
            size = path.stat().st_size
            target = self.store.set_aside(path, f"recorder/{self.camera_id}")
        except OSError as exc:
            log.error(
                "camera %s: segment from %s refused (%s) and left in the spool: %s",
                self.camera_id,
                start.isoformat(),
                reason,
                exc,
            )
            self._open_gap(start, "error", f"{reason}; left in the spool")
            return
        where = str(target.relative_to(self.store.root))
        self.recording.quarantined(self.camera_id, where, size, reason)
        log.error(
            "camera %s: segment from %s moved to quarantine %s (%s)",
            self.camera_id,
            start.isoformat(),
            where,
            reason,
        )
        if gap:
            self._open_gap(start, "error", f"{reason}; kept in quarantine {where}")

    def _discard(self, current: OpenSegment, cause: str, detail: str) -> None:
        """The segment cannot be kept: remove the file, record its span as a gap."""
        current.path.unlink(missing_ok=True)
        log.error(
            "camera %s: segment from %s lost (%s: %s)",
            self.camera_id,
            current.start.isoformat(),
            cause,
            detail,
        )
        self._open_gap(current.start, cause, detail)

    def _abort(self, cause: str, detail: str) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        with contextlib.suppress(VMSError):
            current.writer.close()
        self._discard(current, cause, detail)

    # -- crash recovery (procedure 5) -----------------------------------------------------

    def salvage(self) -> SalvageReport:
        """Salvage the spool files a crash left (:mod:`recorder.salvage`), under this
        writer's lease token (INV-9)."""
        report = SpoolSalvage(
            self.camera_id, self.spool, self.ingestor, self.store, self.recording, self.fence
        ).run()
        self.status.salvaged += len(report.segments)
        for kept in report.waiting:  # 5g: ingested again when the store answers
            self.pending.keep(kept)
        self.status.kept = len(self.pending)
        return report


def _disk_full_error(exc: Exception) -> bool:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and is_disk_full(cause):
        return True
    text = str(exc).lower()
    return "no space left" in text or "disk full" in text
