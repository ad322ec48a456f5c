"""The RTSP server, read by FFmpeg (ffprobe, PyAV) and GStreamer, plus bad clients."""

from __future__ import annotations

import itertools
import shutil
import struct
import subprocess
import threading
import time

import av
import pytest

from onvif_control.simulator import SimulatedCamera
from onvif_control.simulator.rtsp_server import PlayStart

from .conftest import PASSWORD, SMALL, USERNAME, credentials_url
from .rtsp_client import RawRtsp

pytestmark = pytest.mark.timeout(90)
FPS = 15


def _tool(name: str) -> str:
    path = shutil.which(name)
    # Not a skip: the issue requires these peers, so a machine without them fails.
    assert path, f"{name} is required (Debian: ffmpeg / gstreamer1.0-tools and plugins)"
    return path


def _ffprobe_packet_times(url: str, transport: str, seconds: float) -> list[float]:
    result = subprocess.run(
        [
            _tool("ffprobe"),
            "-v", "error",
            "-rtsp_transport", transport,
            "-select_streams", "v",
            "-read_intervals", f"%+{seconds}",
            "-show_entries", "packet=pts_time",
            "-of", "csv=p=0",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )  # fmt: skip
    # The first packet or two may lack a timestamp until the stream's timing is known.
    values = [line.split(",")[0] for line in result.stdout.split()]
    return [float(v) for v in values if v and v != "N/A"]


def _assert_frame_rate(times: list[float], fps: float) -> None:
    assert len(times) >= 1.8 * fps, f"only {len(times)} packets"
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span
    assert rate == pytest.approx(fps, rel=0.1)
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert max(steps) < 3.0 / fps  # no big holes


def test_ffprobe_reads_h264_over_tcp_at_the_frame_rate(camera):
    url = credentials_url(camera.rtsp_url)
    streams = subprocess.run(
        [_tool("ffprobe"), "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
         "stream=codec_name,profile,width,height,r_frame_rate", "-of", "default=nw=1", url],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "codec_name=h264" in streams
    assert "profile=Constrained Baseline" in streams
    assert "width=320" in streams and "height=180" in streams
    assert f"r_frame_rate={FPS}/1" in streams
    _assert_frame_rate(_ffprobe_packet_times(url, "tcp", 3), FPS)


def test_pyav_reads_over_tcp_and_udp(camera):
    for transport in ("tcp", "udp"):
        started = time.monotonic()
        with av.open(
            credentials_url(camera.rtsp_url),
            options={"rtsp_transport": transport, "stimeout": "5000000"},
            timeout=10,
        ) as container:
            stream = container.streams.video[0]
            frames = []
            for frame in container.decode(stream):
                frames.append(frame)
                if len(frames) == 2 * FPS:
                    break
        elapsed = time.monotonic() - started
        assert frames[0].width == 320 and frames[0].height == 180
        pts = [float(f.time) for f in frames if f.time is not None]
        _assert_frame_rate(pts, FPS)
        assert elapsed < 10, transport


def test_gstreamer_rtspsrc_reads_over_tcp(camera):
    buffers = 3 * FPS

    def read() -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        result = subprocess.run(
            [_tool("gst-launch-1.0"), "-q",
             "rtspsrc", f"location={camera.rtsp_url}", f"user-id={USERNAME}",
             f"user-pw={PASSWORD}", "protocols=tcp", "latency=0", "!", "rtph264depay", "!",
             "h264parse", "!", "avdec_h264", "!", "fakesink", f"num-buffers={buffers}",
             "sync=false"],
            capture_output=True, text=True, timeout=40,
        )  # fmt: skip
        return result, time.monotonic() - started

    result, elapsed = read()
    if result.returncode != 0 and "gst_rtspsrc_pause" in result.stderr:
        # Known and not yet diagnosed (session notes of 2026-12-02 and -03): in about one
        # run in ten the connection is closed under rtspsrc's PAUSE at its own shutdown,
        # after it read every buffer. Retried once so CI is not hostage to it; a second
        # failure, or any other error, fails the test.
        result, elapsed = read()
    assert result.returncode == 0, result.stderr[-2000:]
    # The camera produces frames in real time: 45 frames take about 3 s.
    assert buffers / FPS * 0.8 < elapsed < buffers / FPS + 8


def test_two_clients_at_once_share_one_encoder(camera):
    url = credentials_url(camera.rtsp_url)
    results: dict[str, list[float]] = {}

    def probe() -> None:
        results["ffprobe"] = _ffprobe_packet_times(url, "tcp", 3)

    before = camera.hub.stats.frames
    started = time.monotonic()
    thread = threading.Thread(target=probe, name="test-ffprobe")
    thread.start()
    time.sleep(0.5)
    frames = 0
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as container:
        sessions_seen = camera.rtsp_sessions
        for _frame in container.decode(video=0):
            frames += 1
            if frames == 2 * FPS:
                break
    thread.join(30)
    elapsed = time.monotonic() - started
    encoded = camera.hub.stats.frames - before
    assert sessions_seen == 2
    assert frames == 2 * FPS
    _assert_frame_rate(results["ffprobe"], FPS)
    # Encoded once per camera: about fps * elapsed frames, not twice that.
    assert encoded <= FPS * elapsed * 1.15 + 2


def test_rtp_timestamps_follow_the_capture_clock_and_sender_reports_arrive(camera):
    client = RawRtsp(camera.rtsp_port, USERNAME, PASSWORD)
    try:
        client.play_tcp()
        timestamps: list[int] = []
        reports: list[bytes] = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and (len(timestamps) < 30 or not reports):
            channel, packet = client.read_interleaved()
            if channel == 0:
                marker = packet[1] & 0x80
                if marker:
                    timestamps.append(struct.unpack("!I", packet[4:8])[0])
            elif channel == 1 and packet[1] == 200:
                reports.append(packet)
        assert reports, "no RTCP sender report"
        steps = {(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(timestamps)}
        # 90 kHz clock, one frame every 1/15 s = 6000 ticks. A frame the simulator had no
        # time to render (a loaded machine) is skipped whole: the step is then a multiple,
        # 12000 or, seen once in CI with both cores busy, 18000. A counter's timestamps,
        # or the send time's, would not be whole frames. (Run alone, this test once saw
        # 5999: the first frame sent was one tick late, SimulatedStream._run.)
        assert all(step % 6000 == 0 and 0 < step <= FPS * 6000 for step in steps), steps
        assert 6000 in steps
    finally:
        client.close()


def test_requests_out_of_order_get_rtsp_statuses(camera):
    client = RawRtsp(camera.rtsp_port, USERNAME, PASSWORD)
    try:
        assert client.request("OPTIONS", auth=False).status == 200
        unauth = client.request("DESCRIBE", auth=False)
        assert unauth.status == 401 and unauth.headers["www-authenticate"].startswith("Digest ")
        assert client.request("PLAY").status == 454  # no session
        assert client.request("PLAY", headers={"Session": "deadbeef"}).status == 454
        assert (
            client.request("DESCRIBE", f"rtsp://127.0.0.1:{camera.rtsp_port}/other").status == 404
        )
        assert (
            client.request(
                "SETUP", client.url + "/track9", {"Transport": "RTP/AVP/TCP;interleaved=0-1"}
            ).status
            == 404
        )
        assert (
            client.request(
                "SETUP", client.url + "/track1", {"Transport": "RTP/SAVP;unicast"}
            ).status
            == 461
        )
        assert client.request("SETUP", client.url + "/track1").status == 461  # no Transport
        setup = client.request(
            "SETUP", client.url + "/track1", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        assert setup.status == 200
        session = setup.headers["session"].split(";")[0]
        again = client.request(
            "SETUP",
            client.url + "/track1",
            {"Transport": "RTP/AVP/TCP;interleaved=0-1", "Session": session},
        )
        assert again.status == 459
        assert client.request("PAUSE", headers={"Session": session}).status == 455  # not playing
        assert client.request("GET_PARAMETER", headers={"Session": session}).status == 200
        assert client.request("RECORD", headers={"Session": session}).status == 405
        assert client.request("FLY").status == 501
        assert client.request("PLAY", headers={"Session": session}).status == 200
        assert client.request("PAUSE", headers={"Session": session}).status == 200
        assert client.request("PLAY", headers={"Session": session}).status == 200
        assert client.request("TEARDOWN", headers={"Session": session}).status == 200
        assert client.request("PLAY", headers={"Session": session}).status == 454
        client.send_raw(b"DESCRIBE rtsp://127.0.0.1/stream1 RTSP/1.0\r\n\r\n")  # no CSeq
        assert client.read_reply().status == 400
        client.send_raw(b"PLAY rtsp://127.0.0.1/stream1 RTSP/2.0\r\nCSeq: 99\r\n\r\n")
        assert client.read_reply().status == 505
    finally:
        client.close()
    garbage = RawRtsp(camera.rtsp_port)
    try:
        garbage.send_raw(b"\x16\x03\x01 this is not rtsp\r\n\r\n")
        assert garbage.read_reply().status == 400
    finally:
        garbage.close()


def test_clients_vanishing_mid_stream_do_not_hurt_the_server(camera):
    # One resets the connection while playing, one stops reading, one leaves mid-request.
    crashed = RawRtsp(camera.rtsp_port, USERNAME, PASSWORD)
    crashed.play_tcp()
    crashed.read_interleaved()
    crashed.abort()
    stalled = RawRtsp(camera.rtsp_port, USERNAME, PASSWORD)
    stalled.play_tcp()
    half = RawRtsp(camera.rtsp_port, USERNAME, PASSWORD)
    half.send_raw(b"DESCRIBE rtsp://127.0.0.1/stream1 RTSP/1.0\r\nCSe")
    half.abort()
    udp = RawRtsp(camera.rtsp_port, USERNAME, PASSWORD)
    setup = udp.request(
        "SETUP", udp.url + "/track1", {"Transport": "RTP/AVP;unicast;client_port=40000-40001"}
    )
    assert setup.status == 200 and "server_port=" in setup.headers["transport"]
    udp.request("PLAY", headers={"Session": setup.headers["session"].split(";")[0]})
    udp.abort()
    try:
        # Meanwhile a well-behaved client still gets the stream at full rate.
        times = _ffprobe_packet_times(credentials_url(camera.rtsp_url), "tcp", 2)
        _assert_frame_rate(times, FPS)
    finally:
        stalled.abort()
    deadline = time.monotonic() + 5
    while camera.rtsp_sessions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert camera.rtsp_sessions == 0


def _nal_type(rtp: bytes) -> int:
    """The H.264 NAL unit type an RTP payload carries (that of the fragment, for FU-A;
    of the first unit, for STAP-A)."""
    payload = rtp[12:]
    kind = payload[0] & 0x1F
    if kind == 28:  # FU-A
        return payload[1] & 0x1F
    if kind == 24:  # STAP-A: 2 bytes of size, then the unit
        return payload[3] & 0x1F
    return kind


@pytest.mark.parametrize("play_start", list(PlayStart))
def test_a_session_starts_as_the_camera_is_configured(play_start):
    """``play_start``: IDR (default) gets a fresh IDR first, nothing before it; P_FRAMES
    the shared encoder's frames from PLAY on, P frames with a 60 s GOP, as many real
    cameras send them; NEXT_KEYFRAME nothing until the camera's next keyframe. With the
    last two, ``SetSynchronizationPoint`` brings an IDR at once."""
    cam = SimulatedCamera(
        "gop", size=SMALL, fps=10, gop_seconds=60, play_start=play_start,
        username=USERNAME, password=PASSWORD,
    )  # fmt: skip
    cam.start()
    client = RawRtsp(cam.rtsp_port, USERNAME, PASSWORD, timeout=1.5)
    try:
        time.sleep(0.5)  # the camera's own IDR (the first frame it made) is well past
        client.play_tcp()
        kinds: list[int] = []

        def read(count: int) -> None:
            while len(kinds) < count:
                channel, packet = client.read_interleaved()
                if channel == 0:
                    kinds.append(_nal_type(packet))

        if play_start is PlayStart.NEXT_KEYFRAME:
            with pytest.raises(TimeoutError):
                read(1)
        else:
            read(5)
        if play_start is PlayStart.IDR:
            assert kinds[0] == 7, kinds  # SPS, before the IDR
            assert 5 in kinds, kinds
            return
        assert set(kinds) <= {1}, kinds  # non-IDR slices only, or nothing
        cam.hub.synchronization_point()
        started = len(kinds)
        read(started + 8)  # a frame or two in flight, then the IDR (SPS, PPS, slices)
        assert 5 in kinds[started:], kinds
    finally:
        client.close()
        cam.stop()


def test_every_session_gets_its_idr_at_play_even_with_a_long_gop():
    """Before: the IDR a PLAY asks of the hub could go to a frame captured just before the
    session's start (the frame thread, woken from idle, catches up to a frame time up to
    one period back), which the session skips; it then waited for the camera's next GOP,
    a minute here: about every other session from idle got nothing (ffprobe hung, a
    recorder's read timed out and reconnected into the same wait). Now a session waiting
    for its IDR asks the hub for one again."""
    cam = SimulatedCamera(
        "gop", size=SMALL, fps=10, gop_seconds=60, username=USERNAME, password=PASSWORD
    )
    cam.start()
    try:
        for attempt in range(10):
            time.sleep(0.37)  # idle in between: the frame thread sleeps
            client = RawRtsp(cam.rtsp_port, USERNAME, PASSWORD, timeout=3.0)
            try:
                client.play_tcp()
                started = time.monotonic()
                try:
                    while client.read_interleaved()[0] != 0:
                        pass
                except TimeoutError:
                    pytest.fail(f"session {attempt}: no RTP within 3 s of PLAY")
                assert time.monotonic() - started < 1.0, attempt
            finally:
                client.close()
    finally:
        cam.stop()
