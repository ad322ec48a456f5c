"""H.264 encoder settings and the JPEG snapshot encoder."""

from __future__ import annotations

import io

import av
import numpy as np

from onvif_control.simulator.encoder import H264Encoder, encode_jpeg, split_annexb


def test_split_annexb():
    data = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x01\x65\x88"
    assert split_annexb(data) == [b"\x67\x42", b"\x68\xce", b"\x65\x88"]


def test_constrained_baseline_with_keyframes_every_second_and_on_request():
    encoder = H264Encoder((160, 96), fps=10, gop_seconds=1.0)
    rng = np.random.default_rng(0)
    keys = []
    for i in range(25):
        frame = rng.integers(0, 255, (144, 160), dtype=np.uint8)
        unit = encoder.encode(frame, i * 9000, keyframe=(i == 13))
        if unit.keyframe:
            keys.append(i)
            kinds = [n[0] & 0x1F for n in unit.nals]
            assert kinds[:2] == [7, 8] and 5 in kinds  # SPS, PPS, then IDR slices
        else:
            assert 5 not in [n[0] & 0x1F for n in unit.nals]
    assert keys == [0, 10, 13, 23]
    sps, _ = encoder.parameter_sets()
    assert sps[1] == 66 and sps[2] & 0x40  # profile_idc baseline, constraint_set1 (constrained)


def test_jpeg_decodes_to_the_image():
    rgb = np.zeros((64, 96, 3), dtype=np.uint8)
    rgb[:, :48] = (255, 0, 255)
    rgb[:, 48:] = (20, 160, 40)
    data = encode_jpeg(rgb)
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(data), mode="r") as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.shape == (64, 96, 3)
    assert np.abs(frame[8:56, 8:40].astype(int) - (255, 0, 255)).max() < 20
