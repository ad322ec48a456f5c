"""H.264 streams that lie about their size: a tiny picture whose sequence parameter set
(SPS) claims another frame size, as a broken or hostile camera may send (a 1 KiB packet
claiming 16000 x 16000). Generated at test time with libx264, the SPS rewritten bit by
bit (ITU-T H.264 7.3.2.1.1; baseline profile only, which our encoder makes)."""

from __future__ import annotations

import re

import av

from vms.media.codec import Encoder
from vms.media.stream import RawPacket


def _unescape(data: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in data:
        if zeros >= 2 and byte == 3:  # an emulation prevention byte
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _escape(data: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in data:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.out = data, 0, []  # type: list[int]

    def read(self, n: int = 1) -> int:
        value = 0
        for _ in range(n):
            value = value * 2 + ((self.data[self.pos // 8] >> (7 - self.pos % 8)) & 1)
            self.pos += 1
        return value

    def read_ue(self) -> int:
        zeros = 0
        while self.read() == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.read(zeros)

    def write(self, value: int, n: int = 1) -> None:
        self.out += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def write_ue(self, value: int) -> None:
        value += 1
        self.write(0, value.bit_length() - 1)
        self.write(value, value.bit_length())

    def copy(self, n: int = 1) -> int:
        value = self.read(n)
        self.write(value, n)
        return value

    def copy_ue(self) -> int:
        value = self.read_ue()
        self.write_ue(value)
        return value

    def written(self) -> bytes:
        bits = "".join(map(str, self.out))
        return bytes(int(bits[i : i + 8].ljust(8, "0"), 2) for i in range(0, len(bits), 8))


def claiming_sps(nal: bytes, width: int, height: int) -> bytes:
    """A baseline SPS NAL unit ``nal`` rewritten to claim ``width`` x ``height`` (each a
    multiple of 16), without cropping."""
    bits = _Bits(_unescape(nal[1:]))
    profile = bits.copy(8)
    assert profile in (66, 77, 88), f"profile {profile} is not one this rewrites"
    bits.copy(16)  # constraint flags, level
    bits.copy_ue()  # seq_parameter_set_id
    bits.copy_ue()  # log2_max_frame_num_minus4
    poc_type = bits.copy_ue()
    assert poc_type in (0, 2), f"pic_order_cnt_type {poc_type}"
    if poc_type == 0:
        bits.copy_ue()
    bits.copy_ue()  # max_num_ref_frames
    bits.copy()  # gaps_in_frame_num_value_allowed_flag
    bits.read_ue(), bits.read_ue()
    bits.write_ue(width // 16 - 1)
    bits.write_ue(height // 16 - 1)
    if not bits.copy():  # frame_mbs_only_flag
        bits.copy()
    bits.copy()  # direct_8x8_inference_flag
    if bits.read():  # frame_cropping_flag: dropped
        for _ in range(4):
            bits.read_ue()
    bits.write(0)
    while bits.pos < len(bits.data) * 8:  # VUI and the trailing bits, as they were
        bits.copy()
    return nal[:1] + _escape(bits.written())


def _nal_units(data: bytes) -> list[bytes]:
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    ends = [s - 3 for s in starts[1:]] + [len(data)]
    return [data[s:e].rstrip(b"\x00") if e < len(data) else data[s:e] for s, e in zip(starts, ends)]


def lying_packets(width: int, height: int, frames: int = 3) -> list[RawPacket]:
    """``frames`` packets of a 64x64 Annex B stream (the first a keyframe, every one with
    its SPS) whose SPS claims ``width`` x ``height``."""
    encoder = Encoder(64, 64, 5.0, 1)
    out = []
    for i in range(frames):
        for packet in encoder.encode(av.VideoFrame(64, 64, "yuv420p"), i * 18000):
            units = [
                claiming_sps(n, width, height) if n and n[0] & 0x1F == 7 else n
                for n in _nal_units(packet.data)
            ]
            data = b"".join(b"\x00\x00\x00\x01" + n for n in units)
            out.append(RawPacket(data, packet.pts, packet.dts, packet.keyframe))
    return out
