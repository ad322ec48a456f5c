"""The capture clock burned into the simulator's pictures (onvif_control/simulator/
timecode.py) reads back after H.264 encoding and decoding, at the sizes the tests and the
latency benchmark use; a damaged band reads as nothing, not as a wrong time."""

from __future__ import annotations

import av
import numpy as np
import pytest

from onvif_control.simulator import timecode
from onvif_control.simulator.encoder import H264Encoder


def _decode_all(units: list[bytes]) -> list[np.ndarray]:
    codec = av.CodecContext.create("h264", "r")
    frames = []
    for data in units:
        for packet in codec.parse(data):
            frames.extend(f.to_ndarray(format="gray") for f in codec.decode(packet))
    for packet in codec.parse(b""):
        frames.extend(f.to_ndarray(format="gray") for f in codec.decode(packet))
    return frames


@pytest.mark.parametrize("size", [(320, 180), (1280, 720)])
def test_the_burned_time_survives_h264(size: tuple[int, int]) -> None:
    width, height = size
    encoder = H264Encoder(size, fps=15)
    rng = np.random.default_rng(1)
    base = 1_796_000_000_123  # ms since the epoch, above 2**32: the modulo is exercised
    times = [base + 67 * i + int(rng.integers(0, 60)) for i in range(12)]
    units = []
    for i, millis in enumerate(times):
        # A busy picture (noise) under the band: the encoder has something to spend bits on.
        frame = rng.integers(0, 255, (height * 3 // 2, width), dtype=np.uint8)
        timecode.burn(frame, width, height, millis)
        unit = encoder.encode(frame, i * 6000)
        units.append(b"".join(b"\x00\x00\x00\x01" + nal for nal in unit.nals))
    decoded = [timecode.read(luma) for luma in _decode_all(units)]
    assert decoded == [t % timecode.MODULUS for t in times]
    assert timecode.latency_ms(decoded[0], times[0] + 250) == 250


def test_a_damaged_band_reads_as_nothing() -> None:
    width, height = 320, 180
    frame = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    timecode.burn(frame, width, height, 123_456_789)
    luma = frame[:height].copy()
    assert timecode.read(luma) == 123_456_789
    block = width // timecode.BITS
    luma[:, 5 * block : 6 * block] = 255 - luma[:, 5 * block : 6 * block]  # one bit flipped
    assert timecode.read(luma) is None
    assert timecode.read(np.full((height, width), 128, dtype=np.uint8)) is None
