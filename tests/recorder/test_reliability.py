"""Reliability (issue 5, OPS-4, INV-1): a camera killed and restarted mid-recording, a
garbage stream, a truncated stream, the media store's disk full (a 20 MB tmpfs), and
Debian's GStreamer RTSP server as a camera not written here. Pass-through cameras (no
masks): what is under test is the pipeline, the segment writer and the gaps. Every test
is bounded in time and its peers always stop.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import select

from onvif_control.simulator import SimulatedCamera
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from recorder.pipeline import CameraSpec
from tests.recorder.conftest import PASSWORD, USERNAME, sqlite_services, wait_for
from vms.db.models import MediaItem, RecordingGap
from vms.services import Services

FAST = {
    "VMS_RECORDER_SEGMENT_SECONDS": "2",
    "VMS_RECORDER_READ_TIMEOUT_SECONDS": "2",
    "VMS_RECORDER_RECONNECT_MIN_SECONDS": "0.2",
    "VMS_RECORDER_RECONNECT_MAX_SECONDS": "1",
}
GST_SCRIPT = Path(__file__).parents[1] / "peers" / "gstreamer" / "rtsp_camera.py"


def with_creds(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USERNAME}:{PASSWORD}@{rest}"


def items(services: Services, camera_id: str) -> list[MediaItem]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(MediaItem)
                .where(MediaItem.device_id == camera_id)
                .order_by(MediaItem.recorded_start)
            ).scalars()
        )


def gaps(services: Services, camera_id: str) -> list[RecordingGap]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(RecordingGap)
                .where(RecordingGap.camera_id == camera_id)
                .order_by(RecordingGap.start)
            ).scalars()
        )


def ended(services: Services, camera_id: str) -> list[RecordingGap]:
    """The camera's gaps after its first keyframe: all but the ``added`` gap of a new
    camera's wait for it (none when a file source's first packet came at once)."""
    return [g for g in gaps(services, camera_id) if g.cause != "added"]


def assert_complete(services: Services, camera_id: str) -> list[MediaItem]:
    """INV-1: every row has its whole file (size and SHA-256) and it plays."""
    rows = items(services, camera_id)
    for item in rows:
        path = services.store.path_for(item.sha256)
        data = path.read_bytes()
        assert len(data) == item.size_bytes and hashlib.sha256(data).hexdigest() == item.sha256
        with av.open(str(path)) as container:
            assert sum(1 for _ in container.decode(video=0)) > 0
    return rows


@contextlib.contextmanager
def recording(services: Services, camera_id: str, url: str) -> Iterator[Recorder]:
    recorder = get_recorder(services)
    recorder.add_camera(CameraSpec(camera_id, url))
    recorder.start()
    try:
        yield recorder
    finally:
        recorder.stop()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = sqlite_services(tmp_path, **FAST)
    try:
        yield svc
    finally:
        svc.close()


@pytest.mark.timeout(120)
def test_camera_killed_and_restarted_recording_resumes_and_the_gap_is_recorded_OPS_4(
    services: Services,
) -> None:
    sim = SimulatedCamera("kill", size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    sim.start()
    port = sim.rtsp_port
    restarted: SimulatedCamera | None = None
    try:
        with recording(services, "kill", with_creds(sim.rtsp_url)) as recorder:
            wait_for(lambda: len(items(services, "kill")) >= 1, 30, "a first segment")
            sim.stop()
            killed_at = time.time()
            wait_for(lambda: bool(gaps(services, "kill")), 20, "a gap for the dead camera")
            time.sleep(1.0)
            restarted = SimulatedCamera(
                "kill",
                rtsp_port=port,
                size=(320, 180),
                fps=10,
                username=USERNAME,
                password=PASSWORD,
            )
            restarted.start()
            before = len(items(services, "kill"))
            wait_for(lambda: len(items(services, "kill")) > before, 40, "recording resumed")
            status = recorder.status("kill")
    finally:
        sim.stop()
        if restarted is not None:
            restarted.stop()
    # The new camera's wait for its first keyframe, then the kill's (OPS-4).
    added, gap = gaps(services, "kill")[:2]
    assert added.cause == "added" and added.end is not None
    assert gap.cause in ("camera_down", "stalled"), gap.cause
    assert gap.end is not None and gap.start.timestamp() <= killed_at + 3.0
    rows = assert_complete(services, "kill")
    assert rows[-1].recorded_start >= gap.end
    assert status.reconnects >= 1 and status.state == "streaming"


class GarbageServer:
    """Accepts TCP connections on 127.0.0.1 and answers each with random bytes."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="garbage-server", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rng = np.random.default_rng(5)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n" + rng.bytes(4096))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.mark.timeout(60)
def test_garbage_stream_is_a_gap_and_the_recorder_keeps_trying(services: Services) -> None:
    server = GarbageServer()
    try:
        with recording(services, "junk", f"rtsp://127.0.0.1:{server.port}/x") as recorder:
            wait_for(lambda: server.connections >= 3, 30, "reconnects to the garbage source")
            status = recorder.status("junk")
            thread = recorder.pipeline("junk")._thread
            assert thread is not None and thread.is_alive()
    finally:
        server.stop()
    assert status.reconnects >= 2 and status.state in ("down", "connecting")
    assert items(services, "junk") == []
    # The new camera's wait, ended by its first failure, whose gap says why (OPS-4).
    added, gap = gaps(services, "junk")[:2]
    assert added.cause == "added" and added.end == gap.start
    assert gap.cause in ("camera_down", "stream_error") and gap.detail
    spool = services.config.data_dir / "recorder" / "spool" / "junk"
    assert not list(spool.glob("*.mp4")) if spool.exists() else True


def truncated_ts(path: Path, seconds: float = 3.0, keep: float = 0.6) -> None:
    """An MPEG-TS H.264 file cut off in the middle of a packet."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "10"}
        for i in range(int(seconds * 10)):
            img = np.full((180, 320, 3), (i * 8) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) + 77])


@pytest.mark.timeout(60)
def test_truncated_stream_keeps_what_arrived_and_records_the_gap(
    services: Services, tmp_path: Path
) -> None:
    source = tmp_path / "cut.ts"
    truncated_ts(source)
    with recording(services, "cut", str(source)) as recorder:
        wait_for(lambda: bool(items(services, "cut")), 30, "a segment of what arrived")
        wait_for(lambda: len(ended(services, "cut")) > 0, 10, "the gap")
        status = recorder.status("cut")
    assert status.packets > 0
    assert ended(services, "cut")[0].cause in ("camera_down", "stream_error")
    assert_complete(services, "cut")


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Services]:
    """Services whose media store is a 20 MB tmpfs (unmounted after)."""
    media = tmp_path / "var" / "media"
    media.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(media)], check=True)
    try:
        svc = sqlite_services(tmp_path, **FAST)
        try:
            yield svc
        finally:
            svc.close()
    finally:
        subprocess.run(["umount", str(media)], check=True)


@pytest.mark.timeout(120)
def test_disk_full_stops_cleanly_with_an_alarm_and_resumes_INV_1(
    small_store: Services,
) -> None:
    services = small_store
    alarms: list[dict[str, object]] = []
    services.events.subscribe(
        lambda topic, data: alarms.append(data) if topic == "recorder.alarm" else None
    )
    filler = services.config.media_dir / "filler.bin"
    sim = SimulatedCamera("full", size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    sim.start()
    try:
        with recording(services, "full", with_creds(sim.rtsp_url)) as recorder:
            writer = recorder.writer("full")
            wait_for(lambda: writer.status.segments >= 1, 30, "a first segment")
            # Fill the store to the last page.
            free = shutil.disk_usage(services.config.media_dir).free
            with filler.open("wb") as f:
                f.write(b"\0" * max(0, free - 4096))
            wait_for(lambda: writer.status.alarm is not None, 30, "the disk-full alarm")
            stopped_at = writer.status.segments
            time.sleep(3.0)
            assert writer.status.segments == stopped_at, "no segment while the disk is full"
            filler.unlink()
            wait_for(lambda: writer.status.segments > stopped_at, 30, "recording resumed")
            wait_for(lambda: writer.status.alarm is None, 10, "the alarm cleared")
    finally:
        sim.stop()
    full = [g for g in gaps(services, "full") if g.cause == "disk_full"]
    assert full and full[0].end is not None, "the disk_full gap is recorded and closed"
    assert [a.get("alarm") for a in alarms] == ["disk_full", None]
    assert_complete(services, "full")  # no half rows (INV-1)
    assert not list((services.config.media_dir / "tmp").iterdir()), "no temp files left"


@pytest.fixture
def gst_camera() -> Iterator[str]:
    """Debian's GStreamer RTSP server (system python3 + gi) on an ephemeral port."""
    proc = subprocess.Popen(
        ["/usr/bin/python3", str(GST_SCRIPT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(20.0), "the GStreamer RTSP server did not start in 20 s"
        line = proc.stdout.readline().strip()
        assert line.startswith("READY "), f"{line!r} {proc.stderr.read() if proc.stderr else ''}"
        yield line.split(" ", 1)[1]
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.mark.timeout(90)
def test_gstreamer_camera_pass_through_plays_in_ffprobe(
    services: Services, gst_camera: str
) -> None:
    with recording(services, "gst", gst_camera) as recorder:
        wait_for(lambda: len(items(services, "gst")) >= 2, 40, "two segments")
        status = recorder.status("gst")
    assert status.masked is False  # pass-through, no decode
    for item in assert_complete(services, "gst")[:2]:
        probe = subprocess.run(
            [
                "ffprobe", "-v", "error", "-count_frames", "-show_entries",
                "stream=codec_name,width,height,nb_read_frames:format=duration", "-of", "json",
                str(services.store.path_for(item.sha256)),
            ],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        info = json.loads(probe.stdout)
        stream = info["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 180)
        assert int(stream["nb_read_frames"]) >= 10
        assert float(info["format"]["duration"]) > 1.0
    assert os.path.exists(GST_SCRIPT)
