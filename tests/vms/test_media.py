"""The media adapter (vms/media/): every PyAV failure leaves as a kind of vms/errors.py
(docs/design/dependencies.md, "The media adapter"), on real media made with PyAV. An
unreachable camera (Unavailable) is tests/security/test_camera_credentials.py's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import pytest

from onvif_control.simulator.camera import SimulatedCamera
from tests.media import make_video
from tests.peers.sockets import relay
from vms.errors import DataLoss, FailedPrecondition, Unavailable
from vms.media.codec import Decoder, JpegEncoder
from vms.media.errors import translate
from vms.media.mp4 import salvage_mp4
from vms.media.stream import RawPacket, RtspInput, StreamInfo


def _write(path: Path, fmt: str, codec: str) -> Path:
    """A short file of ``codec`` in container ``fmt`` (video, or audio for pcm)."""
    out = av.open(str(path), "w", format=fmt)
    if codec.startswith("pcm"):
        stream = out.add_stream(codec, rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16")
        frame.sample_rate = 8000
        frames = [frame]
    else:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        black = np.zeros((48, 64, 3), np.uint8)
        frames = [av.VideoFrame.from_ndarray(black, format="rgb24") for _ in range(5)]
    for frame in frames:
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()
    return path


def test_a_stream_that_is_not_h264_is_a_failed_precondition(tmp_path):
    path = _write(tmp_path / "cam.avi", "avi", "mpeg4")
    with pytest.raises(FailedPrecondition, match=r"sends mpeg4, not H\.264"):
        RtspInput(str(path)).open()


def test_a_stream_without_video_is_a_failed_precondition(tmp_path):
    path = _write(tmp_path / "mic.wav", "wav", "pcm_s16le")
    with pytest.raises(FailedPrecondition, match="has no video stream"):
        RtspInput(str(path)).open()


def test_an_h264_file_opens_and_streams_its_packets(tmp_path):
    path = tmp_path / "cam.mp4"
    make_video(path, seconds=1.0)
    source = RtspInput(str(path))
    info = source.open()
    packets = []
    with pytest.raises(Unavailable, match="the stream ended"):
        packets.extend(source.packets())
    source.close()
    assert (info.codec, info.width, info.height) == ("h264", 160, 120)
    assert len(packets) == 15 and packets[0].keyframe


def test_a_demuxed_packets_bytes_are_copied_out_only_when_read(tmp_path):
    """A packet from the demuxer holds the demuxer's own packet and copies its bytes at
    the first read of ``data`` (a masked camera's packets are only decoded, from the
    source: no copy). Read or not, it is the same value as one made from the bytes, and
    it decodes to the same pictures."""
    path = tmp_path / "cam.mp4"
    make_video(path, seconds=1.0)
    source = RtspInput(str(path))
    info = source.open()
    packets = []
    with pytest.raises(Unavailable):
        packets.extend(source.packets())
    source.close()
    assert all(p._data is None for p in packets), "nothing copied before a read"
    first = packets[0]
    made = RawPacket(bytes(first.source), first.pts, first.dts, first.keyframe)
    assert first == made and hash(first) == hash(made)
    assert first._data == bytes(first.source) and first.data is first.data
    assert first != RawPacket(made.data, first.pts, (first.dts or 0) + 1, first.keyframe)
    from_source, from_bytes = Decoder(info), Decoder(info)
    for packet in packets:
        a, b = (
            from_source.decode(packet),
            from_bytes.decode(RawPacket(packet.data, packet.pts, packet.dts, packet.keyframe)),
        )
        assert [f.to_ndarray().tobytes() for f in a] == [f.to_ndarray().tobytes() for f in b]
    with pytest.raises(ValueError, match="needs its bytes"):
        RawPacket(None, 0, 0, True)


def test_a_stream_that_stalls_with_its_socket_open_is_unavailable_within_the_timeout():
    """The camera's connection stays up but no byte arrives (a relay that stops
    forwarding): the read fails after about the timeout, naming the camera without its
    password, instead of waiting for ever (the pipeline then records a ``stalled`` gap)."""
    cam = SimulatedCamera("stall", size=(160, 96), fps=10, username="u", password="pw-stall")
    cam.start()
    try:
        with relay(cam.rtsp_port) as hop:
            url = cam.rtsp_url.replace(
                f"//127.0.0.1:{cam.rtsp_port}", f"//u:pw-stall@127.0.0.1:{hop.port}"
            )
            source = RtspInput(url, timeout=1.0)
            source.open()
            packets, frozen_at = 0, 0.0
            with pytest.raises(Unavailable) as info:
                for _ in source.packets():
                    packets += 1
                    if packets == 10:
                        hop.freeze()
                        frozen_at = time.monotonic()
            waited = time.monotonic() - frozen_at
            source.close()
    finally:
        cam.stop()
    assert packets >= 10 and 0.9 <= waited < 6.0, (packets, waited)
    assert f"u:***@127.0.0.1:{hop.port}" in info.value.message
    assert "pw-stall" not in str(info.value)


def test_bytes_that_do_not_decode_are_data_loss():
    decoder = Decoder(StreamInfo("h264", 64, 48, Fraction(1, 90000), b"", 15.0))
    garbage = b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 2
    with pytest.raises(DataLoss, match="decoding: invalid data"):
        decoder.decode(RawPacket(garbage, 0, 0, True))


def test_decoded_frames_encode_to_jpeg(tmp_path):
    path = tmp_path / "cam.mp4"
    make_video(path, seconds=0.5)
    source = RtspInput(str(path))
    info = source.open()
    decoder, frames = Decoder(info), []
    for packet in source.packets():
        frames.extend(decoder.decode(packet))
        if frames:
            break
    source.close()
    still = JpegEncoder().encode(frames[0])
    assert still.startswith(b"\xff\xd8") and still.endswith(b"\xff\xd9")


def test_salvage_of_a_file_that_is_not_mp4_reports_without_raising(tmp_path):
    source = tmp_path / "cut.mp4"
    source.write_bytes(b"not an mp4 at all " * 64)
    found = salvage_mp4(source, tmp_path / "copy.mp4")
    assert (found.packets, found.complete) == (0, False)
    assert found.problem is not None and "opening cut.mp4: invalid data" in found.problem
    assert not (tmp_path / "copy.mp4").exists()


URL = "rtsp://admin:secret@10.0.0.5/s"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (av.error.InvalidDataError(1094995529, "Invalid data", URL), DataLoss),
        (ValueError(f"bad frame from {URL}"), DataLoss),
        (av.error.ConnectionRefusedError(111, "Connection refused", URL), Unavailable),
        (av.error.HTTPUnauthorizedError(-825242872, "Unauthorized", URL), Unavailable),
        (av.error.ExitError(-1414092869, "Immediate exit requested", URL), Unavailable),
        (TimeoutError(f"timed out reading {URL}"), Unavailable),
        (OSError(28, "No space left on device", URL), Unavailable),
    ],
)
def test_ffmpeg_errors_map_onto_our_kinds_with_the_password_redacted(error, kind):
    """FFmpeg names the URL it failed on, credentials included (#10.11)."""
    out = translate(error, "reading camera 7")
    assert type(out) is kind
    assert out.message.startswith("reading camera 7: ")
    assert "secret" not in out.message and "admin:***@10.0.0.5" in out.message


_DECODE_IN_A_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from fractions import Fraction
    from pathlib import Path
    from tests.h264_claims import lying_packets
    from vms.errors import DataLoss
    from vms.media.codec import Decoder
    from vms.media.stream import StreamInfo
    packets = lying_packets(int(sys.argv[1]), int(sys.argv[2]))
    cap = 2 * 1024**3  # never the machine's memory, whatever the decoder does
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    decoder = Decoder(StreamInfo("h264", 64, 64, Fraction(1, 90000), b"", 5.0), writable=False)
    outcomes = []
    for packet in packets:
        try:
            outcomes.append([[f.width, f.height] for f in decoder.decode(packet)])
        except DataLoss as exc:
            outcomes.append(exc.message)
    status = Path("/proc/self/status").read_text().splitlines()
    peak = int(next(s.split()[1] for s in status if s.startswith("VmHWM:"))) * 1024
    print(json.dumps({"outcomes": outcomes, "peak": peak}))
    """
)


def _decode_in_a_child(width: int, height: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_IN_A_CHILD, str(width), str(height)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    return json.loads(done.stdout)


def test_a_camera_claiming_a_huge_frame_is_refused_before_decoding_it():
    """A 64x64 picture whose SPS claims 16000x16000 (a broken or hostile camera; 1 KiB
    a packet) was decoded as 16000x16000 frames, 1.2 GiB at the peak, then masked and
    encoded at that size. The recorder's decoder refuses a frame over MAX_FRAME_PIXELS
    (8K) before allocating it: DataLoss, which the masked pipeline turns into a blank
    frame of the size it had (INV-5)."""
    result = _decode_in_a_child(16000, 16000)
    assert result["peak"] < 512 * 1024**2, result
    assert result["outcomes"] and not [o for o in result["outcomes"] if isinstance(o, list) and o]
    assert all("decoding" in o for o in result["outcomes"]), result
    # The same stream claiming its own size decodes: the test's stream is sound.
    assert _decode_in_a_child(64, 64)["outcomes"] == [[[64, 64]]] * 3


def test_a_stream_opening_with_a_huge_frame_size_is_refused(tmp_path):
    """The SPS the stream opens with claims 16000x16000: a masked camera would make its
    blank frames and its encoder that size. Not a stream we record (FailedPrecondition
    naming the size), as the ingest probe would refuse its segments."""
    from tests.h264_claims import lying_packets

    path = tmp_path / "cam.h264"
    path.write_bytes(b"".join(p.data for p in lying_packets(16000, 16000)))
    with pytest.raises(FailedPrecondition, match="16000x16000"):
        RtspInput(str(path)).open()
    path.write_bytes(b"".join(p.data for p in lying_packets(64, 64)))
    source = RtspInput(str(path))
    try:
        info = source.open()
        assert (info.width, info.height) == (64, 64)
    finally:
        source.close()
