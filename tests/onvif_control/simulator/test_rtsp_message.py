"""RTSP request parsing and Transport negotiation (pure)."""

from __future__ import annotations

import pytest

from onvif_control.simulator.rtsp_message import (
    RtspError,
    choose_transport,
    content_length,
    parse_request_head,
    response,
)


def test_parse_request():
    req = parse_request_head(
        b"PLAY rtsp://h:1/stream1/ RTSP/1.0\r\nCSeq: 4\r\nSession: ab12;timeout=60"
    )
    assert (req.method, req.path, req.cseq, req.session_id) == ("PLAY", "/stream1", "4", "ab12")


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"garbage", 400),
        (b"PLAY rtsp://h/x RTSP/1.0\r\nSession: 1", 400),  # no CSeq
        (b"PLAY rtsp://h/x RTSP/2.0\r\nCSeq: 1", 505),
        (b"PLAY http://h/x RTSP/1.0\r\nCSeq: 1", 400),
        (b"PLAY rtsp://h/x RTSP/1.0\r\nCSeq: 1\r\nbad header", 400),
        (b"\xff\xfe RTSP/1.0", 400),
    ],
)
def test_bad_requests(head, status):
    with pytest.raises(RtspError) as info:
        parse_request_head(head)
    assert info.value.status == status


def test_content_length_limits():
    req = parse_request_head(
        b"GET_PARAMETER rtsp://h/x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 999999"
    )
    with pytest.raises(RtspError) as info:
        content_length(req)
    assert info.value.status == 413 and info.value.close


def test_transport_choice():
    tcp = choose_transport("RTP/AVP/TCP;unicast;interleaved=2-3")
    assert tcp.tcp and tcp.channels == (2, 3)
    udp = choose_transport("RTP/AVP;multicast,RTP/AVP;unicast;client_port=5000-5001")
    assert not udp.tcp and udp.client_ports == (5000, 5001)
    assert choose_transport("RTP/AVP/UDP;unicast;client_port=6000").client_ports == (6000, 6001)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 461),
        ("RAW/RAW/UDP;unicast", 461),
        ("RTP/AVP;multicast", 461),
        ("RTP/AVP/TCP;interleaved=x-y", 400),
        ("RTP/AVP/TCP;interleaved=300-301", 400),
        ("RTP/AVP;unicast;client_port=0-1", 400),
    ],
)
def test_bad_transports(header, status):
    with pytest.raises(RtspError) as info:
        choose_transport(header)
    assert info.value.status == status


def test_response_format():
    data = response(454, "7", {"Session": "x"}, b"body")
    assert data.startswith(b"RTSP/1.0 454 Session Not Found\r\nCSeq: 7\r\n")
    assert data.endswith(b"Content-Length: 4\r\n\r\nbody")
