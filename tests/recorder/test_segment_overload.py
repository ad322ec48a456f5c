"""A segment writer that falls behind (a slow store holding its ingest) drops packets once
its queue is full, and the loss must be recorded as a gap each time it happens (OPS-4,
INV-1): no catalogued segment may hide a hole."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import recorder.segments
from recorder.fanout import EncodedPacket, PacketHub
from tests.recorder.conftest import wait_for
from tests.recorder.test_reliability import assert_complete, gaps
from tests.recorder.test_salvage import FPS, T0, writer_for
from vms.media.codec import Encoder
from vms.services import Services

QUEUED = 15  # recorder.segments.MAX_QUEUED for the test: 1.5 s of this 10 fps stream


def packets(seconds: int) -> list[EncodedPacket]:
    """``seconds`` of a 10 fps stream (a keyframe each second), captured from T0 on."""
    encoder = Encoder(160, 120, FPS, keyint=FPS)
    base = np.random.default_rng(5).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frame_time = dt.timedelta(seconds=1 / FPS)
    out = []
    for i in range(seconds * FPS):
        image = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
        for packet in encoder.encode(image.reformat(format="yuv420p"), i * 90000 // FPS):
            assert packet.pts is not None and packet.dts is not None
            capture = T0 + packet.pts * frame_time / (90000 // FPS)
            info = encoder.info
            out.append(EncodedPacket(packet, packet.pts, packet.dts, capture, info, False, 0))
    assert len(out) == seconds * FPS
    return out


class HeldIngestor:
    """The services' ingestor whose first ``len(entered)`` ingests wait to be released
    (a store that does not answer for a while)."""

    def __init__(self, inner: Any, holds: int) -> None:
        self._inner = inner
        self.entered = [threading.Event() for _ in range(holds)]
        self.release = [threading.Event() for _ in range(holds)]
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def ingest(self, *args: Any, **kwargs: Any) -> Any:
        n, self.calls = self.calls, self.calls + 1
        if n < len(self.entered):
            self.entered[n].set()
            assert self.release[n].wait(30), "the test never released the ingest"
        return self._inner.ingest(*args, **kwargs)


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(video=0) if p.size)


def test_every_overload_of_the_segment_writer_is_a_gap_OPS_4(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the writer queued one 'segment writer overloaded' interruption per
    overload and counted the overload over only once its queue was empty; a store slow
    again while the writer caught up (the interruption's own segment ingest) filled the
    queue again, and those packets were dropped with no gap: the next segment was
    catalogued over the hole (15 frames in a 2 s segment of a 10 fps stream)."""
    monkeypatch.setattr(recorder.segments, "MAX_QUEUED", QUEUED)
    camera = "cam-behind"
    hub = PacketHub(camera)
    held = HeldIngestor(services.ingestor, 2)
    writer = writer_for(services, camera, hub, ingestor=held, segment_seconds=1.0)  # type: ignore[arg-type]
    stream = packets(8)
    writer.start()
    try:
        for p in stream[:11]:  # the keyframe at 1 s ends the first segment: held
            hub.publish(p)
        assert held.entered[0].wait(30)
        for p in stream[11:30]:  # 15 queued, 4 dropped: overload 1
            hub.publish(p)
        held.release[0].set()
        assert held.entered[1].wait(30)  # the writer is held again while catching up
        for p in stream[30:44]:  # room for 9 more, then dropped: overload 2
            hub.publish(p)
        held.release[1].set()
        for at in range(44, len(stream), 5):  # the stream goes on, the writer keeps up
            wait_for(lambda: not writer._items, 30, "the writer drained its queue")
            for p in stream[at : at + 5]:
                hub.publish(p)
    finally:
        held.release[0].set()
        held.release[1].set()
        writer.stop()

    rows = assert_complete(services, camera)
    for row in rows:
        assert row.recorded_end is not None
        span = (row.recorded_end - row.recorded_start).total_seconds()
        frames = frames_in(services.store.path_for(row.sha256))
        assert frames == round(span * FPS), (row.recorded_start, span, frames)
    lost = [g for g in gaps(services, camera) if g.detail == "segment writer overloaded"]
    assert len(lost) == 2, [(g.start, g.end, g.cause, g.detail) for g in gaps(services, camera)]
