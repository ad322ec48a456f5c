"""The floor of masked recording in Python on PyAV: the least Python the work needs.

A contender for ``bench_recorder.py --floor`` (issue 12, item 5): read one camera's RTSP
stream, decode, fill a box (the same box ffmpeg's ``drawbox`` fills, on the decoder's
own picture, put back after the encode as the mask stage does), encode with the mask
encoder's libx264 settings and mux 10 s fragmented MP4 segments, in one plain loop:
no mask planning, no pose, no fan-out, no catalogue, no capture clock. What our recorder
costs above this is the price of its own work and structure; what this costs above
ffmpeg is the price of driving the same libraries from Python through PyAV. So it talks
to PyAV directly, not through our media adapter (``vms.media``); it borrows only the
adapter's libx264 settings and MP4 segment options, so that both encode and mux alike.

    python bench/pyav_floor.py URL OUTDIR X Y W H [SEGMENT_SECONDS]

Runs until terminated (SIGTERM), then closes the open segment.
"""

from __future__ import annotations

import io
import signal
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vms.media.codec import Encoder
from vms.media.mp4 import _SEGMENT_OPTIONS


def main() -> int:
    url, out = sys.argv[1], Path(sys.argv[2])
    x, y, w, h = (int(v) for v in sys.argv[3:7])
    segment_seconds = float(sys.argv[7]) if len(sys.argv) > 7 else 10.0
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    container = av.open(
        url,
        options={"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32768"},
        timeout=(5.0, None),
    )
    stream = container.streams.video[0]
    decoder = av.CodecContext.create("h264", "r")
    if stream.codec_context.extradata:
        decoder.extradata = stream.codec_context.extradata
    decoder.thread_count = 1
    rate = float(stream.average_rate or stream.guessed_rate or 15)
    encoder = Encoder(1280, 720, rate, 15)._ctx  # the mask encoder's settings
    tick = Fraction(1, 90000)
    segment: av.container.OutputContainer | None = None
    seg_stream = None
    seg_start = 0
    seg_count = 0
    frame_no = 0
    # The box in each plane: luma, then the two half-resolution chroma planes.
    luma_box = (y, y + h, x, x + w)
    chroma_box = (y // 2, (y + h) // 2, x // 2, (x + w) // 2)
    boxes = (luma_box, chroma_box, chroma_box)
    for packet in container.demux(stream):
        if stopping:
            break
        if packet.size == 0:
            continue
        for frame in decoder.decode(packet):
            ly, u, v = (
                np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[r0:r1, c0:c1]
                for plane, (r0, r1, c0, c1) in zip(frame.planes, boxes, strict=True)
            )
            saved = (ly.copy(), u.copy(), v.copy())
            ly[:] = 16
            u[:] = 128
            v[:] = 128
            frame.pts = frame_no * 6000
            frame.time_base = tick
            frame_no += 1
            for encoded in encoder.encode(frame):
                key = encoded.is_keyframe
                if key and (segment is None or encoded.pts - seg_start >= segment_seconds * 90000):
                    if segment is not None:
                        segment.close()
                    segment = av.open(
                        str(out / f"seg{seg_count:05d}.mp4"), "w", format="mp4",
                        options=_SEGMENT_OPTIONS,
                    )  # fmt: skip
                    # The stream's parameters from the keyframe (SPS/PPS in band), as
                    # the segment writer takes them (vms/media/mp4.py).
                    probe = av.open(io.BytesIO(bytes(encoded)), format="h264")
                    seg_stream = segment.add_stream_from_template(probe.streams.video[0])
                    seg_stream.time_base = tick
                    probe.close()
                    seg_start, seg_count = encoded.pts, seg_count + 1
                if segment is None:
                    continue
                encoded.pts -= seg_start
                encoded.dts -= seg_start
                encoded.stream = seg_stream
                segment.mux(encoded)
            ly[:], u[:], v[:] = saved
    if segment is not None:
        segment.close()
    container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
