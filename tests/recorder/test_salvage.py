"""Crash salvage of the recorder's spool (issue 10, item 3; INV-1, OPS-4) and the gaps
around a crash, a restart or a stall: from the last packet actually written to the first
packet after, never overlapping a segment or each other.

Spool files are made by the segment writer's own muxer (``Mp4Writer``, cut short as a
crash leaves them) and, in the last test, by a real recorder process killed with
SIGKILL mid-segment. ``ffmpeg -c copy`` is the yardstick for what is recoverable.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from onvif_control.simulator import SimulatedCamera
from recorder.engine import get as get_recorder
from recorder.fanout import EncodedPacket, Interruption, PacketHub
from recorder.recording import RecordingLog
from recorder.segments import RECORDER, SegmentWriter
from tests.media import make_video
from tests.recorder.conftest import sqlite_services, wait_for
from tests.recorder.test_reliability import assert_complete, gaps, items, recording, with_creds
from tests.vms.test_crash_safety import run_cli
from vms.check import check
from vms.db.models import AuditEntry, CustodyEvent, SourceKind
from vms.errors import FailedPrecondition
from vms.ingest import Ingestor, IngestRequest
from vms.media.codec import Encoder
from vms.media.mp4 import Mp4Writer
from vms.services import Services

FPS = 10  # one keyframe a second (GOP = 1 s) in every spool file made here
T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def spool_name(start: dt.datetime, mask_version: int = 0, masked: bool = False) -> str:
    """The segment writer's spool file name (docs/design/recording.md, procedure 2)."""
    kind = "m" if masked else "p"
    return f"{start.strftime('%Y%m%dT%H%M%S.%fZ')}.v{mask_version}.{kind}.mp4"


def spool_dir(services: Services, camera_id: str) -> Path:
    return services.config.data_dir / "recorder" / "spool" / camera_id


def write_spool_file(path: Path, seconds: float) -> None:
    """A spool segment as the writer makes it: our encoder's packets through
    ``Mp4Writer`` (fragmented MP4, a fragment per keyframe)."""
    encoder = Encoder(160, 120, FPS, keyint=FPS)
    writer: Mp4Writer | None = None
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    for i in range(int(seconds * FPS)):
        image = np.roll(base, i * 4, axis=1)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        for packet in encoder.encode(frame, i * 90000 // FPS):
            if writer is None:
                writer = Mp4Writer(path, encoder.info, packet.data)
            assert packet.pts is not None and packet.dts is not None
            writer.write(packet, packet.pts, packet.dts)
    assert writer is not None
    writer.close()


def ffmpeg_recovers(path: Path, scratch: Path) -> float:
    """Seconds of video ``ffmpeg -c copy`` gets out of ``path`` (0 when nothing)."""
    out = scratch / f"ffmpeg-{path.name}"
    run = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-y", "-i", str(path), "-c", "copy", str(out)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    if run.returncode != 0 or not out.exists():
        return 0.0
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(out)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return float(json.loads(probe.stdout)["format"].get("duration", 0.0))


def writer_for(
    services: Services,
    camera_id: str,
    hub: PacketHub,
    ingestor: Ingestor | None = None,
    recording: RecordingLog | None = None,
    segment_seconds: float = 60.0,
    keyframe: Callable[[], None] | None = None,
) -> SegmentWriter:
    """The camera's segment writer on ``hub`` (the services' ingestor and recording log
    unless given; ``keyframe``: how it asks the camera for one)."""
    return SegmentWriter(
        camera_id,
        hub,
        spool_dir(services, camera_id),
        ingestor or services.ingestor,
        services.store,
        recording or services.ports.get(RecordingLog),
        services.events,
        services.clock,
        segment_seconds=segment_seconds,
        keyframe=keyframe,
    )


def publish_frames(hub: PacketHub, start: dt.datetime, images: list[np.ndarray]) -> None:
    """Encode ``images`` (RGB, 160x120) at FPS and publish their packets on ``hub``,
    captured from ``start`` on."""
    encoder = Encoder(160, 120, FPS, keyint=FPS)
    frame_time = dt.timedelta(seconds=1 / FPS)
    for i, rgb in enumerate(images):
        image = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in encoder.encode(image.reformat(format="yuv420p"), i * 90000 // FPS):
            assert packet.pts is not None and packet.dts is not None
            capture = start + packet.pts * frame_time / (90000 // FPS)
            hub.publish(
                EncodedPacket(packet, packet.pts, packet.dts, capture, encoder.info, False, 0)
            )


def start_writer(services: Services, camera_id: str) -> SegmentWriter:
    """The camera's segment writer started as at a recorder start (salvage, gaps) with
    no stream behind it, then stopped."""
    writer = writer_for(services, camera_id, PacketHub(camera_id))
    writer.start()
    writer.stop()
    return writer


def custody(services: Services, media_id: str) -> dict[str, str]:
    with services.db.session() as s:
        details = s.execute(
            select(CustodyEvent.details).where(
                CustodyEvent.media_id == media_id, CustodyEvent.action == "ingested"
            )
        ).scalar_one()
    return dict(details or {})


def quarantine_audits(services: Services, camera_id: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "recording.quarantine",
                    AuditEntry.target == f"camera:{camera_id}",
                )
            ).scalars()
        )


def assert_no_overlaps(services: Services, camera_id: str) -> None:
    """OPS-4: gaps overlap neither segments nor each other (open gaps run to 'now')."""
    forever = dt.datetime.max.replace(tzinfo=dt.UTC)
    spans = [
        ("segment", m.recorded_start, m.recorded_end or forever) for m in items(services, camera_id)
    ]
    spans += [(f"gap {g.cause}", g.start, g.end or forever) for g in gaps(services, camera_id)]
    spans.sort(key=lambda span: (span[1], span[2]))  # an empty gap before what follows it
    covered = spans[0][1] if spans else forever
    for label, start, end in spans:
        assert start >= covered - dt.timedelta(milliseconds=1), f"{label} overlaps: {spans}"
        covered = max(covered, end)


def ingest_segment(services: Services, camera_id: str, start: dt.datetime, seconds: int) -> None:
    data = make_video(seconds=seconds, seed=seconds)
    services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(
            source=SourceKind.FIXED,
            device_id=camera_id,
            recorded_at=start,
            recorded_end=start + dt.timedelta(seconds=seconds),
        ),
        RECORDER,
    )


# -- a cut-off spool file -----------------------------------------------------------------


def test_cut_off_spool_file_is_salvaged_to_within_a_gop_of_ffmpeg_INV_1_OPS_4(
    services: Services, tmp_path: Path
) -> None:
    """Before: 'not salvageable (truncated); removed' and a 60 s crash gap."""
    spool = spool_dir(services, "cam-cut")
    spool.mkdir(parents=True)
    path = spool / spool_name(T0, 2, False)
    write_spool_file(path, seconds=8.0)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])  # cut in the middle of a fragment
    cut = path.read_bytes()
    reference = tmp_path / "reference.mp4"
    reference.write_bytes(cut)
    expected = ffmpeg_recovers(reference, tmp_path)
    assert 3.0 < expected < 8.0, expected

    writer = start_writer(services, "cam-cut")

    [item] = assert_complete(services, "cam-cut")  # INV-1: catalogued, whole, plays
    assert item.recorded_start == T0 and item.recorded_end is not None
    recovered = (item.recorded_end - T0).total_seconds()
    assert expected - 1.0 - 0.15 <= recovered <= expected + 0.15, (recovered, expected)
    details = custody(services, item.id)
    assert details["salvaged"] == "true" and details["mask_version"] == "2"
    assert writer.status.salvaged == 1
    # Never deleted: the spool file, with the part nobody can read, is in quarantine.
    [kept] = list(services.store.iter_quarantined())
    assert kept.read_bytes() == cut and not list(spool.glob("*.mp4"))
    report = check(services.db, services.store)
    assert report.quarantined == [str(kept.relative_to(services.store.root))]
    assert not report.clean
    [entry] = quarantine_audits(services, "cam-cut")
    assert "unreadable" in entry.details["reason"]
    # OPS-4: the gap starts where the salvaged video ends, and is still open.
    [gap] = gaps(services, "cam-cut")
    assert (gap.cause, gap.start, gap.end) == ("crash", item.recorded_end, None)
    assert_no_overlaps(services, "cam-cut")


def test_whole_spool_file_is_catalogued_byte_for_byte_INV_1(services: Services) -> None:
    spool = spool_dir(services, "cam-whole")
    spool.mkdir(parents=True)
    path = spool / spool_name(T0, 0, True)
    write_spool_file(path, seconds=3.0)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    start_writer(services, "cam-whole")

    [item] = assert_complete(services, "cam-whole")
    assert item.sha256 == digest  # the spool file itself, not a copy
    assert item.recorded_end is not None
    assert abs((item.recorded_end - T0).total_seconds() - 3.0) < 0.15
    assert custody(services, item.id)["masked"] == "true"
    assert list(services.store.iter_quarantined()) == []
    assert not list(spool.rglob("*.mp4"))  # catalogued, and our copy gone
    assert check(services.db, services.store).clean


def test_unreadable_spool_files_go_to_quarantine_and_catalog_check_reports_them(
    services: Services,
) -> None:
    """Nothing readable (no header, random bytes, a name we did not write): moved, never
    deleted; ``vms catalog check`` lists each and exits non-zero."""
    spool = spool_dir(services, "cam-junk")
    spool.mkdir(parents=True)
    files = {
        spool_name(T0, 0, False): b"\x00\x00\x00\x1cftypisom" + b"\x00" * 18,
        spool_name(T0 + dt.timedelta(seconds=60), 0, False): os.urandom(5000),
        "not-a-spool-name.mp4": os.urandom(100),
    }
    for file_name, content in files.items():
        (spool / file_name).write_bytes(content)

    start_writer(services, "cam-junk")

    assert items(services, "cam-junk") == []
    kept = {p.name: p.read_bytes() for p in services.store.iter_quarantined()}
    assert kept == files
    assert not list(spool.glob("*.mp4"))
    assert len(quarantine_audits(services, "cam-junk")) == 3
    cli = run_cli(services.config, "catalog", "check")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    for file_name in files:
        assert f"quarantined: quarantine/recorder/cam-junk/{file_name}" in cli.stdout


def test_spool_of_a_camera_no_longer_recorded_is_salvaged_at_start_INV_1(
    services: Services,
) -> None:
    """A camera removed from the registry after the crash: its spool is still
    catalogued (or quarantined) when the recorder starts, not left behind."""
    spool = spool_dir(services, "cam-gone")
    spool.mkdir(parents=True)
    write_spool_file(spool / spool_name(T0), seconds=2.0)
    recorder = get_recorder(services)
    recorder.start()
    recorder.stop()
    assert len(assert_complete(services, "cam-gone")) == 1
    assert not list(spool.rglob("*.mp4"))


# -- gaps around crashes and restarts (OPS-4) ---------------------------------------------


def test_restart_after_a_lost_run_starts_the_gap_where_recording_stopped_OPS_4(
    services: Services,
) -> None:
    """Run 1 recorded [0, 10]; run 2 began at 30 (its restart gap [10, 30] closed
    there) and crashed with its spool file unreadable. Before: run 3 opened a gap at 10
    again (overlapping [10, 30]) plus a 60 s crash gap from 30."""
    camera = "cam-twice"
    recording = services.ports.get(RecordingLog)
    ingest_segment(services, camera, T0, 10)
    gap = recording.open_gap(camera, T0 + dt.timedelta(seconds=10), "restart", "run 2")
    recording.close_gap(gap, T0 + dt.timedelta(seconds=30))
    spool = spool_dir(services, camera)
    spool.mkdir(parents=True)
    (spool / spool_name(T0 + dt.timedelta(seconds=30), 0, False)).write_bytes(os.urandom(3000))

    start_writer(services, camera)

    assert_no_overlaps(services, camera)
    last = gaps(services, camera)[-1]
    assert (last.cause, last.start, last.end) == ("crash", T0 + dt.timedelta(seconds=30), None)


def test_gap_open_at_a_crash_closes_where_the_salvaged_segment_starts_OPS_4(
    services: Services,
) -> None:
    """The camera was down (gap open) and came back; the segment in progress at the
    crash is salvaged: the old gap ends at its start, the crash gap begins at its end."""
    camera = "cam-back"
    recording = services.ports.get(RecordingLog)
    ingest_segment(services, camera, T0, 10)
    recording.open_gap(camera, T0 + dt.timedelta(seconds=10), "camera_down", "down")
    spool = spool_dir(services, camera)
    spool.mkdir(parents=True)
    back = T0 + dt.timedelta(seconds=25)
    write_spool_file(spool / spool_name(back, 0, False), seconds=3.0)

    start_writer(services, camera)

    assert_no_overlaps(services, camera)
    down, crash = gaps(services, camera)
    salvaged = items(services, camera)[-1]
    assert (down.cause, down.end) == ("camera_down", back)
    assert salvaged.recorded_start == back and salvaged.recorded_end is not None
    assert (crash.cause, crash.start, crash.end) == ("crash", salvaged.recorded_end, None)


def test_stalled_stream_gap_starts_at_the_last_packet_written_OPS_4(services: Services) -> None:
    """A stall is noticed read_timeout_seconds after the last packet. Before: the
    segment claimed those seconds (ending at the notice) and the gap began there."""
    camera = "cam-stall"
    hub = PacketHub(camera)
    writer = writer_for(services, camera, hub)
    writer.start()
    frame_time = dt.timedelta(seconds=1 / FPS)
    base = np.random.default_rng(5).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    publish_frames(hub, T0, [np.roll(base, i, axis=0) for i in range(25)])
    last_written = T0 + 24 * frame_time
    hub.publish(Interruption("stalled", "no data for 5 s", last_written + dt.timedelta(seconds=5)))
    writer.stop()

    [item] = assert_complete(services, camera)
    [gap] = gaps(services, camera)
    assert item.recorded_end == last_written + frame_time
    assert (gap.cause, gap.start) == ("stalled", item.recorded_end)


@pytest.mark.parametrize("before", ["handed over", "takeover", "restart"])
def test_a_holder_whose_capture_times_run_early_does_not_overlap_the_last_OPS_4(
    services: Services, before: str
) -> None:
    """Two nodes estimate a camera's capture times each on its own; one behind on its
    stream stamps them late. In CI the node that took the camera over began its first
    segment 0.88 s before the end of the other node's last one. Its first segment now
    starts where the recording before it ends; the gap between is empty, not negative."""
    camera = "cam-early"
    recording = services.ports.get(RecordingLog)
    ingest_segment(services, camera, T0, 10)  # the previous holder's last segment
    end = T0 + dt.timedelta(seconds=10)
    if before == "handed over":  # a clean hand-over leaves its gap open for the next holder
        recording.open_gap(camera, end, "handed over", "recorded by another media node")
    hub = PacketHub(camera)
    writer = writer_for(services, camera, hub)
    if before == "takeover":  # from a node that let its lease run out (killed)
        writer.taken_from = "node-a"
    writer.start()
    early = end - dt.timedelta(seconds=0.88)
    base = np.random.default_rng(7).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    publish_frames(hub, early, [np.roll(base, i, axis=1) for i in range(25)])
    writer.stop()

    assert_no_overlaps(services, camera)
    first, second = assert_complete(services, camera)[:2]
    assert (first.recorded_end, second.recorded_start) == (end, end)
    between = [g for g in gaps(services, camera) if g.start == end]
    assert [(g.cause, g.end) for g in between] == [(before, end)]
    if before == "takeover":
        assert "media node node-a stopped recording it" in (between[0].detail or "")


class _RefusingIngestor:
    """The real ingestor, except that it refuses recorder segments (what is examined is
    what the writer does with a refused segment, not why the ingest refused it)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def ingest(self, *args: object, **kwargs: object) -> object:
        raise FailedPrecondition("the catalog refuses this segment (planted refusal)")


def test_a_segment_the_ingest_refuses_goes_to_quarantine_not_the_bin_INV_1_OPS_4(
    services: Services,
) -> None:
    camera = "cam-refused"
    hub = PacketHub(camera)
    writer = writer_for(
        services,
        camera,
        hub,
        _RefusingIngestor(services.ingestor),  # type: ignore[arg-type]
    )
    writer.start()
    publish_frames(hub, T0, [np.full((120, 160, 3), i * 10, dtype=np.uint8) for i in range(15)])
    hub.publish(Interruption("stalled", "no data", T0 + dt.timedelta(seconds=3)))
    writer.stop()

    assert items(services, camera) == []
    [audit] = quarantine_audits(services, camera)
    kept = services.store.root / audit.details["file"]
    assert kept.is_file() and kept.stat().st_size == audit.details["size_bytes"] > 0
    with av.open(str(kept)) as container:  # the footage itself, playable
        assert sum(1 for _ in container.decode(video=0)) >= 10
    assert "planted refusal" in audit.details["reason"]
    [gap] = gaps(services, camera)
    assert gap.cause == "error" and audit.details["file"] in (gap.detail or "")
    assert list(spool_dir(services, camera).glob("*.mp4")) == []


class _FailingOnceIngestor:
    """The real ingestor, except that its first ingest fails with ``error``, an error of
    no kind of ours (the catalogue step's ``mkdir`` out of inodes, a database error)."""

    def __init__(self, inner: Ingestor, error: Exception) -> None:
        self.inner = inner
        self.error: Exception | None = error

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def ingest(self, *args: Any, **kwargs: Any) -> object:
        error, self.error = self.error, None
        if error is not None:
            raise error
        return self.inner.ingest(*args, **kwargs)


@pytest.mark.parametrize(
    ("error", "alarm"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OperationalError("INSERT INTO media_items", {}, Exception("database is locked")), False),
    ],
    ids=["ENOSPC", "database"],
)
def test_a_segment_whose_ingest_fails_unexpectedly_is_a_gap_at_once_and_kept_INV_1_OPS_4(
    services: Services, error: Exception, alarm: bool
) -> None:
    """OPS-4: an ingest failing with an error of no kind of ours left nothing on the
    timeline (the writer had already let go of the segment, so its catch-all recorded
    no gap) until a restart salvaged the spool file; the keyframe that ended the segment
    was dropped too. Now the span is an ``error`` gap at once, the footage is kept in
    quarantine like a refused segment's, and the next segment starts at that keyframe."""
    camera = "cam-failing"
    hub = PacketHub(camera)
    alarms: list[dict[str, Any]] = []
    services.events.subscribe(
        lambda topic, payload: alarms.append(payload) if topic == "recorder.alarm" else None
    )
    ingestor = _FailingOnceIngestor(services.ingestor, error)
    writer = writer_for(services, camera, hub, ingestor, segment_seconds=1.0)  # type: ignore[arg-type]
    writer.start()
    second = T0 + dt.timedelta(seconds=1)
    publish_frames(hub, T0, [np.full((120, 160, 3), i * 8, dtype=np.uint8) for i in range(30)])
    writer.stop()

    failed = [g for g in gaps(services, camera) if g.start < second]
    assert [(g.cause, g.start, g.end) for g in failed] == [("error", T0, second)]
    assert f"ingest failed: {error}" in (failed[0].detail or "")
    segments = assert_complete(services, camera)
    assert [m.recorded_start for m in segments] == [second, second + dt.timedelta(seconds=1)]
    assert writer.status.segments == 2
    [audit] = quarantine_audits(services, camera)
    assert audit.details["file"] in (failed[0].detail or "")
    with av.open(str(services.store.root / audit.details["file"])) as container:
        assert sum(1 for _ in container.decode(video=0)) == FPS  # the first second, whole
    assert list(spool_dir(services, camera).glob("*.mp4")) == []
    assert_no_overlaps(services, camera)
    # An ENOSPC is the media store filling up: the alarm, cleared by the next segment.
    raised = [a for a in alarms if a.get("alarm") == "disk_full"]
    assert bool(raised) is alarm
    assert writer.status.alarm is None


class _UnreadableState:
    """The real recording log, except that the recording state can be read only once:
    the database stops answering the writer's every-second poll mid-segment."""

    def __init__(self, inner: RecordingLog) -> None:
        self.inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def enabled(self, camera_id: str) -> bool:
        self.reads += 1
        if self.reads > 1:
            raise RuntimeError("database is locked (planted)")
        return self.inner.enabled(camera_id)


def test_an_unreadable_recording_state_keeps_the_segment_in_progress_INV_1(
    services: Services,
) -> None:
    """A recording-state poll that fails mid-segment leaves the camera recording as it
    was: the segment is finished and catalogued whole, no gap opens."""
    camera = "cam-db-out"
    hub = PacketHub(camera)
    state = _UnreadableState(services.ports.get(RecordingLog))
    writer = writer_for(services, camera, hub, recording=state)  # type: ignore[arg-type]
    writer.start()
    publish_frames(hub, T0, [np.full((120, 160, 3), i * 5, dtype=np.uint8) for i in range(45)])
    writer.stop()
    assert state.reads >= 3, "the writer polled during the 3 s recorded"
    [item] = items(services, camera)
    with av.open(str(services.store.path_for(item.sha256))) as container:
        assert sum(1 for _ in container.decode(video=0)) == 45
    assert [g.cause for g in gaps(services, camera) if g.start < T0 + dt.timedelta(seconds=3)] == []


# -- a real recorder killed mid-segment ---------------------------------------------------

CHILD = """
import sys, threading
from recorder.engine import get
from recorder.pipeline import CameraSpec
from vms.config import load_config
from vms.services import Services
services = Services.open(load_config())
recorder = get(services)
recorder.add_camera(CameraSpec(sys.argv[1], sys.argv[2]))
recorder.start()
threading.Event().wait()
"""


def recorder_process(
    services: Services, camera_id: str, url: str, segment_seconds: int
) -> subprocess.Popen[bytes]:
    """A recorder process (``CHILD``) recording ``camera_id`` from ``url`` into the
    services' database and store, with ``segment_seconds`` segments."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(services.config.data_dir),
        VMS_DATABASE_URL=services.config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
        VMS_RECORDER_SEGMENT_SECONDS=str(segment_seconds),
    )
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, camera_id, url],
        env=env,
        cwd=Path(__file__).parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.timeout(180)
def test_recorder_killed_mid_segment_loses_at_most_a_gop_and_the_gap_is_exact_INV_1_OPS_4(
    sim: SimulatedCamera, tmp_path: Path
) -> None:
    """kill -9 a recording process 60 s segments in; the next start salvages what
    ``ffmpeg -c copy`` recovers (within a GOP), and the one gap runs from the salvaged
    video's end to the first packet of the new run."""
    services = sqlite_services(tmp_path, VMS_RECORDER_SEGMENT_SECONDS="2")
    try:
        spool = spool_dir(services, "kill9")
        child = recorder_process(services, "kill9", with_creds(sim.rtsp_url), 60)
        try:
            # 5+ s of flushed fragments (a keyframe a second), then kill mid-segment.
            wait_for(
                lambda: sum(p.stat().st_size for p in spool.glob("*.mp4")) > 120_000,
                60,
                "5 s of spool data",
            )
            time.sleep(0.45)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        [left] = list(spool.glob("*.mp4"))
        reference = tmp_path / "reference.mp4"
        shutil.copyfile(left, reference)
        expected = ffmpeg_recovers(reference, tmp_path)
        assert expected >= 4.0, expected

        with recording(services, "kill9", with_creds(sim.rtsp_url)):
            wait_for(lambda: len(items(services, "kill9")) >= 2, 40, "a segment after")
        salvaged, first_after = assert_complete(services, "kill9")[:2]
        assert salvaged.recorded_end is not None
        recovered = (salvaged.recorded_end - salvaged.recorded_start).total_seconds()
        assert expected - 1.0 - 0.15 <= recovered <= expected + 0.15, (recovered, expected)
        assert custody(services, salvaged.id)["salvaged"] == "true"
        # The new camera's wait for its first keyframe (OPS-4), then the crash.
        added, crash = gaps(services, "kill9")[:2]
        assert added.cause == "added" and added.end is not None
        assert crash.cause == "crash"
        assert (crash.start, crash.end) == (salvaged.recorded_end, first_after.recorded_start)
        assert_no_overlaps(services, "kill9")
        kept = list(services.store.iter_quarantined())
        assert not list(spool.glob("*.mp4"))
        assert not kept or kept[0].read_bytes() == reference.read_bytes()  # cut off: kept
    finally:
        services.close()


def test_a_writer_that_is_behind_logs_its_overload_once_not_each_packet(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer held up (a hung store, a slow ingest) drops what comes beyond its queue:
    it logged an error for every packet dropped, 15 lines a second a camera for as long
    as it stayed behind, while the gap it opens records the overload once (OPS-4). Now
    one line when the overload starts (and one with the count when it ends)."""
    import logging

    import recorder.segments

    hub = PacketHub("cam-behind")
    writer = writer_for(services, "cam-behind", hub)  # not started: it never drains
    with caplog.at_level(logging.INFO, logger="recorder.segments"):
        for _ in range(recorder.segments.MAX_QUEUED + 200):
            writer._offer(Interruption("test", "filler", T0))
    dropped = [r for r in caplog.records if "dropping" in r.getMessage()]
    assert len(dropped) == 1, f"{len(dropped)} lines for 200 packets dropped"
