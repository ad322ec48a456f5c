"""RTP/RTCP packets and SDP for H.264 (RFC 3550, RFC 6184). Pure: no I/O.

An access unit is packetised once per camera into payloads (single NAL unit packets, or
FU-A fragments for NALs above the MTU); each client session then adds its own header
(sequence number, timestamp offset, SSRC), so encoding and packetising stay shared.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct
from dataclasses import dataclass

#: Payload bytes per RTP packet, leaving room for IP/UDP/RTP headers in a 1500-byte MTU.
MAX_PAYLOAD = 1400
PAYLOAD_TYPE = 96
_NTP_EPOCH = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Payload:
    """One RTP payload and whether it ends the access unit (RTP marker bit)."""

    data: bytes
    marker: bool


def packetize_h264(nals: tuple[bytes, ...] | list[bytes], mtu: int = MAX_PAYLOAD) -> list[Payload]:
    """RTP payloads (packetization-mode=1) for one access unit's NAL units."""
    out: list[Payload] = []
    for nal in nals:
        if len(nal) <= mtu:
            out.append(Payload(nal, False))
            continue
        header = nal[0]
        indicator = (header & 0xE0) | 28  # FU-A, keeping F and NRI
        kind = header & 0x1F
        body = nal[1:]
        chunk = mtu - 2
        for offset in range(0, len(body), chunk):
            start = offset == 0
            end = offset + chunk >= len(body)
            fu_header = (0x80 if start else 0) | (0x40 if end else 0) | kind
            out.append(
                Payload(bytes((indicator, fu_header)) + body[offset : offset + chunk], False)
            )
    if out:
        out[-1] = Payload(out[-1].data, True)
    return out


def rtp_packet(payload: Payload, seq: int, timestamp: int, ssrc: int) -> bytes:
    """An RTP packet (version 2, no padding/extension/CSRC)."""
    second = (0x80 if payload.marker else 0) | PAYLOAD_TYPE
    header = struct.pack("!BBHII", 0x80, second, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return header + payload.data


def ntp_timestamp(when: dt.datetime) -> int:
    """64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point) of an aware UTC time."""
    delta = when - _NTP_EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (micros << 32) // 1_000_000


def rtcp_sender_report(
    ssrc: int, ntp: int, rtp_timestamp: int, packets: int, octets: int, cname: str
) -> bytes:
    """A compound RTCP packet: Sender Report (no report blocks) + SDES CNAME."""
    sr = struct.pack(
        "!BBHIIIIII",
        0x80,
        200,
        6,
        ssrc,
        ntp >> 32,
        ntp & 0xFFFFFFFF,
        rtp_timestamp & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )
    name = cname.encode("utf-8")[:255]
    item = bytes((1, len(name))) + name + b"\x00"
    item += b"\x00" * (-(len(item) + 4) % 4)
    chunk = struct.pack("!I", ssrc) + item
    sdes = struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk
    return sr + sdes


def interleaved(channel: int, packet: bytes) -> bytes:
    """An RTSP interleaved frame (RFC 2326 section 10.12): '$', channel, length, data."""
    return struct.pack("!cBH", b"$", channel, len(packet)) + packet


def h264_sdp(
    host: str, session_id: int, sps: bytes, pps: bytes, fps: int, size: tuple[int, int]
) -> str:
    """Session description for one H.264 video track with control URL ``track1``."""
    sprop = ",".join(base64.b64encode(p).decode("ascii") for p in (sps, pps))
    profile_level_id = sps[1:4].hex().upper()
    family = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN {family} {host}",
        "s=VMS simulated PTZ camera",
        f"c=IN {family} {host}",
        "t=0 0",
        "a=control:*",
        "a=range:npt=now-",
        f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
        f"a=rtpmap:{PAYLOAD_TYPE} H264/90000",
        f"a=fmtp:{PAYLOAD_TYPE} packetization-mode=1;profile-level-id={profile_level_id};"
        f"sprop-parameter-sets={sprop}",
        f"a=framerate:{fps}",
        f"a=x-dimensions:{size[0]},{size[1]}",
        "a=control:track1",
    ]
    return "\r\n".join(lines) + "\r\n"
