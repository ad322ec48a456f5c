"""RTP packetisation, RTCP sender reports and SDP (pure)."""

from __future__ import annotations

import base64
import datetime as dt
import struct

from onvif_control.simulator.rtp import (
    Payload,
    h264_sdp,
    interleaved,
    ntp_timestamp,
    packetize_h264,
    rtcp_sender_report,
    rtp_packet,
)


def depacketize(payloads: list[Payload]) -> list[bytes]:
    """Reassemble NAL units like a receiver would (RFC 6184)."""
    nals: list[bytes] = []
    current = bytearray()
    for p in payloads:
        kind = p.data[0] & 0x1F
        if kind == 28:
            fu = p.data[1]
            if fu & 0x80:
                current = bytearray([(p.data[0] & 0xE0) | (fu & 0x1F)])
            current += p.data[2:]
            if fu & 0x40:
                nals.append(bytes(current))
        else:
            nals.append(p.data)
    return nals


def test_small_and_fragmented_nals_round_trip():
    nals = [bytes([0x67, 1, 2, 3]), bytes([0x68, 9]), bytes([0x65]) + bytes(range(256)) * 20]
    payloads = packetize_h264(nals, mtu=1000)
    assert all(len(p.data) <= 1000 for p in payloads)
    assert [p.marker for p in payloads] == [False] * (len(payloads) - 1) + [True]
    assert depacketize(payloads) == nals
    first_fu = payloads[2].data
    assert first_fu[0] & 0x1F == 28 and first_fu[0] & 0x60 == 0x60  # NRI kept
    assert first_fu[1] & 0x80 and first_fu[1] & 0x1F == 5


def test_rtp_header_fields():
    packet = rtp_packet(Payload(b"xyz", True), seq=0x1_0005, timestamp=2**32 + 7, ssrc=0xDEADBEEF)
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", packet[:12])
    assert (b0, b1 & 0x80, b1 & 0x7F) == (0x80, 0x80, 96)
    assert (seq, ts, ssrc) == (5, 7, 0xDEADBEEF)
    assert packet[12:] == b"xyz"


def test_sender_report_is_a_valid_compound_packet():
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ntp = ntp_timestamp(when)
    assert ntp >> 32 == int((when - dt.datetime(1900, 1, 1, tzinfo=dt.UTC)).total_seconds())
    data = rtcp_sender_report(0x1234, ntp, 90_000, 10, 1000, "cam@host")
    b0, pt, length, ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack(
        "!BBHIIIIII", data[:28]
    )
    assert (b0 >> 6, pt, length, ssrc) == (2, 200, 6, 0x1234)
    assert ((ntp_hi << 32) | ntp_lo, rtp_ts, packets, octets) == (ntp, 90_000, 10, 1000)
    sdes = data[28:]
    assert sdes[1] == 202 and len(sdes) % 4 == 0
    assert len(sdes) == 4 * (struct.unpack("!H", sdes[2:4])[0] + 1)
    assert b"cam@host" in sdes


def test_interleaved_frame():
    assert interleaved(1, b"ab") == b"$\x01\x00\x02ab"


def test_sdp_names_profile_and_parameter_sets():
    sps, pps = bytes([0x67, 0x42, 0xC0, 0x1F, 0xAA]), bytes([0x68, 0xCE])
    sdp = h264_sdp("127.0.0.1", 42, sps, pps, 15, (320, 180))
    assert "m=video 0 RTP/AVP 96" in sdp
    assert "a=rtpmap:96 H264/90000" in sdp
    assert "profile-level-id=42C01F" in sdp
    sprop = sdp.split("sprop-parameter-sets=")[1].split("\r\n")[0]
    assert [base64.b64decode(s) for s in sprop.split(",")] == [sps, pps]
    assert sdp.endswith("\r\n") and "a=control:track1" in sdp
