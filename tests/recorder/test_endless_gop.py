"""A camera that stops sending keyframes (a GOP set to "infinite", a firmware bug, a
hostile camera): its segments stay bounded, are catalogued as they go, keep every
packet, and the operator is told (OPS-1, OPS-4, INV-1). Real H.264 from libx264
through the real segment writer, ingest and alarms; nothing of the media path mocked."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from sqlalchemy import select

from recorder.fanout import EncodedPacket, PacketHub
from recorder.segments import SEGMENT_LIMIT_FACTOR
from recorder.spool import CONTINUED
from tests.recorder.conftest import wait_for
from tests.recorder.test_reliability import gaps, items
from tests.recorder.test_salvage import (
    FPS,
    T0,
    custody,
    quarantine_audits,
    spool_dir,
    start_writer,
    writer_for,
)
from vms.db.models import AlarmRow
from vms.errors import DataLoss, FailedPrecondition
from vms.media.codec import Encoder
from vms.media.fmp4 import read_layout
from vms.media.mp4 import FRAGMENT_MAX_SECONDS, salvage_mp4
from vms.services import Services

TICKS = 90000 // FPS  # one frame in the encoder's 90 kHz time base
FRAME = dt.timedelta(seconds=1 / FPS)


class Camera:
    """A camera on ``hub`` made of libx264's packets: one keyframe, then P frames for as
    long as nobody forces one (``keyint`` far beyond the test)."""

    def __init__(self, hub: PacketHub) -> None:
        self.hub = hub
        self.encoder = Encoder(160, 120, FPS, keyint=100_000)
        self.base = np.random.default_rng(7).integers(0, 255, (120, 160, 3), dtype=np.uint8)
        self.frames = 0
        self.packets = 0

    def send(self, seconds: float, *, keyframe_first: bool = False, pace: bool = True) -> None:
        for n in range(round(seconds * FPS)):
            i = self.frames
            image = av.VideoFrame.from_ndarray(np.roll(self.base, i, axis=1), format="rgb24")
            force = keyframe_first and n == 0
            for packet in self.encoder.encode(
                image.reformat(format="yuv420p"), i * TICKS, keyframe=force
            ):
                assert packet.pts is not None and packet.dts is not None
                capture = T0 + (packet.pts // TICKS) * FRAME
                self.hub.publish(
                    EncodedPacket(
                        packet, packet.pts, packet.dts, capture, self.encoder.info, False, 0
                    )
                )
                self.packets += 1
            self.frames += 1
            if pace and self.frames % (FPS // 2) == 0:
                # Half a second of video per drain round or so: the writer sees the
                # segment grow as from a camera, not all of it at once.
                time.sleep(0.25)


def alarms(services: Services, camera: str, *, open_only: bool) -> list[AlarmRow]:
    with services.db.session() as s:
        query = select(AlarmRow).where(AlarmRow.camera_id == camera)
        if open_only:
            query = query.where(AlarmRow.cleared_at.is_(None))
        return list(s.execute(query).scalars())


def decoded_in_order(paths: list[Any]) -> Iterator[Any]:
    """The frames one decoder makes of the segments' packets played one after another
    (as playback and exports do): what a segment continued without a keyframe depends on."""
    decoder: Any = None
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if decoder is None:
                decoder = av.CodecContext.create("h264", "r")
                decoder.extradata = stream.codec_context.extradata
            for packet in container.demux(stream):
                if packet.size:
                    yield from decoder.decode(packet)
    yield from decoder.decode(None)


def frames_decoded_in_order(services: Services, paths: list[Any]) -> int:
    return sum(1 for _ in decoded_in_order(paths))


def test_a_camera_without_keyframes_has_bounded_catalogued_segments_and_an_alarm_OPS_4(
    services: Services,
) -> None:
    """Before: a segment ended only at a keyframe, so a camera sending one keyframe and
    then P frames only kept one segment open without end: its spool file grew past the
    reserve checked at its start, nothing of it was catalogued (not findable, not under
    its retention) until a keyframe came or the recorder stopped, and nothing told the
    operator. Now a segment is closed at ``SEGMENT_LIMIT_FACTOR`` x ``segment_seconds``
    without a keyframe and catalogued; the next continues at the very next packet
    (flagged in its custody: it decodes after the one before it), so no packet is
    dropped; a "no keyframes" alarm is raised and the camera's next keyframe clears it
    and starts a segment of its own."""
    camera = "cam-no-keyframes"
    hub = PacketHub(camera)
    asked: list[int] = []
    writer = writer_for(
        services, camera, hub, segment_seconds=1.0, keyframe=lambda: asked.append(1)
    )
    writer.start()
    source = Camera(hub)
    limit = SEGMENT_LIMIT_FACTOR * 1.0
    try:
        # 2.5 limits of P frames after one keyframe: two segments must be closed and
        # catalogued while the camera still sends no keyframe.
        source.send(2.5 * limit + 0.05)
        wait_for(lambda: writer.status.segments >= 2, 10, "segments closed without a keyframe")
        wait_for(
            lambda: {a.kind for a in alarms(services, camera, open_only=True)} == {"no_keyframes"},
            10,
            "the no-keyframes alarm",
        )
        assert asked, "a keyframe was asked of the camera before the segment was cut"
        # The camera sends a keyframe again (asked, or its firmware recovered).
        source.send(2.0, keyframe_first=True)
        wait_for(lambda: not alarms(services, camera, open_only=True), 10, "the alarm cleared")
    finally:
        writer.stop()
    rows = sorted(items(services, camera), key=lambda r: r.recorded_start)
    for row in rows:  # INV-1: every row has its whole file
        data = services.store.path_for(row.sha256).read_bytes()
        assert len(data) == row.size_bytes and hashlib.sha256(data).hexdigest() == row.sha256
    assert [g.cause for g in gaps(services, camera)] == ["stopped"]  # nothing lost between
    for before, after in itertools.pairwise(rows):
        assert before.recorded_end == after.recorded_start
    # Bounded: no segment holds more than the limit (one frame of slack for the cut).
    for row in rows:
        assert row.recorded_end is not None
        span = (row.recorded_end - row.recorded_start).total_seconds()
        assert span <= limit + 2 * FRAME.total_seconds(), span
    details = [custody(services, row.id) for row in rows]
    # Every packet the camera sent is in a catalogued segment.
    assert sum(int(d["packets"]) for d in details) == source.packets
    # The first segment starts at a keyframe; those cut at the limit are continued by a
    # segment flagged as such; the keyframe after the alarm starts a segment again.
    flagged = [d.get("continues_without_keyframe") == "true" for d in details]
    assert not flagged[0] and flagged[1] and flagged[2]
    after_keyframe = next(
        i for i, row in enumerate(rows) if row.recorded_start >= T0 + (source.frames - 20) * FRAME
    )
    assert not flagged[after_keyframe]
    # Played one after another, the segments give back every frame.
    paths = [services.store.path_for(row.sha256) for row in rows]
    assert frames_decoded_in_order(services, paths) == source.frames
    raised = alarms(services, camera, open_only=False)
    assert [a.kind for a in raised] == ["no_keyframes"] and raised[0].detail


def test_a_segment_without_keyframes_reaches_the_disk_as_it_grows_INV_1(
    services: Services, tmp_path: Path
) -> None:
    """Before: segment files were fragmented at keyframes only, so a camera sending P
    frames only had none of its segment's fragments written: the muxer held all of it in
    memory (up to the segment's limit, before that without end) and a crash lost it all.
    Now a fragment also ends every ``FRAGMENT_MAX_SECONDS``: what a crash leaves in the
    spool is salvaged (procedure 5) up to the last such fragment."""
    camera = "cam-no-keyframes-crash"
    hub = PacketHub(camera)
    writer = writer_for(services, camera, hub, segment_seconds=60.0)
    writer.start()
    source = Camera(hub)
    seconds = 2 * FRAGMENT_MAX_SECONDS + 1
    try:
        source.send(seconds, pace=False)
        spool = spool_dir(services, camera)

        def salvaged() -> float:
            # What a crash now would leave: a copy of the spool file as it is on disk.
            files = list(spool.glob("*.mp4"))
            if not files:
                return 0.0
            copy = tmp_path / "crashed.mp4"
            shutil.copyfile(files[0], copy)
            (tmp_path / "salvaged.mp4").unlink(missing_ok=True)
            return salvage_mp4(copy, tmp_path / "salvaged.mp4").seconds

        wait_for(
            lambda: salvaged() >= 2 * FRAGMENT_MAX_SECONDS - 0.5,
            10,
            "the segment's fragments on disk while it is written",
        )
    finally:
        writer.stop()


def test_a_continued_segment_left_by_a_crash_is_salvaged_INV_1(services: Services) -> None:
    """Procedure 5 for a segment continued without a keyframe: its spool file holds no
    keyframe, and the salvage copied from the first keyframe, so it found nothing
    readable and moved the file to quarantine (kept, never catalogued). Now the file's
    name says it continues another, and its packets are copied from the first."""
    camera, crashed = "cam-no-keyframes-live", "cam-no-keyframes-crashed"
    hub = PacketHub(camera)
    writer = writer_for(services, camera, hub, segment_seconds=4.0)
    writer.start()
    spool = spool_dir(services, camera)
    try:
        # Cut at 12 s; the continued segment's first fragment ends 10 s later.
        Camera(hub).send(4 * SEGMENT_LIMIT_FACTOR + FRAGMENT_MAX_SECONDS + 2, pace=False)
        target = spool_dir(services, crashed)
        target.mkdir(parents=True)

        def left_by_a_crash() -> bool:
            # What a crash now would leave, in a spool nobody writes to: the file's bytes
            # as they are on disk, read once, holding a whole fragment. The muxer writes
            # a fragment (about 690 kB here) in several writes, moof first: a copy taken
            # between two of them has a cut-off fragment, which the salvage rightly
            # catalogues in part and quarantines (5c), so "moof" was not enough.
            files = list(spool.glob("*.mp4"))
            if writer.status.segments != 1 or len(files) != 1:
                return False
            copy = target / files[0].name
            copy.write_bytes(files[0].read_bytes())
            try:
                return len(read_layout(copy).tfdt) >= 1
            except (DataLoss, FailedPrecondition):  # a box cut off, or no moof yet
                return False

        wait_for(left_by_a_crash, 10, "a continued segment with a whole fragment on disk")
    finally:
        writer.stop()
    start_writer(services, crashed)
    (row,) = items(services, crashed)
    details = custody(services, row.id)
    assert details["salvaged"] == "true" and details[CONTINUED] == "true"
    assert not quarantine_audits(services, crashed)
    assert row.recorded_end is not None
    assert (row.recorded_end - row.recorded_start).total_seconds() >= FRAGMENT_MAX_SECONDS - 0.5
